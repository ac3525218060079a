"""Encoding in batches sorted by length, shared by the PyTorch and the ONNX encoders."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from .model import EncodeProgress, ModelInfo
from .wordpieces import TokenVectors, WordPieces


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

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        """Each text's word-piece vectors and its sentence vector, in one pass of the model
        (the answerer compares a question's words with a sentence's, ColBERT's late interaction)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[TokenVectors | None] = [None] * len(texts)
        if texts:
            with self._lock:
                for i, row in zip(order, self._encode_tokens_sorted([texts[i] for i in order], batch_size)):
                    out[i] = row
        return out  # type: ignore[return-value]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: EncodeProgress | None = None) -> np.ndarray:
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


