"""Reaching Milvus: locations, the client, the collections of an index, the rows a
generation sees, filters as expressions, and the pointer to the published generation,
shared by the reader and the writer."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...backend import BACKENDS, MILVUS_BACKEND
from ...errors import CorpusError, IndexCorruptError, IndexNotFoundError
from ...filters import Where, article_day, day_bounds, day_number
from ..analysis import milvus_analyzer

DEFAULT_NAME = "corpus"
#: The collection ``NAME__current`` names the published set and generation.
POINTER = "__current"
#: A set's three collections: ``pieces`` (one row per embedded window, with its vector),
#: ``keyword`` (one row per paragraph, so that BM25's document count and average length are
#: those of paragraphs) and ``meta`` (articles, their texts, term counts, manifests).
PIECES, KEYWORD, META = "_pieces", "_keyword", "_meta"
PARTS = (PIECES, KEYWORD, META)
#: The layout of the rows, recorded in the manifest (an index of another layout asks for a rebuild).
LAYOUT = 3
#: What ``removed`` holds while a row is alive.
NEVER = 2**62
CHUNK_CHARS = 16_000
#: The server-side index of the dense vectors, chosen by ``$CORPUS_MILVUS_INDEX`` when a
#: set is created (Milvus Lite takes FLAT, IVF_FLAT or AUTOINDEX; a server more).
DENSE_INDEXES = {
    "FLAT": {"index_type": "FLAT", "metric_type": "IP", "params": {}},
    "IVF_FLAT": {"index_type": "IVF_FLAT", "metric_type": "IP", "params": {"nlist": 1024}},
    "AUTOINDEX": {"index_type": "AUTOINDEX", "metric_type": "IP", "params": {}},
    "HNSW": {"index_type": "HNSW", "metric_type": "IP", "params": {"M": 16, "efConstruction": 200}},
}
#: How widely an approximate index searches (IVF lists probed, HNSW candidates kept): at 1M
#: vectors HNSW's recall@10 is 0.72 with ef 128 and 0.91 with ef 512 (bench/ann_types.py).
SEARCH_PARAMS = {"IVF_FLAT": {"nprobe": 64}, "HNSW": {"ef": 512}}
#: BM25 as the folder backend scores it (Lucene's defaults).
BM25_PARAMS = {"bm25_k1": 1.2, "bm25_b": 0.75}
#: The folder index's analysis, as far as Milvus's analyzers go (see corpus.backends.analysis)
ANALYZER = milvus_analyzer()
#: Rows fetched or written per call when reading or writing many.
BATCH = 1000
#: Metadata values longer than a filter value may be are not kept as fields (no filter could match them).
META_VALUE_CHARS = 500
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,150}$")
_META_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def dense_index() -> dict[str, Any]:
    name = os.environ.get("CORPUS_MILVUS_INDEX", "FLAT").upper()
    if name not in DENSE_INDEXES:
        raise CorpusError(f"CORPUS_MILVUS_INDEX={name!r} is not one of {', '.join(DENSE_INDEXES)}")
    return DENSE_INDEXES[name]


def parse_location(location: str) -> tuple[str, str]:
    """``(uri for MilvusClient, index name)`` of a ``milvus:`` location."""
    rest = location[len(BACKENDS[MILVUS_BACKEND].prefix or "") :]
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


def connect(uri: str, *, create: bool = False):
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


def chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def in_list(field: str, values: Iterable) -> str:
    return f"{field} in [{', '.join(quote(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


def alive_at(generation: int) -> str:
    """The rows generation ``generation`` sees: added by it or before, not removed by then."""
    return f"added <= {int(generation)} and removed > {int(generation)}"


# -- filters as fields ----------------------------------------------------------------
#: How many folder runs (see :func:`facet_fields`) a row keeps; deeper sources are marked ``deep``.
MAX_DIRS = 256


def folder_runs(source: str) -> list[str]:
    """Every run of consecutive folders of a source, each ending in ``/``: for
    ``bbc/sport/001.txt``, ``bbc/``, ``bbc/sport/`` and ``sport/``: what a folder pattern
    (``sport/``, ``sport/*``, ``bbc/sport/``) matches at any folder."""
    folders = source.split("/")[:-1]
    return ["/".join(folders[i:j]) + "/" for i in range(len(folders)) for j in range(i + 1, len(folders) + 1)]


def facet_fields(source: str, date: str | None, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields a filter reads, as every row of an article carries them: ``path`` (the
    source after a ``/``, so that any tail starting at a folder follows a ``/``), ``dirs``
    (its folder runs under ``runs``, which a folder pattern finds by ``json_contains``, half the
    cost of a ``like`` over every row; ``deep`` when there are too many to keep; a JSON field,
    as Milvus Lite 2.5 fails on empty query results over an ARRAY field), ``day``
    (YYYYMMDD, 0 for none) and ``facets`` (metadata values as text)."""
    day = article_day(date)
    kept = {}
    for key, value in (meta or {}).items():
        text = str(value)
        if isinstance(key, str) and _META_KEY.match(key) and len(text) <= META_VALUE_CHARS:
            kept[key] = text
    runs = folder_runs(source)
    deep = len(runs) > MAX_DIRS
    return {"path": "/" + source, "dirs": {"runs": [] if deep else runs}, "deep": int(deep), "day": day_number(day) if day else 0, "facets": kept}


#: The filter fields of a row that belongs to no article (term counts, manifests).
NO_FACETS = {"path": "", "dirs": {"runs": []}, "deep": 0, "day": 0, "facets": {}}


def _source_clause(pattern: str) -> str | None:
    """A source glob as a Milvus expression matching it at any folder: a folder pattern
    (``sport/``, ``sport/*``) by the folder runs, any other by ``like``; None for a character
    class, which ``like`` cannot say."""
    if "[" in pattern:
        return None
    if pattern.endswith("/"):
        pattern += "*"
    folder = pattern[:-1]
    if pattern.endswith("/*") and not any(ch in folder for ch in "*?"):
        return f"(json_contains(dirs[\"runs\"], {quote(folder)}) or (deep == 1 and path like {quote('%/' + _like(folder) + '%')}))"
    return f"path like {quote('%/' + _like(pattern))}"


#: A glob's wildcards as ``like``'s, and ``like``'s own characters escaped.
_LIKE = {"*": "%", "?": "_", "%": "\\%", "_": "\\_", "\\": "\\\\"}


def _like(glob: str) -> str:
    return "".join(_LIKE.get(ch, ch) for ch in glob)


def where_expression(where: Where) -> tuple[str, str | None]:
    """``(expression, dateless)``: the Milvus boolean expression of a filter, over the fields
    of :func:`facet_fields`, and (for a date filter) the expression of the articles it leaves
    out only for having no date. Source patterns ``like`` cannot say are raised as
    :class:`NotImplementedError` (the reader lists those articles instead)."""
    clauses = []
    if where.sources:
        sources = [_source_clause(p) for p in where.sources]
        if any(clause is None for clause in sources):
            raise NotImplementedError("a character class in a source pattern")
        clauses.append("(" + " or ".join(sources) + ")")
    for key, value in where.meta:
        clauses.append(f"facets[{quote(key)}] == {quote(value)}")
    rest = " and ".join(clauses)
    if not where.dated:
        return rest or "true", None
    low, high = day_bounds(where.since, where.until)
    dated = " and ".join([f"day >= {low}", f"day <= {high}"] + ([rest] if rest else []))
    return dated, " and ".join(["day == 0"] + ([rest] if rest else []))


# -- collections -------------------------------------------------------------------
class Collection:
    """One collection of a set, with what reading and writing it share."""

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


class Generation:
    """What one generation of a set sees: its rows in the three collections."""

    def __init__(self, client, set_name: str, number: int) -> None:
        self.client = client
        self.set = set_name
        self.number = number
        self.alive = alive_at(number)
        self.pieces = Collection(client, set_name + PIECES)
        self.keyword = Collection(client, set_name + KEYWORD)
        self.meta = Collection(client, set_name + META)

    def collection(self, part: str) -> Collection:
        """The set's collection of one of :data:`PARTS`."""
        return {PIECES: self.pieces, KEYWORD: self.keyword, META: self.meta}[part]

    @property
    def name(self) -> str:
        return f"{self.set}.g{self.number}"

    def manifest_text(self) -> str | None:
        rows = self.meta.query(f'kind == "manifest" and added == {self.number}', ["seq", "content"])
        return "".join(r["content"] for r in sorted(rows, key=lambda r: r["seq"])) if rows else None

    def articles(self, ids: Iterable[str]) -> dict[str, dict]:
        """Each article's record (title, source, url, date, meta, pages) and text."""
        ids = sorted(set(ids))
        out: dict[str, dict] = {}
        for lo in range(0, len(ids), 100):
            part = ids[lo : lo + 100]
            rows = self.meta.query(f'kind == "chunk" and {self.alive} and {in_list("article", part)}', ["owner", "seq", "content"])
            parts: dict[str, list] = {}
            for r in rows:
                parts.setdefault(r["owner"], []).append((r["seq"], r["content"]))
            for article_id in part:
                record, text = parts.get(f"a:{article_id}"), parts.get(f"t:{article_id}")
                if record is None or text is None:
                    continue
                out[article_id] = {**json.loads("".join(c for _, c in sorted(record))), "text": "".join(c for _, c in sorted(text))}
        return out


def check_layout(manifest: dict[str, Any]) -> None:
    """Refuse an index whose rows are laid out otherwise than this version writes them."""
    if (manifest.get("milvus") or {}).get("layout") != LAYOUT:
        raise IndexCorruptError("the Milvus index was written by an earlier version of corpus-qa; rebuild it with `corpus build --rebuild`")


def published(client, name: str) -> tuple[str, int] | None:
    """The published ``(set, generation)``: named in the one row of ``NAME__current``
    (Milvus Lite implements no aliases; a server's alias ``NAME`` follows the set's pieces)."""
    pointer = f"{name}{POINTER}"
    try:
        if not client.has_collection(pointer):
            return None
        rows = client.query(pointer, filter='key == "current"', output_fields=["content"])
    except Exception as exc:  # pymilvus raises its own types for every failure
        raise IndexCorruptError(f"cannot read which generation of {name!r} is published: {exc}") from exc
    if not rows:
        return None
    try:
        record = json.loads(rows[0]["content"])
        return str(record["set"]), int(record["generation"])
    except (ValueError, TypeError, KeyError):
        raise IndexCorruptError(f"the Milvus index {name!r} was written by an earlier version of corpus-qa; rebuild it with `corpus build --rebuild`") from None


def point_to(client, name: str, set_name: str, generation: int, *, alias: bool) -> None:
    """Publish a generation: one upsert of the pointer row, atomic for readers."""
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
    content = json.dumps({"set": set_name, "generation": generation})
    client.upsert(pointer, [{"key": "current", "content": content, "dense": [0.0, 0.0]}])
    client.flush(pointer)
    if alias:  # a server also points the alias at the set's pieces, for other tools that read it by name
        try:
            client.alter_alias(set_name + PIECES, name)
        except Exception:  # pymilvus raises its own types: the alias does not exist yet
            client.create_alias(set_name + PIECES, name)
