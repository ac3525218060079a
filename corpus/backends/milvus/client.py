"""Reaching Milvus: locations, the client, a generation's collection and the pointer to the
published one, shared by the reader and the writer."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...backend import BACKENDS, MILVUS_BACKEND
from ...errors import CorpusError, IndexCorruptError, IndexNotFoundError
from ..analysis import milvus_analyzer

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
SEARCH_PARAMS = {"IVF_FLAT": {"nprobe": 64}, "HNSW": {"ef": 128}}


def dense_index() -> dict[str, Any]:
    name = os.environ.get("CORPUS_MILVUS_INDEX", "FLAT").upper()
    if name not in DENSE_INDEXES:
        raise CorpusError(f"CORPUS_MILVUS_INDEX={name!r} is not one of {', '.join(DENSE_INDEXES)}")
    return DENSE_INDEXES[name]
#: BM25 as the folder backend scores it (Lucene's defaults).
BM25_PARAMS = {"bm25_k1": 1.2, "bm25_b": 0.75}
#: The folder index's analysis, as far as Milvus's analyzers go (see corpus.backends.analysis)
ANALYZER = milvus_analyzer()
#: Rows fetched per query when copying or reading many.
BATCH = 1000
KEEP_OLD_GENERATIONS = 1
FIELDS = ["key", "kind", "pid", "head", "article", "number", "part", "start", "end", "pstart", "pend", "ekey", "owner", "seq", "content", "body", "title"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,150}$")


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


def blank_row(dim: int) -> dict[str, Any]:
    return {"kind": "", "pid": 0, "head": 0, "article": "", "number": 0, "part": 0, "start": 0, "end": 0, "pstart": 0, "pend": 0,
            "ekey": "", "owner": "", "seq": 0, "content": "", "body": "", "title": "", "dense": [0.0] * dim}


class Collection:
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
        rows = self.query(f"kind == \"chunk\" and owner == {quote(owner)}", ["seq", "content"])
        if not rows:
            return None
        return "".join(r["content"] for r in sorted(rows, key=lambda r: r["seq"]))

    def articles(self, ids: Iterable[str]) -> dict[str, dict]:
        """Each article's record (title, source, url, date, meta) and text."""
        ids = sorted(set(ids))
        out: dict[str, dict] = {}
        for lo in range(0, len(ids), 100):
            owners = [f"a:{i}" for i in ids[lo : lo + 100]] + [f"t:{i}" for i in ids[lo : lo + 100]]
            rows = self.query(f"kind == \"chunk\" and {in_list('owner', owners)}", ["owner", "seq", "content"])
            parts: dict[str, list] = {}
            for r in rows:
                parts.setdefault(r["owner"], []).append((r["seq"], r["content"]))
            for article_id in ids[lo : lo + 100]:
                record, text = parts.get(f"a:{article_id}"), parts.get(f"t:{article_id}")
                if record is None or text is None:
                    continue
                out[article_id] = {**json.loads("".join(c for _, c in sorted(record))), "text": "".join(c for _, c in sorted(text))}
        return out


def published_generation(client, name: str) -> str | None:
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


def point_to(client, name: str, collection: str, *, alias: bool) -> None:
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


def meta_row(dim: int, **values) -> dict[str, Any]:
    return {**blank_row(dim), **values}
