"""The Milvus backend: an index served by Milvus (Milvus Lite in a file, or a server).

Locations: ``milvus:PATH.db`` (Milvus Lite, embedded, for one machine) or
``milvus://HOST:PORT[/NAME]`` (a Milvus standalone or cluster); ``NAME``
(default ``corpus``) is the index's name there.

One generation is a collection, ``NAME__g<time>_<random>`` (and its ``_meta``
companion, below); the one row
of the collection ``NAME__current`` names the published one (and on a server
the alias ``NAME`` follows it; Milvus Lite implements no aliases), so a build
publishes with one upsert, atomic for readers, and a killed build leaves a
collection nothing names, which the next build drops. A collection's rows are of three
kinds (pieces in the first, the rest in ``_meta``):

* ``piece``: a window of a paragraph with its embedding (``dense``), its
  paragraph's number and offsets; the first piece of a paragraph (its head)
  also holds the paragraph's text in ``body`` and its article's title in ``title``,
  from which Milvus's own BM25 function (English analyzer) makes the sparse vectors
  the keyword side searches (both searched, the scores summed with the title's weighed
  0.3, as the folder backend's BM25F weighs its title field);
* ``article``: an article's id and content hash (what incremental builds compare);
* ``term``: how many paragraphs hold an analysed term (``owner``: the term, ``seq``: the
  count), for the answerer's term weights;
* ``chunk``: pieces of longer texts kept whole (an article's text, its record,
  the manifest), 16,000 characters each, as Milvus caps a string at 64 KB.

Fusion stays in :mod:`qa.fusion`, so rankings compare across backends; the
analyzer differs from Whoosh's (see the README).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import os
import re
import secrets
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from .backend import Admitted, Backend, Draft, ParsedQuery, Reader, build_lock
from .documents import Article, Paragraph
from .embed import Embedder, load_query_embedder
from .errors import CorpusError, IndexCorruptError, IndexNotFoundError
from .filters import Where
from .keyword import TITLE_BOOST
from .store import ParagraphRecord

MILVUS_BACKEND = "milvus"
PREFIX = "milvus:"
DEFAULT_NAME = "corpus"
#: The collection ``NAME__current`` names the published generation.
POINTER = "__current"
#: A generation's articles, texts, term counts and manifest live in ``<generation>_meta``, so
#: that the BM25 statistics (documents, average length) of the pieces' collection count paragraphs only.
META = "_meta"
CHUNK_CHARS = 16_000
#: The server-side index of the dense vectors, chosen by ``$CORPUS_MILVUS_INDEX`` when a
#: generation is written (Milvus Lite takes FLAT, IVF_FLAT or AUTOINDEX; a server more).
DENSE_INDEXES = {
    "FLAT": {"index_type": "FLAT", "metric_type": "IP", "params": {}},
    "IVF_FLAT": {"index_type": "IVF_FLAT", "metric_type": "IP", "params": {"nlist": 1024}},
    "AUTOINDEX": {"index_type": "AUTOINDEX", "metric_type": "IP", "params": {}},
    "HNSW": {"index_type": "HNSW", "metric_type": "IP", "params": {"M": 16, "efConstruction": 200}},
}


#: How widely an approximate index searches (IVF lists probed, HNSW candidates kept).
_SEARCH_PARAMS = {"IVF_FLAT": {"nprobe": 64}, "HNSW": {"ef": 128}}


def dense_index() -> dict[str, Any]:
    name = os.environ.get("CORPUS_MILVUS_INDEX", "FLAT").upper()
    if name not in DENSE_INDEXES:
        raise CorpusError(f"CORPUS_MILVUS_INDEX={name!r} is not one of {', '.join(DENSE_INDEXES)}")
    return DENSE_INDEXES[name]
#: BM25 as the folder backend scores it (Lucene's defaults).
BM25_PARAMS = {"bm25_k1": 1.2, "bm25_b": 0.75}
ANALYZER = {"type": "english"}
#: Rows fetched per query when copying or reading many.
BATCH = 1000
KEEP_OLD_GENERATIONS = 1
_FIELDS = ["key", "kind", "pid", "head", "article", "number", "part", "start", "end", "pstart", "pend", "ekey", "owner", "seq", "content", "body", "title"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,150}$")


def is_milvus(location: str | Any) -> bool:
    return isinstance(location, str) and location.startswith(PREFIX)


def parse_location(location: str) -> tuple[str, str]:
    """``(uri for MilvusClient, index name)`` of a ``milvus:`` location."""
    rest = location[len(PREFIX) :]
    if rest.startswith("//"):
        hostport, _, name = rest[2:].partition("/")
        if not hostport:
            raise CorpusError(f"{location}: name the server, as milvus://HOST:PORT[/NAME]")
        uri = f"http://{hostport}"
    else:
        if not rest:
            raise CorpusError(f"{location}: name the file, as milvus:PATH.db")
        path = Path(rest).expanduser()
        if path.suffix != ".db":
            raise CorpusError(f"{location}: a Milvus Lite file ends in .db")
        uri, name = str(path.resolve()), ""
    name = name or DEFAULT_NAME
    if not _NAME.match(name):
        raise CorpusError(f"{location}: {name!r} is not a Milvus name (letters, digits and underscores)")
    return uri, name


def _client(uri: str, *, create: bool = False):
    """A client of the Milvus at ``uri``; a Milvus Lite file is made only when ``create`` (a
    build): reading one that does not exist is an error that leaves nothing behind."""
    try:
        with warnings.catch_warnings():  # Milvus Lite 2.5 imports pkg_resources, which warns on import
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            from pymilvus import MilvusClient

            if not uri.startswith("http"):  # a .db file needs Milvus Lite, not only the client
                importlib.import_module("milvus_lite")
    except ImportError as exc:
        raise CorpusError("a Milvus index needs the milvus extra: pip install 'corpus-qa[milvus]'") from exc
    # pymilvus logs at WARNING what it recovers from itself (an iterator's timestamp, say)
    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    if not uri.startswith("http") and not create and not Path(uri).is_file():
        raise IndexNotFoundError(f"no Milvus Lite file at {uri}; create one with `corpus build SOURCES --index milvus:{uri}`")
    if not uri.startswith("http"):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        return MilvusClient(uri)
    except Exception as exc:  # pymilvus raises its own types for every connection failure
        raise CorpusError(f"cannot reach Milvus at {uri}: {exc}") from exc


def _chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _in(field: str, values: Iterable) -> str:
    return f"{field} in [{', '.join(_quote(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


def _blank(dim: int) -> dict[str, Any]:
    return {"kind": "", "pid": 0, "head": 0, "article": "", "number": 0, "part": 0, "start": 0, "end": 0, "pstart": 0, "pend": 0,
            "ekey": "", "owner": "", "seq": 0, "content": "", "body": "", "title": "", "dense": [0.0] * dim}


class _Collection:
    """One generation's collection, with what reading and writing it share."""

    def __init__(self, client, name: str) -> None:
        self.client = client
        self.name = name

    def query(self, filter: str, fields: Sequence[str], limit: int | None = None) -> list[dict]:
        kwargs = {"limit": limit} if limit is not None else {}
        return self.client.query(self.name, filter=filter, output_fields=list(fields), **kwargs)

    def rows(self, filter: str, fields: Sequence[str]) -> Iterator[dict]:
        it = self.client.query_iterator(self.name, batch_size=BATCH, filter=filter, output_fields=list(fields))
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    def count(self, filter: str) -> int:
        return int(self.query(filter, ["count(*)"])[0]["count(*)"])

    def text(self, owner: str) -> str | None:
        rows = self.query(f"kind == \"chunk\" and owner == {_quote(owner)}", ["seq", "content"])
        if not rows:
            return None
        return "".join(r["content"] for r in sorted(rows, key=lambda r: r["seq"]))

    def articles(self, ids: Iterable[str]) -> dict[str, dict]:
        """Each article's record (title, source, url, date, meta) and text."""
        ids = sorted(set(ids))
        out: dict[str, dict] = {}
        for lo in range(0, len(ids), 100):
            owners = [f"a:{i}" for i in ids[lo : lo + 100]] + [f"t:{i}" for i in ids[lo : lo + 100]]
            rows = self.query(f"kind == \"chunk\" and {_in('owner', owners)}", ["owner", "seq", "content"])
            parts: dict[str, list] = {}
            for r in rows:
                parts.setdefault(r["owner"], []).append((r["seq"], r["content"]))
            for article_id in ids[lo : lo + 100]:
                record, text = parts.get(f"a:{article_id}"), parts.get(f"t:{article_id}")
                if record is None or text is None:
                    continue
                out[article_id] = {**json.loads("".join(c for _, c in sorted(record))), "text": "".join(c for _, c in sorted(text))}
        return out


class MilvusReader(Reader):
    """The published generation of a Milvus index."""

    def __init__(self, location: str, client, name: str, collection: str, manifest: dict[str, Any], model_path: str | None) -> None:
        self.location = location
        self.generation = collection
        self.manifest = manifest
        self._client = client
        self._name = name
        self._col = _Collection(client, collection)
        self._meta = _Collection(client, collection + META)
        self._model_path = model_path
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        from .keyword import make_analyzer  # the same analysis the answerer's features were fitted with

        self._analyzer = make_analyzer()
        self._df: dict[str, int] = {}
        self._facets: list[tuple[str, str, str | None, dict]] | None = None

    @classmethod
    def open(cls, location: str, *, model=None) -> MilvusReader:
        from .index import read_manifest_data, resolve_model_path

        uri, name = parse_location(location)
        client = _client(uri)
        collection = _published(client, name)
        if collection is None:
            raise IndexNotFoundError(f"no index at {location}; create one with `corpus build SOURCES --index {location}`")
        text = _Collection(client, collection + META).text("m")
        if text is None:
            raise IndexCorruptError(f"the index at {location} has no manifest")
        manifest = read_manifest_data(text, f"{location} ({collection})")
        if manifest.get("backend") != MILVUS_BACKEND:
            raise IndexCorruptError(f"the index at {location} is a {manifest.get('backend')!r} index, not a Milvus one")
        reader = cls(location, client, name, collection, manifest, resolve_model_path(manifest, model))
        counts = manifest["counts"]
        if reader._col.count('kind == "piece"') != counts["pieces"]:
            raise IndexCorruptError(f"the index at {location} holds another number of pieces than its manifest says; rebuild it")
        return reader

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_query_embedder(self._model_path)
        return self._embedder

    def parse(self, text: str) -> ParsedQuery:
        # Milvus's BM25 reads plain words: query syntax is read as words too
        words = " ".join(re.findall(r"\w+", text))
        terms = frozenset(t.text for t in self._analyzer(words, mode="query"))
        return ParsedQuery(terms, words) if terms else ParsedQuery(frozenset())

    def admit(self, where: Where) -> Admitted:
        articles, undated = where.select(self._article_facets())
        return Admitted(articles, undated, f" and {_in('article', sorted(articles))}")

    def article_list(self) -> list[str]:
        return [row[0] for row in self._article_facets()]

    def _article_facets(self) -> list[tuple[str, str, str | None, dict]]:
        facets = self._facets
        if facets is None:
            records: dict[str, list] = {}
            for r in self._meta.rows('kind == "chunk" and owner like "a:%"', ["owner", "seq", "content"]):
                records.setdefault(r["owner"][2:], []).append((r["seq"], r["content"]))
            facets = []
            for article_id, parts in sorted(records.items()):
                record = json.loads("".join(c for _, c in sorted(parts)))
                facets.append((article_id, record.get("source", ""), record.get("date"), record.get("meta") or {}))
            self._facets = facets  # a published generation never changes
        return facets

    def keyword_search(self, parsed: ParsedQuery, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        if parsed.empty or limit <= 0 or (admitted is not None and not admitted.articles):
            return []
        only = admitted.plan if admitted is not None else ""
        # BM25F as the folder backend scores it: the body's BM25 plus the title's weighed
        # TITLE_BOOST (summed here: Milvus's weighted ranker normalises the scores first)
        limit = min(limit, 16_384)
        scores: dict[int, float] = {}
        for field, weight in (("sparse", 1.0), ("title_sparse", TITLE_BOOST)):
            found = self._client.search(
                self._col.name, data=[parsed.plan], anns_field=field, limit=limit,
                filter='kind == "piece" and part == 0' + only, output_fields=["pid"], search_params={"metric_type": "BM25"},
            )[0]
            for h in found:
                pid = int(h["entity"]["pid"])
                scores[pid] = scores.get(pid, 0.0) + weight * float(h["distance"])
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]

    def vector_search(self, vector: np.ndarray, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        if limit <= 0 or (admitted is not None and not admitted.articles):
            return []
        found = self._client.search(
            self._col.name, data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="dense", limit=min(limit, 16_384),
            filter='kind == "piece"' + (admitted.plan if admitted is not None else ""), output_fields=["head"], search_params={"metric_type": "IP", "params": _SEARCH_PARAMS.get(self.manifest["vector"].get("index_type"), {})},
        )[0]
        best: dict[int, float] = {}
        for h in found:
            best.setdefault(int(h["entity"]["head"]), float(h["distance"]))
        return list(best.items())

    def paragraphs(self, ids: Sequence[int]) -> dict[int, ParagraphRecord]:
        if not ids:
            return {}
        rows = self._col.query(f'kind == "piece" and part == 0 and {_in("pid", ids)}', ["pid", "article", "number", "pstart", "pend"])
        return self._records(rows)

    def article_ids(self, ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        ids = list(ids)
        for lo in range(0, len(ids), BATCH):
            for r in self._col.query(f'kind == "piece" and part == 0 and {_in("pid", ids[lo : lo + BATCH])}', ["pid", "article"]):
                out[int(r["pid"])] = r["article"]
        return out

    def _records(self, rows: list[dict]) -> dict[int, ParagraphRecord]:
        articles = self._meta.articles(r["article"] for r in rows)
        out = {}
        for r in rows:
            a = articles.get(r["article"])
            if a is None:
                continue
            out[int(r["pid"])] = ParagraphRecord(
                int(r["pid"]), r["article"], int(r["number"]), int(r["pstart"]), int(r["pend"]),
                a["text"][r["pstart"] : r["pend"]], a["title"], a["source"], a.get("url"), a.get("date"),
            )
        return out

    def article(self, article_id: str) -> Article | None:
        a = self._meta.articles([article_id]).get(article_id)
        if a is None:
            return None
        return Article(article_id, a["title"], a["text"], a["source"], a.get("date"), a.get("url"), meta=a.get("meta") or {})

    def article_paragraphs(self, article_id: str) -> list[ParagraphRecord]:
        rows = self._col.query(f'kind == "piece" and part == 0 and article == {_quote(article_id)}', ["pid", "article", "number", "pstart", "pend"])
        return sorted(self._records(rows).values(), key=lambda r: r.number)

    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])

    def size_bytes(self) -> int:
        uri, _ = parse_location(self.location)
        return Path(uri).stat().st_size if not uri.startswith("http") and Path(uri).is_file() else 0

    def stems(self, text: str) -> set[str]:
        return {t.text for t in self._analyzer(text, mode="query")}

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Lucene's idf from the document frequencies the build recorded (``term`` rows:
        Milvus Lite answers no text-match counts)."""
        n = self.manifest["counts"]["paragraphs"]
        wanted = [t for t in dict.fromkeys(terms) if t not in self._df]
        if wanted:
            found = {r["owner"]: int(r["seq"]) for r in self._meta.query(f'kind == "term" and {_in("owner", wanted)}', ["owner", "seq"])}
            with self._lock:
                if len(self._df) > 100_000:
                    self._df.clear()
                self._df.update({t: found.get(t, 0) for t in wanted})
        return {t: math.log(1 + (n - self._df.get(t, 0) + 0.5) / (self._df.get(t, 0) + 0.5)) for t in terms}

    def highlight_spans(self, text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
        if not terms:
            return []
        return [(t.startchar, t.endchar) for t in self._analyzer(text, chars=True, mode="query") if t.text in terms]

    def published(self) -> str | None:
        try:
            return _published(self._client, self._name)
        except Exception:  # a server that cannot answer now: keep what we have
            return None

    def close(self) -> None:
        pass  # the client is shared by the process (pymilvus keeps one connection per uri)


def _published(client, name: str) -> str | None:
    """The published generation's collection: named in the one row of ``NAME__current``
    (Milvus Lite implements no aliases; a server's alias ``NAME`` follows it)."""
    pointer = f"{name}{POINTER}"
    try:
        if not client.has_collection(pointer):
            return None
        rows = client.query(pointer, filter='key == "current"', output_fields=["content"])
    except Exception as exc:  # pymilvus raises its own types for every failure
        raise IndexCorruptError(f"cannot read which generation of {name!r} is published: {exc}") from exc
    return rows[0]["content"] if rows else None


def _point(client, name: str, collection: str, *, alias: bool) -> None:
    """Publish ``collection``: one upsert of the pointer row, atomic for readers."""
    from pymilvus import DataType

    pointer = f"{name}{POINTER}"
    if not client.has_collection(pointer):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("content", DataType.VARCHAR, max_length=1024)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
        index = client.prepare_index_params()
        index.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
        client.create_collection(pointer, schema=schema, index_params=index)
    client.upsert(pointer, [{"key": "current", "content": collection, "dense": [0.0, 0.0]}])
    client.flush(pointer)
    if alias:  # a server also switches the alias, for other tools that read the index by its name
        try:
            client.alter_alias(collection, name)
        except Exception:  # pymilvus raises its own types: the alias does not exist yet
            client.create_alias(collection, name)


class MilvusBackend(Backend):
    def __init__(self, location: str) -> None:
        self.location = location
        self.uri, self.name = parse_location(location)
        self.client = _client(self.uri, create=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        # one build at a time per index: a file lock beside a Lite file; a server trusts its operator
        if self.uri.startswith("http"):
            yield
            return
        with build_lock(Path(self.uri + ".build.lock"), self.location):
            yield

    def _generations(self) -> list[str]:
        prefix = f"{self.name}__g"
        return sorted(c for c in self.client.list_collections() if c.startswith(prefix))

    def draft(self, *, rebuild: bool) -> MilvusDraft:
        published = _published(self.client, self.name)
        for c in self._generations():  # what killed builds left behind: collections no alias names
            if c.removesuffix(META) != published and c.removesuffix(META) not in self._kept():
                self.client.drop_collection(c)
        draft = MilvusDraft(self, None if rebuild else published)
        if rebuild and published:
            from .index import read_manifest_data

            try:  # a rebuild also mends a damaged index: its settings are kept only when readable
                draft.published_manifest = read_manifest_data(_Collection(self.client, published + META).text("m") or "", published)
            except Exception:  # noqa: BLE001 — a CorpusError, or pymilvus's own types
                pass
        analyzer = (draft.base_manifest or {}).get("keyword", {}).get("analyzer")
        if analyzer is not None and analyzer != f"milvus {json.dumps(ANALYZER)}":
            raise IndexCorruptError("the index was built with another analyzer; rebuild it with `corpus build --rebuild`")
        return draft

    def _kept(self) -> set[str]:
        try:
            return set(json.loads(_Collection(self.client, _published(self.client, self.name) + META).text("m") or "{}").get("previous", []))
        except Exception:
            return set()

    def prune(self) -> None:
        published = _published(self.client, self.name)
        keep = {published} | self._kept()
        for c in self._generations():
            if c.removesuffix(META) not in keep:
                self.client.drop_collection(c)


class MilvusDraft(Draft):
    def __init__(self, backend: MilvusBackend, base: str | None) -> None:
        from .index import read_manifest_data

        self.backend = backend
        self.client = backend.client
        self.base = _Collection(self.client, base) if base else None
        self.base_meta = _Collection(self.client, base + META) if base else None
        self.base_generation = base
        self.base_manifest = read_manifest_data(self.base_meta.text("m") or "", base) if base else None
        self.published_manifest = self.base_manifest
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        self.name = f"{backend.name}__g{stamp}_{secrets.token_hex(3)}"
        self.col: _Collection | None = None
        self.meta: _Collection | None = None
        self._dense = dense_index()
        self._dim: int | None = None
        self._pending: dict[int, dict] = {}  # piece rows waiting for their vectors
        self._removed_bodies: list[str] = []
        self._heads: list[str] = []
        self._next_pid = 1

    # -- what the build reads first ---------------------------------------------------
    def article_hashes(self) -> dict[str, str]:
        if self.base is None:
            return {}
        return {r["article"]: r["ekey"] for r in self.base_meta.rows('kind == "article"', ["article", "ekey"])}

    def carry_file(self, name: str) -> Path:
        raise CorpusError("the Milvus backend stores no files: build it with the default (torch) encoder")

    # -- writing -----------------------------------------------------------------------
    def open(self) -> None:
        dim = (self.base_manifest or {}).get("model", {}).get("dim")
        if dim is not None:
            self._create(int(dim))
            self._copy_base()

    def _create(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        self._dim = dim
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=8192)
        schema.add_field("kind", DataType.VARCHAR, max_length=16)
        for field in ("pid", "head", "number", "part", "start", "end", "pstart", "pend", "seq"):
            schema.add_field(field, DataType.INT64)
        schema.add_field("article", DataType.VARCHAR, max_length=8192)
        schema.add_field("ekey", DataType.VARCHAR, max_length=64)
        schema.add_field("owner", DataType.VARCHAR, max_length=8192)
        schema.add_field("content", DataType.VARCHAR, max_length=65535)
        schema.add_field("body", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=ANALYZER)
        schema.add_field("title", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=ANALYZER)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("title_sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["body"], output_field_names=["sparse"]))
        schema.add_function(Function(name="bm25_title", function_type=FunctionType.BM25, input_field_names=["title"], output_field_names=["title_sparse"]))
        index = self.client.prepare_index_params()
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
        index.add_index(field_name="title_sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
        index.add_index(field_name="dense", **self._dense)
        self.client.create_collection(self.name, schema=schema, index_params=index)
        self.client.create_collection(self.name + META, schema=schema, index_params=index)
        self.col = _Collection(self.client, self.name)
        self.meta = _Collection(self.client, self.name + META)

    def _copy_base(self) -> None:
        for source, target, where in ((self.base, self.col, 'kind == "piece"'), (self.base_meta, self.meta, 'kind != "chunk" or owner != "m"')):
            batch = []
            for row in source.rows(where, [*_FIELDS, "dense"]):
                batch.append({k: row[k] for k in [*_FIELDS, "dense"]})
                self._next_pid = max(self._next_pid, int(row["pid"]) + 1)
                if len(batch) == BATCH:
                    self.client.insert(target.name, batch)
                    batch = []
            if batch:
                self.client.insert(target.name, batch)

    def reusable_vectors(self, keys: Sequence[str]) -> tuple[list[int], np.ndarray | None]:
        if self.col is None:
            return [], None
        found: dict[str, list[float]] = {}
        unique = sorted(set(keys))
        for lo in range(0, len(unique), BATCH):
            for r in self.col.query(f'kind == "piece" and {_in("ekey", unique[lo : lo + BATCH])}', ["ekey", "dense"]):
                found[r["ekey"]] = r["dense"]
        have = [i for i, k in enumerate(keys) if k in found]
        if not have:
            return [], None
        return have, np.array([found[keys[i]] for i in have], dtype=np.float32)

    def replace_articles(self, removed: Sequence[str], added: Sequence[tuple[Article, Sequence[Paragraph], Sequence[str]]]) -> tuple[list[int], list[int]]:
        from .split import paragraph_extents

        dropped: list[int] = []
        self._removed_bodies: list[str] = []  # their paragraphs leave the document frequencies
        if self.col is not None and removed:
            for lo in range(0, len(removed), BATCH):
                ids = list(removed[lo : lo + BATCH])
                for r in self.col.rows(f'kind == "piece" and {_in("article", ids)}', ["pid", "part", "body"]):
                    dropped.append(int(r["pid"]))
                    if r["part"] == 0:
                        self._removed_bodies.append(r["body"])
                self.client.delete(self.name, filter=_in("article", ids))
                self.client.delete(self.meta.name, filter=_in("article", ids))
        self._added = []
        self._heads: list[str] = []  # the new paragraphs' texts, for the document frequencies
        new: list[int] = []
        for article, pieces, keys in added:
            record = {"title": article.title, "source": article.source, "url": article.url, "date": article.date, "meta": article.meta}
            self._added.append(_row(self._dim_or_zero(), key=f"a:{article.id}", kind="article", article=article.id, ekey=article.content_hash()))
            for owner, text in ((f"a:{article.id}", json.dumps(record, ensure_ascii=False, default=str)), (f"t:{article.id}", article.text)):
                for seq, chunk in enumerate(_chunks(text)):
                    self._added.append(_row(self._dim_or_zero(), key=f"c:{owner}:{seq}", kind="chunk", owner=owner, seq=seq, content=chunk, article=article.id))
            extents = paragraph_extents(pieces)
            head = 0
            for p, ekey in zip(pieces, keys):
                _, pstart, pend = extents[p.number]
                pid = self._next_pid
                self._next_pid += 1
                if p.part == 0:
                    head = pid
                body = article.text[pstart:pend][:CHUNK_CHARS] if p.part == 0 else ""
                if p.part == 0:
                    self._heads.append(body)
                self._pending[pid] = {
                    "key": f"p:{pid}", "kind": "piece", "pid": pid, "head": head, "article": article.id, "number": p.number, "part": p.part,
                    "start": p.start, "end": p.end, "pstart": pstart, "pend": pend, "ekey": ekey,
                    "body": body,
                    "title": article.title[:CHUNK_CHARS] if p.part == 0 else "",
                }
                new.append(pid)
        return dropped, new

    def _dim_or_zero(self) -> int:
        return self._dim or 0

    def index_keywords(self, removed: Sequence[str], first_new: int | None, rows: int, progress) -> None:
        progress(rows, rows)  # Milvus makes the sparse vectors itself as rows are inserted

    def add_vectors(self, dropped: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]], dim: int) -> tuple[str, float | None]:
        if self.col is None:
            self._create(dim)
        rows = [dict(r, dense=[0.0] * dim) if not r.get("dense") else r for r in getattr(self, "_added", [])]
        for lo in range(0, len(rows), BATCH):
            self.client.insert(self.meta.name, rows[lo : lo + BATCH])
        self._added = []
        batch = []
        for ids, vectors in parts:
            for pid, vector in zip(ids.tolist(), vectors):
                row = {**_blank(dim), **self._pending.pop(int(pid)), "dense": np.asarray(vector, dtype=np.float32).tolist()}
                batch.append(row)
                if len(batch) == BATCH:
                    self.client.insert(self.name, batch)
                    batch = []
        if batch:
            self.client.insert(self.name, batch)
        if self._pending:
            raise IndexCorruptError(f"{len(self._pending)} pieces were given no vector; nothing was published")
        return self._dense["index_type"], None

    def _update_frequencies(self) -> None:
        from collections import Counter

        from .keyword import make_analyzer

        analyzer = make_analyzer()
        delta: Counter[str] = Counter()
        for body in self._removed_bodies:
            delta.subtract({t.text for t in analyzer(body, mode="query")})
        for row in self._heads:
            delta.update({t.text for t in analyzer(row, mode="query")})
        terms = [t for t, d in delta.items() if d]
        current: dict[str, int] = {}
        for lo in range(0, len(terms), BATCH):
            for r in self.meta.query(f'kind == "term" and {_in("owner", terms[lo : lo + BATCH])}', ["owner", "seq"]):
                current[r["owner"]] = int(r["seq"])
        gone = [f"d:{t}" for t in terms if current.get(t, 0) + delta[t] <= 0 and t in current]
        rows = [_row(self._dim, key=f"d:{t}", kind="term", owner=t, seq=current.get(t, 0) + delta[t]) for t in terms if current.get(t, 0) + delta[t] > 0]
        for lo in range(0, len(gone), BATCH):
            self.client.delete(self.meta.name, ids=gone[lo : lo + BATCH])
        for lo in range(0, len(rows), BATCH):
            self.client.upsert(self.meta.name, rows[lo : lo + BATCH])

    def finish(self) -> dict[str, float]:
        self._update_frequencies()
        for name in (self.name, self.meta.name):
            self.client.flush(name)
            self.client.load_collection(name)
        return {}

    def checked_counts(self) -> tuple[int, int, int]:
        articles = self.meta.count('kind == "article"')
        paragraphs = self.col.count('kind == "piece" and part == 0')
        pieces = self.col.count('kind == "piece"')
        return articles, paragraphs, pieces

    def engine_record(self) -> dict[str, Any]:
        try:
            server = f"pymilvus {version('pymilvus')}" + (f", milvus-lite {version('milvus-lite')}" if not self.backend.uri.startswith("http") else "")
        except PackageNotFoundError:
            server = "pymilvus"
        return {
            "backend": MILVUS_BACKEND,
            "keyword": {"engine": f"Milvus BM25 function ({server})", "analyzer": f"milvus {json.dumps(ANALYZER)}", "scoring": {"name": "BM25 of body + title_boost x BM25 of title", **BM25_PARAMS}, "title_boost": TITLE_BOOST},
            "vector": {"engine": f"Milvus ({server})", "metric": "inner product", "collection": self.name},
        }

    def publish(self, manifest: dict[str, Any]) -> str:
        manifest = {**manifest, "previous": [self.base_generation] if self.base_generation else []}
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
        self.client.insert(self.meta.name, [_row(self._dim, key=f"c:m:{seq}", kind="chunk", owner="m", seq=seq, content=chunk) for seq, chunk in enumerate(_chunks(text))])
        self.client.flush(self.meta.name)
        _point(self.client, self.backend.name, self.name, alias=self.backend.uri.startswith("http"))
        return self.name

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            for name in (self.name, self.name + META):
                if name in self.client.list_collections():
                    self.client.drop_collection(name)

    def close(self) -> None:
        pass


def _row(dim: int, **values) -> dict[str, Any]:
    return {**_blank(dim), **values}
