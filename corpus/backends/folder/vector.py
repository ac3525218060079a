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

Single queries run on one OpenMP thread: on this kind of machine two threads
made one exact query over 100k vectors three times slower (40 ms against 14 ms),
the cost of waking the threads being larger than the work they share.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import faiss
import numpy as np

from ...errors import IndexCorruptError

#: From this many vectors on, a build makes an approximate (IVF) index.
ANN_MIN_VECTORS = 200_000
#: Recall@10 against exact search that the chosen nprobe must reach on the build's self-check.
TARGET_RECALL = 0.95
NPROBES = (8, 16, 32, 64, 128, 256)
#: Threads for batches, training and adding; single queries use one.
BATCH_THREADS = max(1, os.cpu_count() or 1)
EXACT = "IDMap2,Flat(IP)"


class VectorIndex:
    def __init__(self, index, recall: float | None = None) -> None:
        self._index = index
        self.self_check_recall = recall

    @classmethod
    def create(cls, dim: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise IndexCorruptError(f"vector index {path} cannot be read: {str(exc).splitlines()[0]}") from exc
        return cls(index)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

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
        return self._index.ntotal

    def ids(self) -> np.ndarray:
        if self.approximate:
            ids = [faiss.rev_swig_ptr(self._index.invlists.get_ids(c), self._index.invlists.list_size(c)) for c in range(self._index.nlist)]
            return np.concatenate([np.array(x, dtype=np.int64) for x in ids]) if ids else np.empty(0, dtype=np.int64)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def update(self, remove: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]]) -> VectorIndex:
        """Remove the ids ``remove``, then add each ``(ids, vectors)`` part; the index to keep using.

        ``parts`` is emptied as it is added, so each part's memory can go. An exact
        index that would reach :data:`ANN_MIN_VECTORS` is replaced by an approximate
        one trained on all its vectors."""
        faiss.omp_set_num_threads(BATCH_THREADS)
        self._remove(remove)
        if self.approximate or len(self) + sum(len(ids) for ids, _ in parts) < ANN_MIN_VECTORS:
            while parts:
                self._add(*parts.pop())
            return self
        kept = self.ids()
        if len(kept):
            parts.append((kept, self.reconstruct(kept)))
            self._index.reset()
        return _train_ivf(parts, self.dim)

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def _remove(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        # the IVF's id hashtable removes only by an explicit array of ids
        selector = faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)) if self.approximate else faiss.IDSelectorBatch(ids)
        return int(self._index.remove_ids(selector))

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (which must all be present)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.empty((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(ids)

    def search(self, vectors: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
        """The ``k`` nearest ids of each query vector as ``(id, cosine)``, best first; only
        ids in ``allowed`` when given (FAISS skips the others during the search)."""
        if k <= 0 or self._index.ntotal == 0 or (allowed is not None and not len(allowed)):
            return [[] for _ in range(len(vectors))]
        faiss.omp_set_num_threads(1 if len(vectors) == 1 else BATCH_THREADS)  # per calling thread
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            ivf = faiss.try_extract_index_ivf(self._index)
            params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe) if ivf is not None else faiss.SearchParameters(sel=selector)
            k = min(k, len(allowed))
        scores, ids = self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(k, self._index.ntotal), params=params)
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
