"""Searching one library or several: each side's ranking, fusion across collections, copies folded."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import numpy as np

from corpus.backend import Admitted, Reader
from corpus.errors import QueryError
from corpus.filters import Where

from .hits import Hit, Hits
from .query import clean_query

if TYPE_CHECKING:
    from .library import Library

MODES = ("hybrid", "keyword", "vector")
#: Candidates taken from each side before fusing.
DEPTH = 100


def rank(ix: Reader, text: str, mode: str, depth: int, notices: list[str], qvec: np.ndarray | None = None, where=None):
    """Each side's ranking of one reader's paragraphs (by id), best first; the parsed query,
    the mode actually used (vector when the keyword side understands nothing) and what
    ``where`` admits. Notices go to ``notices``."""
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
    check_mode(mode)
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
            parsed, kw, vec, used_mode, admits = rank(ix, text, mode, depth, own, qvec, where)
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
    if not any(a.count for a in admitted if a is not None):
        notices.append(f"no article matches the filter ({spec.describe()})")
    undated = sum(a.undated for a in admitted if a is not None)
    if undated:
        notices.append(f"{undated:,} article{'' if undated == 1 else 's'} without a date {'was' if undated == 1 else 'were'} left out by the date filter")
    return notices


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise QueryError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
