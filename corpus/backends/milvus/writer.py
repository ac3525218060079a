"""Writing a Milvus index: a build adds the rows of new and changed articles, marks the
rows of changed and removed ones, and publishes the generation by one upsert.

Every row carries the generation that added it and the one that removed it (``NEVER``
while alive); a reader sees the rows alive at the generation it opened. So a build
costs what changed, not the corpus: it never copies the unchanged rows. A rebuild writes a
new set of collections instead, and the set it replaces stays for open readers until the
next build.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import MILVUS_BACKEND, Backend, Draft, build_lock
from ...documents import Article, Paragraph, duplicate_key
from ...errors import IndexCorruptError
from ..analysis import MILVUS_ANALYZER_NAME, TITLE_BOOST
from .client import (
    ANALYZER,
    BATCH,
    BM25_PARAMS,
    CHUNK_CHARS,
    KEYWORD,
    LAYOUT,
    META,
    NEVER,
    NO_FACETS,
    PARTS,
    PIECES,
    Generation,
    check_layout,
    chunks,
    connect,
    dense_index,
    facet_fields,
    in_list,
    parse_location,
    point_to,
    published,
)

#: The fields of each collection a build reads back to mark a row removed (``sparse`` and
#: ``title_sparse`` are made by Milvus from ``body`` and ``title``).
FIELDS = {
    PIECES: ["pid", "head", "article", "number", "part", "start", "end", "pstart", "pend", "ekey", "added", "removed", "path", "dirs", "deep", "day", "facets", "dense"],
    KEYWORD: ["pid", "article", "dkey", "added", "removed", "path", "dirs", "deep", "day", "facets", "body", "title"],
    META: ["key", "kind", "article", "ekey", "owner", "seq", "content", "added", "removed", "path", "dirs", "deep", "day", "facets", "dense"],
}


class MilvusBackend(Backend):
    @classmethod
    def for_writing(cls, location: str | os.PathLike[str]) -> MilvusBackend:
        return cls(str(location))

    def __init__(self, location: str) -> None:
        self.location = location
        self.uri, self.name = parse_location(location)
        self.client = connect(self.uri, create=True)

    @property
    def identity(self) -> str:
        return f"milvus:{self.uri}/{self.name}"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        # one build at a time per index: a file lock beside a Lite file; a server trusts its operator
        if self.uri.startswith("http"):
            yield
            return
        with build_lock(Path(self.uri + ".build.lock"), self.location):
            yield

    def sets(self) -> list[str]:
        """The sets of collections of this index (each ``NAME__s<time>_<random>``)."""
        prefix = f"{self.name}__s"
        return sorted({c[: -len(part)] for c in self.client.list_collections() if c.startswith(prefix) for part in PARTS if c.endswith(part)})

    def _drop_set(self, set_name: str) -> None:
        for part in PARTS:
            if self.client.has_collection(set_name + part):
                self.client.drop_collection(set_name + part)

    def _drop_sets_but(self, kept: set[str]) -> None:
        for s in self.sets():
            if s not in kept:
                self._drop_set(s)

    def _current(self, *, rebuild: bool) -> tuple[tuple[str, int] | None, dict | None]:
        """The published ``(set, generation)`` and its manifest; for a rebuild, whatever of
        them can be read (a rebuild also mends a damaged index or one of an older layout)."""
        from ...manifest import read_manifest_data

        current = None
        try:
            current = published(self.client, self.name)
            if current is None:
                return None, None
            return current, read_manifest_data(Generation(self.client, *current).manifest_text() or "", self.location)
        except Exception:  # noqa: BLE001 — a CorpusError, or pymilvus's own types
            if not rebuild:
                raise
            return current, None  # a published set whose manifest cannot be read is kept until replaced

    def draft(self, *, rebuild: bool) -> MilvusDraft:
        current, manifest = self._current(rebuild=rebuild)
        kept = self._kept(current, manifest)
        self._drop_sets_but(kept)  # what killed rebuilds left behind: sets nothing names
        if not rebuild and manifest is not None:
            check_layout(manifest)
        analyzer = (manifest or {}).get("keyword", {}).get("analyzer_params")
        if not rebuild and analyzer is not None and analyzer != ANALYZER:
            raise IndexCorruptError("the index was built with another analyzer; rebuild it with `corpus build --rebuild`")
        return MilvusDraft(self, current, manifest, fresh=rebuild)

    @staticmethod
    def _kept(current: tuple[str, int] | None, manifest: dict | None) -> set[str]:
        if current is None:
            return set()
        previous = ((manifest or {}).get("milvus") or {}).get("previous_set")
        return {current[0]} | ({previous} if previous else set())

    def prune(self) -> None:
        """Drop what no reader of the published generation or the one before can see: the
        rows removed before that one, older manifests, sets nothing names, and the
        collections of the earlier layout."""
        current, manifest = self._current(rebuild=True)
        if current is None:
            return
        self._drop_sets_but(self._kept(current, manifest))
        for c in self.client.list_collections():
            if c.startswith(f"{self.name}__g"):  # the layout of one collection per generation
                self.client.drop_collection(c)
        set_name, number = current
        if number > 1:
            for part in PARTS:
                self.client.delete(set_name + part, filter=f"removed <= {number - 1}")
            self.client.delete(set_name + META, filter=f'kind == "manifest" and added < {number - 1}')


class MilvusDraft(Draft):
    def __init__(self, backend: MilvusBackend, current: tuple[str, int] | None, manifest: dict | None, *, fresh: bool) -> None:
        self.backend = backend
        self.client = backend.client
        self.base = None if fresh or current is None else Generation(self.client, *current)
        self.base_generation = self.base.name if self.base else None
        self.base_manifest = None if self.base is None else manifest
        self.published_manifest = manifest
        if self.base is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
            self.gen = Generation(self.client, f"{backend.name}__s{stamp}_{secrets.token_hex(3)}", 1)
            self.previous_set = current[0] if current else None
            self._next_pid = 1
        else:
            self.gen = Generation(self.client, self.base.set, self.base.number + 1)
            self.previous_set = None
            self._next_pid = int(((manifest or {}).get("milvus") or {}).get("next_pid", 1))
        self._dense = dense_index()
        self._pending: dict[int, dict] = {}  # piece rows waiting for their vectors
        self._removed_bodies: list[str] = []
        self._heads: list[str] = []
        #: Rows this build inserted or upserted (to mark them removed).
        self.rows_written = 0

    # -- what the build reads first ---------------------------------------------------
    def article_hashes(self) -> dict[str, str]:
        if self.base is None:
            return {}
        return {r["article"]: r["ekey"] for r in self.base.meta.rows(f'kind == "article" and {self.base.alive}', ["article", "ekey"])}

    def carry_file(self, name: str) -> Path | None:
        return None  # Milvus keeps no files: the int8 encoder stays in the cache (see corpus.build)

    # -- writing -----------------------------------------------------------------------
    def open(self) -> None:
        if self.base is not None:
            self._revert()
        else:
            self._create_text_collections()

    def _revert(self) -> None:
        """Undo what a killed build of this set left: rows it added, marks it made."""
        n = self.base.number
        for part in PARTS:
            name = self.gen.set + part
            self.client.delete(name, filter=f"added > {n}")
            marked = list(self.gen.collection(part).rows(f"removed > {n} and removed < {NEVER}", FIELDS[part]))
            for lo in range(0, len(marked), BATCH):
                self.client.upsert(name, [dict(r, removed=NEVER) for r in marked[lo : lo + BATCH]])

    def _create_text_collections(self) -> None:
        from pymilvus import DataType, Function, FunctionType

        def schema_with(primary: str, primary_type) -> Any:
            schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
            if primary_type == DataType.VARCHAR:
                schema.add_field(primary, primary_type, is_primary=True, max_length=8192)
            else:
                schema.add_field(primary, primary_type, is_primary=True)
            schema.add_field("article", DataType.VARCHAR, max_length=8192)
            schema.add_field("added", DataType.INT64)
            schema.add_field("removed", DataType.INT64)
            schema.add_field("path", DataType.VARCHAR, max_length=8192)
            schema.add_field("dirs", DataType.JSON)
            schema.add_field("deep", DataType.INT64)
            schema.add_field("day", DataType.INT64)
            schema.add_field("facets", DataType.JSON)
            return schema

        schema = schema_with("pid", DataType.INT64)
        schema.add_field("dkey", DataType.VARCHAR, max_length=64)
        schema.add_field("body", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=ANALYZER)
        schema.add_field("title", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=ANALYZER)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("title_sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["body"], output_field_names=["sparse"]))
        schema.add_function(Function(name="bm25_title", function_type=FunctionType.BM25, input_field_names=["title"], output_field_names=["title_sparse"]))
        index = self.client.prepare_index_params()
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
        index.add_index(field_name="title_sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
        self.client.create_collection(self.gen.keyword.name, schema=schema, index_params=index)

        schema = schema_with("key", DataType.VARCHAR)
        schema.add_field("kind", DataType.VARCHAR, max_length=16)
        schema.add_field("ekey", DataType.VARCHAR, max_length=64)
        schema.add_field("owner", DataType.VARCHAR, max_length=8192)
        schema.add_field("seq", DataType.INT64)
        schema.add_field("content", DataType.VARCHAR, max_length=65535)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
        index = self.client.prepare_index_params()
        index.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.gen.meta.name, schema=schema, index_params=index)

    def _create_pieces(self, dim: int) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pid", DataType.INT64, is_primary=True)
        for field in ("head", "number", "part", "start", "end", "pstart", "pend", "added", "removed", "deep", "day"):
            schema.add_field(field, DataType.INT64)
        schema.add_field("article", DataType.VARCHAR, max_length=8192)
        schema.add_field("ekey", DataType.VARCHAR, max_length=64)
        schema.add_field("path", DataType.VARCHAR, max_length=8192)
        schema.add_field("dirs", DataType.JSON)
        schema.add_field("facets", DataType.JSON)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        index = self.client.prepare_index_params()
        index.add_index(field_name="dense", **self._dense)
        self.client.create_collection(self.gen.pieces.name, schema=schema, index_params=index)

    def _write(self, part: str, rows: list[dict], *, upsert: bool = False) -> None:
        name = self.gen.set + part
        for lo in range(0, len(rows), BATCH):
            (self.client.upsert if upsert else self.client.insert)(name, rows[lo : lo + BATCH])
        self.rows_written += len(rows)

    def reusable_vectors(self, keys: Sequence[str]) -> tuple[list[int], np.ndarray | None]:
        if self.base is None:
            return [], None
        found: dict[str, list[float]] = {}
        unique = sorted(set(keys))
        for lo in range(0, len(unique), BATCH):
            for r in self.base.pieces.query(f'{self.base.alive} and {in_list("ekey", unique[lo : lo + BATCH])}', ["ekey", "dense"]):
                found[r["ekey"]] = r["dense"]
        have = [i for i, k in enumerate(keys) if k in found]
        if not have:
            return [], None
        return have, np.array([found[keys[i]] for i in have], dtype=np.float32)

    def replace_articles(self, removed: Sequence[str], added: Sequence[tuple[Article, Sequence[Paragraph], Sequence[str]]]) -> tuple[list[int], list[int]]:
        from ...split import paragraph_extents

        dropped: list[int] = []
        self._removed_bodies = []  # their paragraphs leave the document frequencies
        if self.base is not None and removed:
            for lo in range(0, len(removed), BATCH):
                where = f"{self.base.alive} and {in_list('article', removed[lo : lo + BATCH])}"
                for part in PARTS:  # marked removed by this generation: older readers still see them
                    rows = list(self.base.collection(part).rows(where, FIELDS[part]))
                    if part == PIECES:
                        dropped += [int(r["pid"]) for r in rows]
                    elif part == KEYWORD:
                        self._removed_bodies += [r["body"] for r in rows]
                    self._write(part, [dict(r, removed=self.gen.number) for r in rows], upsert=True)
        g = self.gen.number
        meta_rows, keyword_rows, new = [], [], []
        self._heads = []  # the new paragraphs' texts, for the document frequencies
        for article, pieces, keys in added:
            facets = facet_fields(article.source, article.date, article.meta)
            common = {"article": article.id, "added": g, "removed": NEVER, **facets}
            blank = {"kind": "", "ekey": "", "owner": "", "seq": 0, "content": "", "dense": [0.0, 0.0]}
            record = {"title": article.title, "source": article.source, "url": article.url, "date": article.date, "meta": article.meta}
            if article.pages:
                record["pages"] = list(article.pages)
            meta_rows.append({**blank, **common, "key": f"a:{g}:{article.id}", "kind": "article", "ekey": article.content_hash()})
            for owner, text in ((f"a:{article.id}", json.dumps(record, ensure_ascii=False, default=str)), (f"t:{article.id}", article.text)):
                for seq, chunk in enumerate(chunks(text)):
                    meta_rows.append({**blank, **common, "key": f"c:{g}:{owner}:{seq}", "kind": "chunk", "owner": owner, "seq": seq, "content": chunk})
            extents = paragraph_extents(pieces)
            head = 0
            for p, ekey in zip(pieces, keys):
                _, pstart, pend = extents[p.number]
                pid = self._next_pid
                self._next_pid += 1
                if p.part == 0:
                    head = pid
                    body = article.text[pstart:pend][:CHUNK_CHARS]
                    self._heads.append(body)
                    keyword_rows.append({**common, "pid": pid, "dkey": duplicate_key(body) or "", "body": body, "title": article.title[:CHUNK_CHARS]})
                self._pending[pid] = {
                    **common, "pid": pid, "head": head, "number": p.number, "part": p.part,
                    "start": p.start, "end": p.end, "pstart": pstart, "pend": pend, "ekey": ekey,
                }
                new.append(pid)
        self._write(META, meta_rows)
        self._write(KEYWORD, keyword_rows)
        return dropped, new

    def index_keywords(self, removed: Sequence[str], first_new: int | None, rows: int, progress) -> None:
        progress(rows, rows)  # Milvus makes the sparse vectors itself as rows are inserted

    def add_vectors(self, dropped: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]], dim: int) -> tuple[str, float | None]:
        if not self.client.has_collection(self.gen.pieces.name):
            self._create_pieces(dim)
        batch = []
        for ids, vectors in parts:
            for pid, vector in zip(ids.tolist(), vectors):
                batch.append({**self._pending.pop(int(pid)), "dense": np.asarray(vector, dtype=np.float32).tolist()})
                if len(batch) == BATCH:
                    self._write(PIECES, batch)
                    batch = []
        self._write(PIECES, batch)
        if self._pending:
            raise IndexCorruptError(f"{len(self._pending)} pieces were given no vector; nothing was published")
        return self._dense["index_type"] if self.base is None else self.base_manifest["vector"]["index_type"], None

    def _update_frequencies(self) -> None:
        """How many paragraphs hold each term (``term`` rows, for the answerer's weights):
        a new row, this generation's, for each term whose count changed."""
        from ..analysis import make_analyzer

        analyzer = make_analyzer()
        delta: Counter[str] = Counter()
        for body in self._removed_bodies:
            delta.subtract({t.text for t in analyzer(body, mode="query")})
        for body in self._heads:
            delta.update({t.text for t in analyzer(body, mode="query")})
        terms = sorted(t for t, d in delta.items() if d)
        g = self.gen.number
        old: list[dict] = []
        if self.base is not None:
            for lo in range(0, len(terms), BATCH):
                old += self.base.meta.query(f'kind == "term" and {self.base.alive} and {in_list("owner", terms[lo : lo + BATCH])}', FIELDS[META])
        counts = {r["owner"]: int(r["seq"]) for r in old}
        self._write(META, [dict(r, removed=g) for r in old], upsert=True)
        blank = {"article": "", "ekey": "", "content": "", "dense": [0.0, 0.0], **NO_FACETS}
        self._write(META, [
            {**blank, "key": f"d:{g}:{t}", "kind": "term", "owner": t, "seq": counts.get(t, 0) + delta[t], "added": g, "removed": NEVER}
            for t in terms if counts.get(t, 0) + delta[t] > 0
        ])

    def finish(self) -> dict[str, float]:
        self._update_frequencies()
        for c in (self.gen.pieces, self.gen.keyword, self.gen.meta):
            if self.client.has_collection(c.name):
                self.client.flush(c.name)
                self.client.load_collection(c.name)
        return {}

    def checked_counts(self) -> tuple[int, int, int]:
        alive = self.gen.alive
        articles = self.gen.meta.count(f'kind == "article" and {alive}')
        paragraphs = self.gen.keyword.count(alive)
        pieces = self.gen.pieces.count(alive) if self.client.has_collection(self.gen.pieces.name) else 0
        heads = self.gen.pieces.count(f"part == 0 and {alive}") if pieces else 0
        if heads != paragraphs:
            raise IndexCorruptError(f"the build's keyword rows ({paragraphs}) and paragraphs' vectors ({heads}) disagree; nothing was published")
        return articles, paragraphs, pieces

    def engine_record(self) -> dict[str, Any]:
        try:
            server = f"pymilvus {version('pymilvus')}" + (f", milvus-lite {version('milvus-lite')}" if not self.backend.uri.startswith("http") else "")
        except PackageNotFoundError:
            server = "pymilvus"
        return {
            "backend": MILVUS_BACKEND,
            "keyword": {"engine": f"Milvus BM25 function ({server})", "analyzer": MILVUS_ANALYZER_NAME, "analyzer_params": ANALYZER, "scoring": {"name": "BM25 of body + title_boost x BM25 of title", **BM25_PARAMS}, "title_boost": TITLE_BOOST},
            "vector": {"engine": f"Milvus ({server})", "metric": "inner product", "collection": self.gen.pieces.name},
            "milvus": {"layout": LAYOUT, "set": self.gen.set, "generation": self.gen.number, "next_pid": self._next_pid,
                       "previous_set": self.previous_set},
        }

    def publish(self, manifest: dict[str, Any]) -> str:
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
        g = self.gen.number
        blank = {"article": "", "ekey": "", "dense": [0.0, 0.0], **NO_FACETS, "removed": NEVER}
        self._write(META, [{**blank, "key": f"m:{g}:{seq}", "kind": "manifest", "owner": "m", "seq": seq, "content": chunk, "added": g} for seq, chunk in enumerate(chunks(text))])
        self.client.flush(self.gen.meta.name)
        point_to(self.client, self.backend.name, self.gen.set, g, alias=self.backend.uri.startswith("http"))
        return self.gen.name

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            if self.base is None:
                self.backend._drop_set(self.gen.set)
            elif self.rows_written:
                self._revert()

    def close(self) -> None:
        pass
