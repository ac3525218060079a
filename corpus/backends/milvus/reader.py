"""Reading the published generation of a Milvus index."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import MILVUS_BACKEND, Admitted, ParsedQuery, Reader
from ...documents import Article, ParagraphRecord, page_at
from ...embed import Embedder, cached_int8_encoder, load_embedder, load_query_embedder
from ...errors import IndexCorruptError, IndexNotFoundError
from ...filters import Where
from ..analysis import TITLE_BOOST
from .client import (
    BATCH,
    SEARCH_PARAMS,
    Generation,
    check_layout,
    connect,
    in_list,
    parse_location,
    published,
    quote,
    where_expression,
)


class MilvusReader(Reader):
    """The published generation of a Milvus index."""

    def __init__(self, location: str, client, name: str, gen: Generation, manifest: dict[str, Any], model_path: str | None) -> None:
        self.location = location
        self.generation = gen.name
        self.manifest = manifest
        self._client = client
        self._name = name
        self._gen = gen
        self._alive = gen.alive
        self._model_path = model_path
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        from ..analysis import (
            make_analyzer,  # the same analysis the answerer's features were fitted with
            terms_memo,
        )

        self._analyzer = make_analyzer()
        self._terms = terms_memo(self._analyzer)
        self._df: dict[str, int] = {}
        self._facets: list[tuple[str, str, str | None, dict]] | None = None

    @classmethod
    def open(cls, location: str, *, model=None) -> MilvusReader:
        from ...manifest import read_manifest_data, resolve_model_path

        uri, name = parse_location(location)
        client = connect(uri)
        current = published(client, name)
        if current is None:
            raise IndexNotFoundError(f"no index at {location}; create one with `corpus build SOURCES --index {location}`")
        gen = Generation(client, *current)
        try:
            text = gen.manifest_text()
        except Exception as exc:  # pymilvus's own types: a collection gone
            raise IndexCorruptError(f"cannot read the index at {location} ({gen.name}): {exc}") from exc
        if text is None:
            raise IndexCorruptError(f"the index at {location} has no manifest")
        manifest = read_manifest_data(text, f"{location} ({gen.name})")
        if manifest.get("backend") != MILVUS_BACKEND:
            raise IndexCorruptError(f"the index at {location} is a {manifest.get('backend')!r} index, not a Milvus one")
        check_layout(manifest)
        reader = cls(location, client, name, gen, manifest, resolve_model_path(manifest, model))
        counts = manifest["counts"]
        if gen.pieces.count(gen.alive) != counts["pieces"]:
            raise IndexCorruptError(f"the index at {location} holds another number of pieces than its manifest says; rebuild it")
        return reader

    @property
    def embedder(self) -> Embedder:
        """The model that built the index: its int8 encoder from the cache (exported again
        there when missing, and checked against the SHA-256 the build recorded), else the
        query encoder of the torch weights."""
        if self._embedder is None:
            record = self.manifest.get("encoder") or {}
            if record.get("kind") == "onnx-int8":
                file = cached_int8_encoder(self._model_path, sha256=record.get("sha256"))
                self._embedder = load_embedder(self._model_path, onnx_file=file, onnx_sha256=record.get("sha256"))
            else:
                self._embedder = load_query_embedder(self._model_path)
        return self._embedder

    def parse(self, text: str) -> ParsedQuery:
        # Milvus's BM25 reads plain words: query syntax is read as words too
        words = " ".join(re.findall(r"\w+", text))
        terms = frozenset(t.text for t in self._analyzer(words, mode="query"))
        return ParsedQuery(terms, words) if terms else ParsedQuery(frozenset())

    def admit(self, where: Where) -> Admitted:
        """The filter as an expression on the rows' fields, applied inside each search; a
        source pattern with a character class (which Milvus's ``like`` cannot say) lists the
        articles it admits instead."""
        articles = f'kind == "article" and {self._alive}'
        try:
            expression, dateless = where_expression(where)
        except NotImplementedError:
            ids, undated = where.select(self._article_facets())
            return Admitted(ids, undated, f" and {in_list('article', sorted(ids))}")
        matched = self._gen.meta.count(f"{articles} and {expression}")
        undated = self._gen.meta.count(f"{articles} and {dateless}") if dateless else 0
        return Admitted(None, undated, f" and ({expression})", matched=matched)

    def article_list(self) -> list[str]:
        return sorted(r["article"] for r in self._gen.meta.rows(f'kind == "article" and {self._alive}', ["article"]))

    def _article_facets(self) -> list[tuple[str, str, str | None, dict]]:
        facets = self._facets
        if facets is None:
            records: dict[str, list] = {}
            for r in self._gen.meta.rows(f'kind == "chunk" and {self._alive} and owner like "a:%"', ["owner", "seq", "content"]):
                records.setdefault(r["owner"][2:], []).append((r["seq"], r["content"]))
            facets = []
            for article_id, parts in sorted(records.items()):
                record = json.loads("".join(c for _, c in sorted(parts)))
                facets.append((article_id, record.get("source", ""), record.get("date"), record.get("meta") or {}))
            self._facets = facets  # a published generation never changes
        return facets

    def keyword_search(self, parsed: ParsedQuery, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        if parsed.empty or limit <= 0 or (admitted is not None and not admitted.count):
            return []
        only = admitted.plan if admitted is not None else ""
        # BM25F as the folder backend scores it: the body's BM25 plus the title's weighed
        # TITLE_BOOST (summed here: Milvus's weighted ranker normalises the scores first)
        limit = min(limit, 16_384)
        scores: dict[int, float] = {}
        for field, weight in (("sparse", 1.0), ("title_sparse", TITLE_BOOST)):
            found = self._client.search(
                self._gen.keyword.name, data=[parsed.plan], anns_field=field, limit=limit,
                filter=self._alive + only, output_fields=["pid"], search_params={"metric_type": "BM25"},
            )[0]
            for h in found:
                pid = int(h["entity"]["pid"])
                scores[pid] = scores.get(pid, 0.0) + weight * float(h["distance"])
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]

    def vector_search(self, vector: np.ndarray, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        if limit <= 0 or (admitted is not None and not admitted.count):
            return []
        found = self._client.search(
            self._gen.pieces.name, data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="dense", limit=min(limit, 16_384),
            filter=self._alive + (admitted.plan if admitted is not None else ""), output_fields=["head"], search_params={"metric_type": "IP", "params": SEARCH_PARAMS.get(self.manifest["vector"].get("index_type"), {})},
        )[0]
        best: dict[int, float] = {}
        for h in found:
            best.setdefault(int(h["entity"]["head"]), float(h["distance"]))
        return list(best.items())

    def paragraphs(self, ids: Sequence[int]) -> dict[int, ParagraphRecord]:
        if not ids:
            return {}
        rows = self._gen.pieces.query(f'part == 0 and {self._alive} and {in_list("pid", ids)}', ["pid", "article", "number", "pstart", "pend"])
        return self._records(rows)

    def article_ids(self, ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        ids = list(ids)
        for lo in range(0, len(ids), BATCH):
            for r in self._gen.pieces.query(f'part == 0 and {self._alive} and {in_list("pid", ids[lo : lo + BATCH])}', ["pid", "article"]):
                out[int(r["pid"])] = r["article"]
        return out

    def _records(self, rows: list[dict]) -> dict[int, ParagraphRecord]:
        articles = self._gen.articles(r["article"] for r in rows)
        out = {}
        for r in rows:
            a = articles.get(r["article"])
            if a is None:
                continue
            out[int(r["pid"])] = ParagraphRecord(
                int(r["pid"]), r["article"], int(r["number"]), int(r["pstart"]), int(r["pend"]),
                a["text"][r["pstart"] : r["pend"]], a["title"], a["source"], a.get("url"), a.get("date"),
                page_at(a.get("pages") or (), int(r["pstart"])),
            )
        return out

    def article(self, article_id: str) -> Article | None:
        a = self._gen.articles([article_id]).get(article_id)
        if a is None:
            return None
        return Article(article_id, a["title"], a["text"], a["source"], a.get("date"), a.get("url"), meta=a.get("meta") or {}, pages=tuple(a.get("pages") or ()))

    def article_paragraphs(self, article_id: str) -> list[ParagraphRecord]:
        rows = self._gen.pieces.query(f'part == 0 and {self._alive} and article == {quote(article_id)}', ["pid", "article", "number", "pstart", "pend"])
        return sorted(self._records(rows).values(), key=lambda r: r.number)

    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])

    def size_bytes(self) -> int:
        uri, _ = parse_location(self.location)
        return Path(uri).stat().st_size if not uri.startswith("http") and Path(uri).is_file() else 0

    def stems(self, text: str) -> set[str]:
        return set(self._terms(text))

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Lucene's idf from the document frequencies the build recorded (``term`` rows:
        Milvus Lite answers no text-match counts)."""
        n = self.manifest["counts"]["paragraphs"]
        wanted = [t for t in dict.fromkeys(terms) if t not in self._df]
        if wanted:
            found = {r["owner"]: int(r["seq"]) for r in self._gen.meta.query(f'kind == "term" and {self._alive} and {in_list("owner", wanted)}', ["owner", "seq"])}
            with self._lock:
                if len(self._df) > 100_000:
                    self._df.clear()
                self._df.update({t: found.get(t, 0) for t in wanted})
        return {t: math.log(1 + (n - self._df.get(t, 0) + 0.5) / (self._df.get(t, 0) + 0.5)) for t in terms}

    def highlight_spans(self, text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
        if not terms:
            return []
        return [(t.startchar, t.endchar) for t in self._analyzer(text, chars=True, mode="query") if t.text in terms]

    def duplicate_keys(self, ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        ids = list(ids)
        for lo in range(0, len(ids), BATCH):
            for r in self._gen.keyword.query(f'{self._alive} and {in_list("pid", ids[lo : lo + BATCH])}', ["pid", "dkey"]):
                if r["dkey"]:
                    out[int(r["pid"])] = r["dkey"]
        return out

    def copies(self, keys: Iterable[str], limit: int = 50) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key in sorted(set(keys)):
            rows = self._gen.keyword.query(f"{self._alive} and dkey == {quote(key)}", ["article"], limit=1000)
            out[key] = sorted({r["article"] for r in rows})[:limit]
        return out

    def published(self) -> str | None:
        try:
            current = published(self._client, self._name)
        except Exception:  # a server that cannot answer now: keep what we have
            return None
        return Generation(self._client, *current).name if current else None

    def close(self) -> None:
        pass  # the client is shared by the process (pymilvus keeps one connection per uri)
