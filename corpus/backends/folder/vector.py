"""The vector index: FAISS over L2-normalised embeddings, inner-product search.

Nothing outside this module imports FAISS. Vectors are kept under the piece ids
of the store, so ids survive deletions and vectors can be read back for reuse in
incremental builds.

Search is exact (``IndexIDMap2`` over ``IndexFlatIP``; on normalised vectors,
cosine similarity) below :data:`ANN_MIN_VECTORS`. One exact query reads every
vector: measured on one core, 14 ms at 100k vectors, 41 ms at 300k and 146 ms at
1M, so larger indexes switch to an inverted file (``IndexIVFFlat``): k-means
cells, of which a query scans the ``nprobe`` nearest. IVF was chosen over HNSW
because it removes ids in place (incremental builds delete replaced paragraphs;
FAISS's HNSW cannot) and keeps the vectors exactly (so reuse stays exact).
``nprobe`` is chosen by the build: the smallest that finds
:data:`TARGET_RECALL` of the exact top 10 for question-like queries made from
stored vectors (see :data:`CHECK_MIX`).

An incremental build does not rewrite the vector file: a generation keeps the file of the
one before (hard-linked, never written again), the vectors added since in a small exact
index beside it (``.added``) and the ids removed from the file (``.removed``); searches
look in both and skip the removed ids inside FAISS (a selector). When the changes reach
:data:`CHANGES_SHARE` of the file, the build writes one file again. An edit's cost then
follows the change, not the corpus (at 100k pieces, reading and writing the whole file
was a quarter of an edit).

Single queries run on one OpenMP thread: on this kind of machine two threads
made one exact query over 100k vectors three times slower (40 ms against 14 ms),
the cost of waking the threads being larger than the work they share.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

from ...errors import IndexCorruptError
from .links import link_or_copy

#: From this many vectors on, a build makes an approximate (IVF) index.
ANN_MIN_VECTORS = 200_000
#: Recall@10 against exact search that the chosen nprobe must reach on the build's self-check.
TARGET_RECALL = 0.95
NPROBES = (8, 16, 32, 64, 128, 256)
#: Threads for batches, training and adding; single queries use one.
BATCH_THREADS = max(1, os.cpu_count() or 1)
EXACT = "IDMap2,Flat(IP)"
#: Changes (vectors added and removed since the file was written) kept beside the vector
#: file until they reach this share of it; then the file is written again, whole.
CHANGES_SHARE = 0.1
#: A vector file smaller than this is always written whole (it costs less than the bookkeeping).
CHANGES_MIN_VECTORS = 20_000
#: Beside the vector file ``F``: ``F.added`` (a FAISS index) and ``F.removed.npy`` (int64 ids).
ADDED, REMOVED = ".added", ".removed.npy"


@contextlib.contextmanager
def omp_threads(n: int) -> Iterator[None]:
    """OpenMP threads for the calling thread's FAISS calls, restored after: FAISS and PyTorch
    share one OpenMP runtime, and a single query's setting of one thread left every later
    PyTorch encoding in that thread on one core (300 against 180 ms for an answer's sentences)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _read(path: Path, flags: int = 0):
    try:
        return faiss.read_index(str(path), flags)
    except Exception as exc:  # faiss raises RuntimeError with a C++ message
        raise IndexCorruptError(f"vector index {path} cannot be read: {str(exc).splitlines()[0]}") from exc


def _exact(dim: int):
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _id_map(index) -> np.ndarray:
    """The ids an exact (``IDMap2``) index holds, in its order."""
    return faiss.vector_to_array(index.id_map).astype(np.int64)


def _beside(path: Path) -> tuple[Path, Path]:
    """The files of the changes kept beside the vector file ``path``: added, removed."""
    return path.with_name(path.name + ADDED), path.with_name(path.name + REMOVED)


class VectorIndex:
    """The vectors of one generation: a FAISS index read from a file (``file``, when it is
    unchanged since it was read) and the changes since (see the module's docstring)."""

    def __init__(self, index, recall: float | None = None, file: Path | None = None, added=None, removed: np.ndarray | None = None) -> None:
        self._index = index
        self.self_check_recall = recall
        self._file = file  # where ``_index`` is on disk, as it is; None once it changed
        self._mapped = file is not None  # an exact index read from ``file`` is mapped, not copied (see load)
        self._added = added if added is not None else _exact(index.d)
        self._set_removed(removed if removed is not None else np.empty(0, dtype=np.int64))

    def _set_removed(self, removed: np.ndarray) -> None:
        """The ids of ``_index`` that are gone (sorted), and the selector that skips them in a
        search, made here once (readers share it across threads; FAISS only reads it)."""
        self._removed = removed
        batch = faiss.IDSelectorBatch(removed) if len(removed) else None
        self._skip = (faiss.IDSelectorNot(batch), batch) if batch is not None else None  # the inner one must outlive the outer

    @classmethod
    def create(cls, dim: int) -> VectorIndex:
        return cls(_exact(dim))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """The vectors of a generation. An exact index's vectors are mapped from the file, not
        read (100k vectors: 13 ms against 180 ms; processes that open the same index share
        its pages): files are never written again once published (see :meth:`save`)."""
        index = _read(path, faiss.IO_FLAG_MMAP_IFC)
        added_file, removed_file = _beside(path)
        added = _read(added_file) if added_file.exists() else None
        removed = None
        if removed_file.exists():
            try:
                removed = np.load(removed_file, allow_pickle=False).astype(np.int64)
            except (OSError, ValueError) as exc:
                raise IndexCorruptError(f"vector index {path}: its removed ids cannot be read: {exc}") from exc
        if added is not None and added.d != index.d:
            raise IndexCorruptError(f"vector index {path}: its added vectors have {added.d} dimensions, not {index.d}")
        return cls(index, file=path, added=added, removed=removed)

    def save(self, path: Path) -> None:
        """Write the generation's vectors at ``path``: the file as it was read, linked, with
        the changes beside it; or one file, when it changed or the changes grew large."""
        added_file, removed_file = _beside(path)
        for stale in (path, added_file, removed_file):
            stale.unlink(missing_ok=True)  # never write through a link into another generation's file
        if self._file is None:
            faiss.write_index(self._index, str(path))
            return
        link_or_copy(str(self._file), str(path))
        if self._added.ntotal:
            faiss.write_index(self._added, str(added_file))
        if len(self._removed):
            np.save(removed_file, self._removed, allow_pickle=False)

    @property
    def changes(self) -> int:
        """Vectors added and removed since the file was written."""
        return int(self._added.ntotal + len(self._removed))

    @property
    def dim(self) -> int:
        return self._index.d

    @property
    def approximate(self) -> bool:
        return isinstance(self._index, faiss.IndexIVF)

    @property
    def index_type(self) -> str:
        """What the manifest records: ``IDMap2,Flat(IP)`` or ``IVF<n>,Flat(IP),nprobe=<p>``."""
        if self.approximate:
            return f"IVF{self._index.nlist},Flat(IP),nprobe={self._index.nprobe}"
        return EXACT

    def __len__(self) -> int:
        return int(self._index.ntotal - len(self._removed) + self._added.ntotal)

    def ids(self) -> np.ndarray:
        if self.approximate:
            ids = [faiss.rev_swig_ptr(self._index.invlists.get_ids(c), self._index.invlists.list_size(c)) for c in range(self._index.nlist)]
            held = np.concatenate([np.array(x, dtype=np.int64) for x in ids]) if ids else np.empty(0, dtype=np.int64)
        else:
            held = _id_map(self._index)
        if len(self._removed):
            held = held[~np.isin(held, self._removed)]
        return np.concatenate([held, _id_map(self._added)])

    def update(self, remove: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]]) -> VectorIndex:
        """Remove the ids ``remove``, then add each ``(ids, vectors)`` part; the index to keep using.

        ``parts`` is emptied as it is added, so each part's memory can go. The changes are
        kept beside the file read (see the module's docstring) while they are small. An
        exact index that would reach :data:`ANN_MIN_VECTORS` is replaced by an approximate
        one trained on all its vectors."""
        with omp_threads(BATCH_THREADS):
            return self._update(np.asarray(remove, dtype=np.int64), parts)

    def _update(self, remove: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]]) -> VectorIndex:
        adding = sum(len(ids) for ids, _ in parts)
        if not self.approximate and len(self) - len(remove) + adding >= ANN_MIN_VECTORS:
            self._merge()
            self._remove(self._index, remove)
            kept = self.ids()
            if len(kept):
                parts.append((kept, self.reconstruct(kept)))
                self._index.reset()
            return _train_ivf(parts, self.dim)
        if self._file is None or self._index.ntotal < CHANGES_MIN_VECTORS:
            self._merge()
            self._remove(self._index, remove)
            target = self._index
        else:  # beside the file: removed ids of the file are listed, added vectors go to the changes
            in_added = np.isin(remove, _id_map(self._added))
            self._remove(self._added, remove[in_added])
            self._set_removed(np.union1d(self._removed, remove[~in_added]))
            target = self._added
        while parts:
            ids, vectors = parts.pop()
            if len(ids):
                target.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        if self._file is not None and self.changes > CHANGES_SHARE * self._index.ntotal:
            self._merge()
        return self

    def _own(self) -> None:
        """Read a mapped index into memory, to change it."""
        if self._mapped:
            self._index = _read(self._file)
            self._mapped = False

    def _merge(self) -> None:
        """Fold the changes into the index itself (which then has to be written whole)."""
        self._own()
        self._file = None
        if len(self._removed):
            self._remove(self._index, self._removed)
            self._set_removed(np.empty(0, dtype=np.int64))
        if self._added.ntotal:
            ids = _id_map(self._added)
            self._index.add_with_ids(self._added.reconstruct_batch(ids), ids)
            self._added = _exact(self.dim)

    @staticmethod
    def _remove(index, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        # the IVF's id hashtable removes only by an explicit array of ids
        selector = faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)) if isinstance(index, faiss.IndexIVF) else faiss.IDSelectorBatch(ids)
        return int(index.remove_ids(selector))

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (which must all be present)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.empty((0, self.dim), dtype=np.float32)
        if not self._added.ntotal:
            return self._index.reconstruct_batch(ids)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        added = np.isin(ids, _id_map(self._added))
        if added.any():
            out[added] = self._added.reconstruct_batch(ids[added])
        if (~added).any():
            out[~added] = self._index.reconstruct_batch(ids[~added])
        return out

    def search(self, vectors: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
        """The ``k`` nearest ids of each query vector as ``(id, cosine)``, best first; only
        ids in ``allowed`` when given (FAISS skips the others during the search)."""
        if k <= 0 or len(self) == 0 or (allowed is not None and not len(allowed)):
            return [[] for _ in range(len(vectors))]
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if allowed is not None:
            allowed = np.ascontiguousarray(allowed, dtype=np.int64)
            k = min(k, len(allowed))
        with omp_threads(1 if len(vectors) == 1 else BATCH_THREADS):
            rows = self._search(self._index, vectors, k, allowed, skip_removed=True)
            if self._added.ntotal:  # the changes since the file: merged by score
                extra = self._search(self._added, vectors, k, allowed, skip_removed=False)
                rows = [sorted(a + b, key=lambda hit: -hit[1])[:k] for a, b in zip(rows, extra)]
        return rows

    def _search(self, index, vectors: np.ndarray, k: int, allowed: np.ndarray | None, *, skip_removed: bool) -> list[list[tuple[int, float]]]:
        if index.ntotal == 0:
            return [[] for _ in range(len(vectors))]
        selector = keep = None
        if allowed is not None:
            selector = keep = faiss.IDSelectorBatch(allowed)
        if skip_removed and self._skip is not None:
            selector = faiss.IDSelectorAnd(keep, self._skip[0]) if keep is not None else self._skip[0]
        params = None
        if selector is not None:
            ivf = faiss.try_extract_index_ivf(index)
            params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe) if ivf is not None else faiss.SearchParameters(sel=selector)
        scores, ids = index.search(vectors, min(k, index.ntotal), params=params)
        del keep
        return [
            [(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
            for row_ids, row_scores in zip(ids, scores)
        ]


def _train_ivf(parts: list[tuple[np.ndarray, np.ndarray]], dim: int, *, seed: int = 0) -> VectorIndex:
    """An IVF index over the vectors of ``parts`` (emptied as they are added): about
    sqrt(n) cells (a power of two), trained on at most 64 vectors a cell, with the
    smallest nprobe that reaches TARGET_RECALL."""
    n = sum(len(ids) for ids, _ in parts)
    nlist = min(2 ** max(4, round(math.log2(math.sqrt(n)))), max(1, n // 39))  # k-means wants >= 39 points a cell
    rng = np.random.default_rng(seed)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(_rows(parts, rng.choice(n, size=min(n, 64 * nlist), replace=False)))
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
    queries = sum(_rows(parts, rng.choice(n, size=CHECK_QUERIES)) for _ in range(CHECK_MIX))
    queries /= np.clip(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12, None)
    exact = _exact_scores(queries, parts)
    while parts:
        ids, vectors = parts.pop()
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        del ids, vectors
    nprobe, recall = _choose_nprobe(index, queries, exact)
    index.nprobe = nprobe
    return VectorIndex(index, recall)


#: Queries of the build's recall check: each the normalised mean of CHECK_MIX random stored
#: vectors, a point between topics, far from any one paragraph, as questions are. Over 1M
#: synthetic BBC vectors their recall at each nprobe tracked that of 200 SQuAD questions
#: from just below (nprobe 64: 0.916 against 0.926; 128: 0.967 against 0.969), where the
#: midpoints of two vectors (0.995 at 64) and stored vectors plus noise were far too easy.
CHECK_QUERIES = 200
CHECK_MIX = 8


def _rows(parts: list[tuple[np.ndarray, np.ndarray]], positions: np.ndarray) -> np.ndarray:
    """Rows of the parts' vectors taken as one matrix, by position."""
    starts = np.cumsum([0] + [len(ids) for ids, _ in parts])
    out = np.empty((len(positions), parts[0][1].shape[1]), dtype=np.float32)
    which = np.searchsorted(starts, positions, side="right") - 1
    for p, (_, vectors) in enumerate(parts):
        mine = which == p
        out[mine] = vectors[positions[mine] - starts[p]]
    return out


def _exact_scores(queries: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]], k: int = 10) -> np.ndarray:
    """The exact top-k scores of each query over all parts, best first."""
    scores = [faiss.knn(queries, vectors, min(k, len(vectors)), metric=faiss.METRIC_INNER_PRODUCT)[0] for _, vectors in parts if len(vectors)]
    return -np.sort(-np.concatenate(scores, axis=1), axis=1)[:, :k]


def _choose_nprobe(index, queries: np.ndarray, exact: np.ndarray) -> tuple[int, float]:
    """The smallest nprobe whose top 10 reaches TARGET_RECALL of the exact top 10."""
    recall = 0.0
    for nprobe in NPROBES:
        index.nprobe = min(nprobe, index.nlist)
        found, _ = index.search(queries, exact.shape[1])
        recall = recall_at_k(exact, found)
        if recall >= TARGET_RECALL or nprobe >= index.nlist:
            break
    return index.nprobe, recall


def recall_at_k(exact_scores: np.ndarray, found_scores: np.ndarray, eps: float = 1e-5) -> float:
    """The share of the approximate top k that scores at least the exact k-th best.

    Counting by score, not by id, keeps ties fair: of several equally similar
    vectors, exact and approximate search may keep different ones."""
    kth = exact_scores[:, -1:]
    return float(np.mean(np.sum(found_scores >= kth - eps, axis=1) / exact_scores.shape[1]))
