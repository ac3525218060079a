"""The library facade: open an index, search it (keyword, vector or hybrid)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from corpus.documents import Article, paragraph_id
from corpus.embed import TokenVectors
from corpus.errors import CorpusError, QueryError
from corpus.backend import FOLDER_BACKEND, Admitted, Reader, default_index_dir, open_reader
from corpus.filters import Where

from . import fusion
from .answer import Answer, Answerer
from .hits import Hit, Hits
from .query import MAX_QUERY_CHARS, clean_query  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from .collections import Collections

log = logging.getLogger(__name__)

MODES = ("hybrid", "keyword", "vector")
#: Candidates taken from each side before fusing.
DEPTH = 100
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

        Several indexes (a list, or a mapping of collection names to indexes; see
        :meth:`qa.Collections.open`) open as one :class:`qa.Collections`, searched and
        answered from together.
        ``name`` names the collection (default: the index folder's name).

        Raises IndexNotFoundError, IndexCorruptError or ModelMismatchError.
        """
        if isinstance(path, Mapping) or (isinstance(path, Sequence) and not isinstance(path, str)):
            from .collections import Collections

            return Collections.open(path, model=model, fusion_method=fusion_method, weights=weights)
        index = open_reader(path if path else default_index_dir(), model=model)
        return cls(index, fusion_method=fusion_method, weights=weights, model=model, name=name)

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
        _check_mode(mode)
        with self._snapshot() as ix:
            _, keyword, vector, mode, _ = self._rank(ix, text, mode, depth, notices, _vector)
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
    def _rank(self, ix: Reader, text: str, mode: str, depth: int, notices: list[str], qvec: np.ndarray | None = None, where=None):
        """Each side's ranking of paragraphs (by id), best first."""
        parsed = ix.parse(text)
        admitted = _admit(ix, where)
        keyword: list[tuple[int, float]] = []
        vector: list[tuple[int, float]] = []
        if mode in ("hybrid", "keyword"):
            if parsed.empty:
                notices.append("no searchable words for the keyword index (only stop words or syntax); answered by meaning alone")
                mode = "vector"
            else:
                keyword = ix.keyword_search(parsed, depth, admitted)
        if mode in ("hybrid", "vector"):
            if qvec is None:
                qvec = ix.embedder.encode([text])[0]
            vector = ix.vector_search(qvec, depth, admitted)
        return parsed, keyword, vector, mode, admitted

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
        )


def search_libraries(
    members: Sequence[Library], query: str, k: int, mode: str, fusion_method: str | None, weights: Sequence[float] | None, depth: int, where
) -> Hits:
    """:meth:`Library.search` over one library or several (:class:`qa.Collections`).

    Each side (keyword, vector) ranks every library's paragraphs by its own scores;
    the sides are merged across libraries and then fused, so a library with nothing
    on the query adds nothing to the top ``k``. Copies fold across libraries too.
    Paragraphs are told apart as ``(member, paragraph id)``.
    """
    text, notices = clean_query(query)
    _check_mode(mode)
    if k <= 0:
        return Hits(query=text, mode=mode, notices=notices)
    depth = max(depth, k)
    with ExitStack() as stack:
        readers = [stack.enter_context(lib._snapshot()) for lib in members]
        vectors: dict[str, np.ndarray] = {}  # one query embedding per model
        keyword: list[tuple[tuple[int, int], float]] = []
        vector: list[tuple[tuple[int, int], float]] = []
        terms, said, used, admitted = [], [], set(), []
        for i, (lib, ix) in enumerate(zip(members, readers)):
            qvec = None
            if mode != "keyword":
                model = str(ix.manifest["model"].get("name"))
                qvec = vectors[model] = vectors[model] if model in vectors else ix.embedder.encode([text])[0]
            own: list[str] = []
            parsed, kw, vec, used_mode, admits = lib._rank(ix, text, mode, depth, own, qvec, where)
            admitted.append(admits)
            used.add(used_mode)
            terms.append(parsed.terms)
            said.append(own)
            keyword += [((i, pid), score) for pid, score in kw]
            vector += [((i, pid), score) for pid, score in vec]
        keyword.sort(key=lambda item: -item[1])
        vector.sort(key=lambda item: -item[1])
        mode = "vector" if used == {"vector"} else mode
        ranking, elsewhere = _fold_copies(_Joined(members, readers), members[0]._combine(keyword, vector, mode, fusion_method, weights), k)
        kw_ranks, vec_ranks = _ranks(keyword), _ranks(vector)
        made: dict[tuple[int, int], Hit] = {}
        for i, (lib, ix) in enumerate(zip(members, readers)):
            mine = [(pid, score) for (m, pid), score in ranking if m == i]
            if not mine:
                continue
            also = {pid: _local(lib.name, elsewhere[(m, pid)]) for (m, pid) in elsewhere if m == i}
            kw = {pid: r for (m, pid), r in kw_ranks.items() if m == i}
            vec = {pid: r for (m, pid), r in vec_ranks.items() if m == i}
            made.update({(i, pid): hit for pid, hit in lib._hits(ix, terms[i], mine, also, kw, vec).items()})
        hits = [made[key] for key, _ in ranking if key in made]
    return Hits(hits, query=text, mode=mode, notices=notices + _filter_notices(where, admitted) + _merge_notices(members, said))


def _ranks(ranking: Sequence[tuple[Any, float]]) -> dict[Any, tuple[int, float]]:
    """Each id of a ranking with its 1-based rank and score."""
    return {pid: (rank, score) for rank, (pid, score) in enumerate(ranking, start=1)}


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


def _fold_copies(ix: _Joined, ranking: list[tuple[Any, float]], k: int) -> tuple[list[tuple[Any, float]], dict[Any, list[str]]]:
    """The ``k`` best of a ranking with copies of one paragraph folded into the best of
    them (the same words in syndicated or updated stories), and for each kept paragraph
    that has copies, every article holding one."""
    kept: list[tuple[int, float]] = []
    first: dict[str, int] = {}  # copy key -> the kept paragraph
    folded: dict[int, list[int]] = {}  # kept paragraph -> its copies among the candidates
    pos = 0
    while len(kept) < k and pos < len(ranking):
        chunk = ranking[pos : pos + max(2 * k, 20)]
        pos += len(chunk)
        keys = ix.duplicate_keys([pid for pid, _ in chunk])
        for pid, score in chunk:
            key = keys.get(pid)
            if key is not None and key in first:
                folded[first[key]].append(pid)
                continue
            if key is not None:
                first[key] = pid
                folded[pid] = []
            kept.append((pid, score))
            if len(kept) == k:
                break
    if not first:
        return kept, {}
    copies = ix.copies(first)
    among = ix.article_ids([p for pids in folded.values() for p in pids])
    elsewhere = {}
    for key, pid in first.items():
        articles = set(copies.get(key, ())) | {among[p] for p in folded[pid] if p in among}
        if len(articles) > 1 or folded[pid]:
            elsewhere[pid] = sorted(articles)
    return kept, elsewhere


class _Joined:
    """The readers of one or more collections as one for folding copies: ids are ``(member, paragraph)``,
    articles of a collection are named ``collection:article``."""

    def __init__(self, members: Sequence[Library], readers: Sequence[Any]) -> None:
        self._members = members
        self._readers = readers

    def _split(self, ids: Sequence[tuple[int, int]]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for m, pid in ids:
            out.setdefault(m, []).append(pid)
        return out

    def duplicate_keys(self, ids: Sequence[tuple[int, int]]) -> dict[tuple[int, int], str]:
        out = {}
        for m, pids in self._split(ids).items():
            out.update({(m, pid): key for pid, key in self._readers[m].duplicate_keys(pids).items()})
        return out

    def copies(self, keys: Iterable[str]) -> dict[str, list[str]]:
        keys = list(keys)
        out: dict[str, list[str]] = {}
        for lib, ix in zip(self._members, self._readers):
            for key, articles in ix.copies(keys).items():
                out.setdefault(key, []).extend(f"{lib.name}:{a}" for a in articles)
        return out

    def article_ids(self, ids: Sequence[tuple[int, int]]) -> dict[tuple[int, int], str]:
        out = {}
        for m, pids in self._split(ids).items():
            name = self._members[m].name
            out.update({(m, pid): f"{name}:{a}" for pid, a in self._readers[m].article_ids(pids).items()})
        return out


def _local(name: str, articles: Sequence[str]) -> list[str]:
    """``collection:article`` names as a hit of collection ``name`` shows them: its own articles plainly."""
    prefix = f"{name}:"
    return [a[len(prefix) :] if a.startswith(prefix) else a for a in articles]


def _merge_notices(members: Sequence[Library], said: Sequence[list[str]]) -> list[str]:
    """Notices every collection gave, once; those of some, with their collection's name."""
    out: list[str] = []
    for lib, notices in zip(members, said):
        for notice in notices:
            shared = all(notice in other for other in said)
            line = notice if shared else f"{lib.name}: {notice}"
            if line not in out:
                out.append(line)
    return out


def _admit(ix: Reader, where) -> Admitted | None:
    """What a filter lets through (None without one)."""
    spec = Where.of(where)
    return ix.admit(spec) if spec is not None else None


def _filter_notices(where, admitted: Sequence[Admitted | None]) -> list[str]:
    """What a filter left out unseen, over every collection searched: that nothing matched, or
    how many undated articles a date filter left out (summed, said once)."""
    spec = Where.of(where)
    if spec is None:
        return []
    notices = []
    if not any(a.articles for a in admitted if a is not None):
        notices.append(f"no article matches the filter ({spec.describe()})")
    undated = sum(a.undated for a in admitted if a is not None)
    if undated:
        notices.append(f"{undated:,} article{'' if undated == 1 else 's'} without a date {'was' if undated == 1 else 'were'} left out by the date filter")
    return notices


def _possible_id(article_id: object) -> bool:
    """Whether an id can name an article at all (text an index can store, of a sane length)."""
    if not isinstance(article_id, str) or not 0 < len(article_id) <= 1000:
        return False
    try:
        article_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise QueryError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
