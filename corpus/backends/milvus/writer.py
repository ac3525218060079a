"""Writing a Milvus index: a new generation per build, published by one upsert."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import MILVUS_BACKEND, Backend, Draft, build_lock
from ...documents import Article, Paragraph
from ...errors import IndexCorruptError
from ..analysis import TITLE_BOOST
from .client import (
    ANALYZER,
    BATCH,
    BM25_PARAMS,
    CHUNK_CHARS,
    FIELDS,
    META,
    Collection,
    blank_row,
    chunks,
    connect,
    dense_index,
    in_list,
    meta_row,
    parse_location,
    point_to,
    published_generation,
)


class MilvusBackend(Backend):
    @classmethod
    def for_writing(cls, location: str | os.PathLike[str]) -> MilvusBackend:
        return cls(str(location))

    def __init__(self, location: str) -> None:
        self.location = location
        self.uri, self.name = parse_location(location)
        self.client = connect(self.uri, create=True)

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
        published = published_generation(self.client, self.name)
        for c in self._generations():  # what killed builds left behind: collections no alias names
            if c.removesuffix(META) != published and c.removesuffix(META) not in self._kept():
                self.client.drop_collection(c)
        draft = MilvusDraft(self, None if rebuild else published)
        if rebuild and published:
            from ...manifest import read_manifest_data

            try:  # a rebuild also mends a damaged index: its settings are kept only when readable
                draft.published_manifest = read_manifest_data(Collection(self.client, published + META).text("m") or "", published)
            except Exception:  # noqa: BLE001 — a CorpusError, or pymilvus's own types
                pass
        analyzer = (draft.base_manifest or {}).get("keyword", {}).get("analyzer")
        if analyzer is not None and analyzer != f"milvus {json.dumps(ANALYZER)}":
            raise IndexCorruptError("the index was built with another analyzer; rebuild it with `corpus build --rebuild`")
        return draft

    def _kept(self) -> set[str]:
        try:
            return set(json.loads(Collection(self.client, published_generation(self.client, self.name) + META).text("m") or "{}").get("previous", []))
        except Exception:
            return set()

    def prune(self) -> None:
        published = published_generation(self.client, self.name)
        keep = {published} | self._kept()
        for c in self._generations():
            if c.removesuffix(META) not in keep:
                self.client.drop_collection(c)


class MilvusDraft(Draft):
    def __init__(self, backend: MilvusBackend, base: str | None) -> None:
        from ...manifest import read_manifest_data

        self.backend = backend
        self.client = backend.client
        self.base = Collection(self.client, base) if base else None
        self.base_meta = Collection(self.client, base + META) if base else None
        self.base_generation = base
        self.base_manifest = read_manifest_data(self.base_meta.text("m") or "", base) if base else None
        self.published_manifest = self.base_manifest
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        self.name = f"{backend.name}__g{stamp}_{secrets.token_hex(3)}"
        self.col: Collection | None = None
        self.meta: Collection | None = None
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

    def carry_file(self, name: str) -> Path | None:
        return None  # Milvus keeps no files: the int8 encoder stays in the cache (see corpus.build)

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
        self.col = Collection(self.client, self.name)
        self.meta = Collection(self.client, self.name + META)

    def _copy_base(self) -> None:
        for source, target, where in ((self.base, self.col, 'kind == "piece"'), (self.base_meta, self.meta, 'kind != "chunk" or owner != "m"')):
            batch = []
            for row in source.rows(where, [*FIELDS, "dense"]):
                batch.append({k: row[k] for k in [*FIELDS, "dense"]})
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
            for r in self.col.query(f'kind == "piece" and {in_list("ekey", unique[lo : lo + BATCH])}', ["ekey", "dense"]):
                found[r["ekey"]] = r["dense"]
        have = [i for i, k in enumerate(keys) if k in found]
        if not have:
            return [], None
        return have, np.array([found[keys[i]] for i in have], dtype=np.float32)

    def replace_articles(self, removed: Sequence[str], added: Sequence[tuple[Article, Sequence[Paragraph], Sequence[str]]]) -> tuple[list[int], list[int]]:
        from ...split import paragraph_extents

        dropped: list[int] = []
        self._removed_bodies: list[str] = []  # their paragraphs leave the document frequencies
        if self.col is not None and removed:
            for lo in range(0, len(removed), BATCH):
                ids = list(removed[lo : lo + BATCH])
                for r in self.col.rows(f'kind == "piece" and {in_list("article", ids)}', ["pid", "part", "body"]):
                    dropped.append(int(r["pid"]))
                    if r["part"] == 0:
                        self._removed_bodies.append(r["body"])
                self.client.delete(self.name, filter=in_list("article", ids))
                self.client.delete(self.meta.name, filter=in_list("article", ids))
        self._added = []
        self._heads: list[str] = []  # the new paragraphs' texts, for the document frequencies
        new: list[int] = []
        for article, pieces, keys in added:
            record = {"title": article.title, "source": article.source, "url": article.url, "date": article.date, "meta": article.meta}
            if article.pages:
                record["pages"] = list(article.pages)
            self._added.append(meta_row(self._dim_or_zero(), key=f"a:{article.id}", kind="article", article=article.id, ekey=article.content_hash()))
            for owner, text in ((f"a:{article.id}", json.dumps(record, ensure_ascii=False, default=str)), (f"t:{article.id}", article.text)):
                for seq, chunk in enumerate(chunks(text)):
                    self._added.append(meta_row(self._dim_or_zero(), key=f"c:{owner}:{seq}", kind="chunk", owner=owner, seq=seq, content=chunk, article=article.id))
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
                row = {**blank_row(dim), **self._pending.pop(int(pid)), "dense": np.asarray(vector, dtype=np.float32).tolist()}
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

        from ..analysis import make_analyzer

        analyzer = make_analyzer()
        delta: Counter[str] = Counter()
        for body in self._removed_bodies:
            delta.subtract({t.text for t in analyzer(body, mode="query")})
        for row in self._heads:
            delta.update({t.text for t in analyzer(row, mode="query")})
        terms = [t for t, d in delta.items() if d]
        current: dict[str, int] = {}
        for lo in range(0, len(terms), BATCH):
            for r in self.meta.query(f'kind == "term" and {in_list("owner", terms[lo : lo + BATCH])}', ["owner", "seq"]):
                current[r["owner"]] = int(r["seq"])
        gone = [f"d:{t}" for t in terms if current.get(t, 0) + delta[t] <= 0 and t in current]
        rows = [meta_row(self._dim, key=f"d:{t}", kind="term", owner=t, seq=current.get(t, 0) + delta[t]) for t in terms if current.get(t, 0) + delta[t] > 0]
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
        self.client.insert(self.meta.name, [meta_row(self._dim, key=f"c:m:{seq}", kind="chunk", owner="m", seq=seq, content=chunk) for seq, chunk in enumerate(chunks(text))])
        self.client.flush(self.meta.name)
        point_to(self.client, self.backend.name, self.name, alias=self.backend.uri.startswith("http"))
        return self.name

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            for name in (self.name, self.name + META):
                if name in self.client.list_collections():
                    self.client.drop_collection(name)

    def close(self) -> None:
        pass
