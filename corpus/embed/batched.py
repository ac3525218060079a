"""Encoding in batches sorted by length, shared by the PyTorch and the ONNX encoders."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .model import EncodeProgress, ModelInfo
from .wordpieces import TokenVectors, WordPieces

#: Texts per batch of :meth:`Batched.encode_tokens`: an answer's few dozen short sentences,
#: sorted by length, are padded least in small batches. Measured over the sentences of 20
#: BBC answers (30 a question), ms a question with the fp32 ONNX encoder at 1 / 2 / 4 / 8 /
#: 16 / 32 / 64 texts a batch: 195 / 191 / 175 / 158 / 176 / 200 / 215 (int8: 8 gives 81, 32 gives 99).
TOKEN_BATCH = 8
#: A call with at most this many texts embeds a query (or a question and the conversation's
#: query): its vectors are kept, so that a question's search and its answer, which reads the
#: question's word pieces in a pass of its own, embed it once, and a question asked again
#: is not embedded again.
QUERY_TEXTS = 2
#: Query texts whose vectors each encoder keeps (1.5 KB each).
RECENT_QUERIES = 4096

_recent_lock = threading.Lock()


class Batched:
    """Encoding in batches sorted by length (less padding), results in input order."""

    info: ModelInfo
    _lock: threading.Lock
    _words: WordPieces

    @property
    def max_tokens(self) -> int:
        return self.info.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._words.count_tokens(texts)

    def _encode_sorted(self, texts: list[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def _encode_tokens_sorted(self, texts: list[str], batch_size: int) -> list[TokenVectors]:
        raise NotImplementedError

    def _tokenized(self, texts: list[str], batch_size: int):
        """The texts in batches as the model reads them (padded, cut to its window), each
        piece with its place in the text (``offset_mapping``), as numpy arrays."""
        for lo in range(0, len(texts), batch_size):
            yield self._words.batch(texts[lo : lo + batch_size], self.info.max_tokens)

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = TOKEN_BATCH) -> list[TokenVectors]:
        """Each text's word-piece vectors and its sentence vector, in one pass of the model
        (the answerer compares a question's words with a sentence's, ColBERT's late interaction)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[TokenVectors | None] = [None] * len(texts)
        if texts:
            with self._lock:
                for i, row in zip(order, self._encode_tokens_sorted([texts[i] for i in order], batch_size)):
                    out[i] = row
            if len(texts) <= QUERY_TEXTS:
                self._remember(texts, [row.pooled for row in out])  # type: ignore[union-attr]
        return out  # type: ignore[return-value]

    def _remember(self, texts: Sequence[str], vectors: Sequence[np.ndarray]) -> None:
        recent = self.__dict__.setdefault("_recent", OrderedDict())
        with _recent_lock:
            for text, vector in zip(texts, vectors):
                recent[text] = np.array(vector, dtype=np.float32)  # a copy: the caller's array may change
                recent.move_to_end(text)
            while len(recent) > RECENT_QUERIES:
                recent.popitem(last=False)

    def _recall(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        recent = self.__dict__.get("_recent")
        if not recent:
            return [None] * len(texts)
        with _recent_lock:
            return [recent.get(text) for text in texts]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: EncodeProgress | None = None) -> np.ndarray:
        n = len(texts)
        if 0 < n <= QUERY_TEXTS:
            known = self._recall(texts)
            if all(v is not None for v in known):
                return np.stack(known)  # type: ignore[arg-type]
            out = self._encode_all(texts, batch_size, progress)
            self._remember(texts, list(out))
            return out
        return self._encode_all(texts, batch_size, progress)

    def _encode_all(self, texts: Sequence[str], batch_size: int, progress: EncodeProgress | None) -> np.ndarray:
        n = len(texts)
        out = np.empty((n, self.info.dim), dtype=np.float32)
        if n == 0:
            return out
        order = sorted(range(n), key=lambda i: len(texts[i]), reverse=True)
        chunk = max(batch_size * 8, 256)
        for lo in range(0, n, chunk):
            idx = order[lo : lo + chunk]
            with self._lock:
                out[idx] = self._encode_sorted([texts[i] for i in idx], batch_size)
            if progress:
                progress(min(lo + chunk, n), n)
        return out


