"""The library facade: open an index, search it (keyword, vector or hybrid)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from corpus.backend import FOLDER_BACKEND, Reader, default_index_dir, open_reader
from corpus.documents import Article, paragraph_id
from corpus.embed import TokenVectors
from corpus.errors import CorpusError
from corpus.filters import Where

from . import fusion
from .answer import Answer, Answerer
from .collections import Collections
from .hits import Hit, Hits
from .query import MAX_QUERY_CHARS, clean_query  # noqa: F401  (re-exported)
from .search import DEPTH, MODES, check_mode, rank, search_libraries  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

#: How often a library looks for a newly published generation.
REFRESH_SECONDS = 1.0


class Library:
    """A searchable corpus. Open one with :meth:`Library.open`; safe to share across threads."""

    def __init__(
        self,
        index: Reader,
        *,
        fusion_method: str | None = None,
        weights: Sequence[float] | None = None,
        model: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> None:
        self._index = index
        self._model = model
        #: the collection's name, carried by every hit (the index folder's name unless given)
        self.name = name or collection_name(index.location)
        self._checked = time.monotonic()
        # by id() (readers are not hashable): replaced generations that calls still
        # read, and how many calls read each reader
        self._retired: dict[int, Reader] = {}
        self._reading: dict[int, int] = {}
        self._lock = threading.Lock()
        self._answerer_instance = None
        self.fusion_method = fusion_method or fusion.DEFAULT_METHOD
        self.weights = tuple(weights) if weights is not None else fusion.DEFAULT_WEIGHTS
        if self.fusion_method not in fusion.METHODS:
            raise ValueError(f"unknown fusion method {self.fusion_method!r}; choose one of {', '.join(fusion.METHODS)}")

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | Sequence[Any] | Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        model: str | os.PathLike[str] | None = None,
        fusion_method: str | None = None,
        weights: Sequence[float] | None = None,
        name: str | None = None,
    ) -> Library | Collections:
        """Open the index at ``path`` (default ``$CORPUS_INDEX`` or ``indexes/default``): a folder,
        ``milvus:PATH.db`` (Milvus Lite) or ``milvus://HOST:PORT[/NAME]`` (a Milvus server).

        Several indexes (a list of indexes and ``(name, index)`` pairs, or a mapping of
        collection names to indexes) open as one :class:`qa.Collections`, searched and
        answered from together.
        ``name`` names the collection (default: the index folder's name).

        Raises IndexNotFoundError, IndexCorruptError or ModelMismatchError.
        """
        if isinstance(path, Mapping) or (isinstance(path, Sequence) and not isinstance(path, str)):
            return cls._open_several(path, model=model, fusion_method=fusion_method, weights=weights)
        index = open_reader(path if path else default_index_dir(), model=model)
        return cls(index, fusion_method=fusion_method, weights=weights, model=model, name=name)

    @classmethod
    def _open_several(cls, locations, *, model, fusion_method, weights) -> Collections:
        """Every index of ``locations`` (a mapping of names to indexes, or a list of indexes,
        named by their folders, and ``(name, index)`` pairs) as one :class:`qa.Collections`.
        Raises as :meth:`open` does, or ValueError for two of one name; nothing stays open
        when one of them fails."""
        named = list(locations.items()) if isinstance(locations, Mapping) else [item if isinstance(item, tuple) else (None, item) for item in locations]
        opened: list[Library] = []
        try:
            for name, location in named:
                opened.append(cls.open(location, model=model, fusion_method=fusion_method, weights=weights, name=name or collection_name(location)))
            return Collections(opened, fusion_method=fusion_method, weights=weights)
        except BaseException:
            for lib in opened:
                lib.close()
            raise

    def close(self) -> None:
        with self._lock:
            for index in [self._index, *self._retired.values()]:
                index.close()
            self._retired.clear()
            self._reading.clear()

    @contextmanager
    def _snapshot(self) -> Iterator[Reader]:
        """The index one call reads from: the published generation.

        A build publishes a new generation while a server runs; at most once a
        second the library looks for one and switches to it. Each call reads one
        snapshot, so a switch never mixes generations within a query, and a
        replaced generation is closed (its vectors freed) as soon as the last
        call reading it is done, so a long-running server does not grow with
        every rebuild.
        """
        ix = self._acquire()
        try:
            yield ix
        finally:
            self._release(ix)

    def _acquire(self) -> Reader:
        now = time.monotonic()
        check = now - self._checked >= REFRESH_SECONDS
        published = None
        if check:
            self._checked = now
            published = self._index.published()
        with self._lock:
            if published is not None and published != self._index.generation:
                self._switch()
            ix = self._index
            self._reading[id(ix)] = self._reading.get(id(ix), 0) + 1
            return ix

    def _switch(self) -> None:
        """Open the published generation (called with the lock held)."""
        try:
            fresh = open_reader(self._index.location, model=self._model)
        except CorpusError as exc:  # keep answering from what we have
            log.warning("a new index generation was published but cannot be opened: %s", exc)
            return
        old, self._index = self._index, fresh
        log.info("switched to index generation %s", fresh.generation)
        if self._reading.get(id(old)):
            self._retired[id(old)] = old
        else:
            old.close()

    def _release(self, ix: Reader) -> None:
        with self._lock:
            left = self._reading.get(id(ix), 1) - 1
            if left > 0:
                self._reading[id(ix)] = left
                return
            self._reading.pop(id(ix), None)
            if self._retired.pop(id(ix), None) is not None:
                ix.close()

    @property
    def retired(self) -> int:
        """How many replaced generations are still open because calls read them."""
        with self._lock:
            return len(self._retired)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the index holds -------------------------------------------------------
    @property
    def manifest(self) -> dict[str, Any]:
        with self._snapshot() as ix:
            return ix.manifest

    @property
    def location(self) -> str:
        """Where the index is (its folder, or an engine's address)."""
        with self._snapshot() as ix:
            return ix.location

    @property
    def generation(self) -> str:
        """The name of the generation calls are answered from now."""
        with self._snapshot() as ix:
            return ix.generation

    def info(self) -> dict[str, Any]:
        with self._snapshot() as ix:
            m = ix.manifest
            return {
                "index": ix.location,
                "backend": m.get("backend", FOLDER_BACKEND),
                "generation": ix.generation,
                "built_at": m["built_at"],
                "articles": m["counts"]["articles"],
                "paragraphs": m["counts"]["paragraphs"],
                "pieces": m["counts"]["pieces"],
                "model": m["model"]["name"],
                "encoder": m["model"].get("encoder", "torch"),
                "dim": m["model"]["dim"],
                "vector_index": m["vector"]["index_type"],
                "analyzer": m["keyword"]["analyzer"],
                "sources": m["sources"],
                "bytes": ix.size_bytes(),
                "last_build": m["last_build"],
            }

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        if not _possible_id(article_id):
            return None
        with self._snapshot() as ix:
            return ix.article(article_id)

    def article_ids(self) -> list[str]:
        """The ids of every article in the index, sorted."""
        with self._snapshot() as ix:
            return ix.article_list()

    def article_hits(self, article_id: str, collection: str | None = None) -> list[Hit]:
        """Every paragraph of an article, in order, as hits with score 0 (none for an unknown
        id, or when ``collection`` names another collection than this library's)."""
        if not _possible_id(article_id) or collection not in (None, self.name):
            return []
        with self._snapshot() as ix:
            return [self._hit(r, 0.0) for r in ix.article_paragraphs(article_id)]

    # -- searching ----------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        *,
        fusion_method: str | None = None,
        weights: Sequence[float] | None = None,
        depth: int = DEPTH,
        where: Where | Mapping[str, Any] | Sequence[str] | None = None,
    ) -> Hits:
        """The ``k`` best paragraphs for ``query``.

        ``mode`` is ``hybrid`` (both sides fused), ``keyword`` or ``vector``.
        When the keyword side understands nothing in the query (only stop
        words or syntax), the vector side answers and ``Hits.notices`` says so.
        ``where`` keeps only paragraphs of the articles it admits (by source, date
        or metadata; see :mod:`corpus.filters`), inside each side's search, so
        ``k`` hits come back whenever ``k`` such paragraphs match.
        """
        return search_libraries([self], query, k, mode, fusion_method, weights, depth, where)

    def search_articles(
        self,
        query: str,
        k: int = 100,
        mode: str = "hybrid",
        *,
        fusion_method: str | None = None,
        weights: Sequence[float] | None = None,
        depth: int = 3 * DEPTH,
        _vector: np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        """The ``k`` best articles as ``(article_id, score)``: each side ranks an
        article by its best paragraph, then the article rankings are fused."""
        keyword, vector, mode = self.article_rankings(query, mode, depth=depth, _vector=_vector)
        return self._combine(keyword, vector, mode, fusion_method, weights)[:k]

    def article_rankings(self, query: str, mode: str = "hybrid", *, depth: int = 3 * DEPTH, _vector: np.ndarray | None = None):
        """Each side's ranking of articles (best paragraph first, at most DEPTH),
        before fusion, and the mode actually used."""
        text, notices = clean_query(query)
        check_mode(mode)
        with self._snapshot() as ix:
            _, keyword, vector, mode, _ = rank(ix, text, mode, depth, notices, _vector)
            heads = {pid for pid, _ in keyword} | {pid for pid, _ in vector}
            article_of = ix.article_ids(sorted(heads))
            keyword = fusion.collapse(keyword, article_of.__getitem__)[:DEPTH]
            vector = fusion.collapse(vector, article_of.__getitem__)[:DEPTH]
            return keyword, vector, mode

    # -- answers ------------------------------------------------------------------
    def ask(self, question: str, history=None, *, k: int | None = None, mode: str = "hybrid", where=None) -> Answer:
        """An extractive answer with cited quotes, or a plain decline; see :mod:`qa.answer`.
        ``where`` limits the passages as in :meth:`search`."""
        return self.answerer.ask(question, history, k=k, mode=mode, where=where)

    @property
    def answerer(self) -> Answerer:
        """The :class:`qa.answer.Answerer` of this library (created on first use)."""
        with self._lock:
            if self._answerer_instance is None:
                self._answerer_instance = Answerer(self)
            return self._answerer_instance

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings of texts with the index's model."""
        with self._snapshot() as ix:
            return ix.embedder.encode(list(texts))

    def embed_tokens(self, texts: Sequence[str]) -> list[TokenVectors]:
        """Each text's word-piece vectors and normalised embedding, in one pass of the index's model."""
        with self._snapshot() as ix:
            return ix.embedder.encode_tokens(list(texts))

    def query_terms(self, query: str) -> dict[str, float]:
        """The analysed terms of a query, each with its inverse document frequency."""
        with self._snapshot() as ix:
            parsed = ix.parse(query)
            return {} if parsed.empty else ix.idf(parsed.terms)

    def stems(self, text: str) -> set[str]:
        """The analysed terms of a text, as the keyword index sees them."""
        with self._snapshot() as ix:
            return ix.stems(text)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Embed many queries at once (for evaluations and benchmarks)."""
        with self._snapshot() as ix:
            return ix.embedder.encode([clean_query(q)[0] for q in queries])

    # -- internals ------------------------------------------------------------------
    def _hits(self, ix: Reader, terms, ranking, elsewhere, kw: Mapping, vec: Mapping) -> dict[int, Hit]:
        """The hits of a ranking of paragraph ids, by id in its order (``kw`` and ``vec``:
        each side's ``(rank, score)`` by id; ``elsewhere``: the articles holding copies)."""
        records = ix.paragraphs([pid for pid, _ in ranking])
        hits = {}
        for pid, score in ranking:
            record = records.get(pid)
            if record is None:  # cannot happen in a consistent index; never crash on it
                log.warning("paragraph %s is in an index but not in the store", pid)
                continue
            spans = ix.highlight_spans(record.text, terms)
            also_in = tuple(a for a in elsewhere.get(pid, ()) if a != record.article_id)
            hits[pid] = self._hit(record, score, spans, kw.get(pid), vec.get(pid), also_in)
        return hits

    def _combine(self, keyword, vector, mode: str, method: str | None, weights: Sequence[float] | None):
        if mode == "keyword":
            return list(keyword)
        if mode == "vector":
            return list(vector)
        return fusion.fuse([keyword, vector], method or self.fusion_method, weights if weights is not None else self.weights)

    def _hit(self, record, score: float, spans=(), kw=None, vec=None, also_in: tuple[str, ...] = ()) -> Hit:
        return Hit(
            id=paragraph_id(record.article_id, record.number),
            article_id=record.article_id,
            title=record.title,
            paragraph=record.number,
            text=record.text,
            source=record.source,
            score=float(score),
            start=record.start,
            end=record.end,
            url=record.url,
            date=record.date,
            highlights=tuple(spans),
            keyword_rank=kw[0] if kw else None,
            vector_rank=vec[0] if vec else None,
            keyword_score=kw[1] if kw else None,
            vector_score=vec[1] if vec else None,
            also_in=also_in,
            collection=self.name,
            page=record.page,
        )


def collection_name(location: str | os.PathLike[str]) -> str:
    """The name a collection goes by unless given one: its index folder's name, a Milvus Lite
    file's stem, or a Milvus server's collection."""
    text = os.fspath(location)
    if text.startswith("milvus://"):
        rest = text[len("milvus://") :].rstrip("/")
        return rest.split("/", 1)[1] if "/" in rest else "milvus"
    if text.startswith("milvus:"):
        return Path(text[len("milvus:") :]).stem or "milvus"
    return Path(text).resolve().name or "index"


def _possible_id(article_id: object) -> bool:
    """Whether an id can name an article at all (text an index can store, of a sane length)."""
    if not isinstance(article_id, str) or not 0 < len(article_id) <= 1000:
        return False
    try:
        article_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


