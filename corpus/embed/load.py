"""Loading models once per process: the tokenizer alone, the embedder an index was built
with, and the query encoder (the fp32 ONNX export of the same weights, exported on first use)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelMismatchError
from .model import (
    DEFAULT_ENCODER,
    Embedder,
    Tokenizer,
    cache_dir,
    default_model_path,
    file_sha256,
    model_fingerprint,
)
from .onnx import OnnxEmbedder, export_onnx
from .pytorch import SentenceTransformerEmbedder
from .wordpieces import WordPieces

log = logging.getLogger(__name__)

_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()  # guards the dicts; each model loads under its own lock
_loading: dict[str, threading.Lock] = {}
_tokenizers: dict[str, WordPieces] = {}


def _model_key(path: str | os.PathLike[str] | None) -> str:
    """One key per model folder, however it is named (a build given no model and one given
    the path its index recorded share one loaded model)."""
    return str(Path(path or default_model_path()).resolve())


def load_tokenizer(path: str | os.PathLike[str] | None = None) -> Tokenizer:
    """A model's tokenizer without its weights. It never waits for a model that is
    loading: a build splits its articles while its model loads."""
    key = _model_key(path)
    with _cache_lock:
        if key in _tokenizers:
            return _tokenizers[key]
    words = WordPieces.from_folder(path)
    with _cache_lock:
        return _tokenizers.setdefault(key, words)


def load_embedder(path: str | os.PathLike[str] | None = None, *, onnx_file: Path | None = None, onnx_sha256: str | None = None) -> Embedder:
    """Load a model once per process and share it: PyTorch fp32, or the exported
    int8 model in ``onnx_file`` (shared by content, so generations that copied the
    same file share one session)."""
    key = _model_key(path)
    if onnx_file is not None:
        key += "|onnx|" + (onnx_sha256 or file_sha256(onnx_file))
    with _cache_lock:
        lock = _loading.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        embedder = OnnxEmbedder(path, onnx_file) if onnx_file is not None else SentenceTransformerEmbedder(path)
        with _cache_lock:
            _cache[key] = embedder
        return embedder


def export_onnx_int8(path: str | os.PathLike[str] | None, dest: Path) -> None:
    """Export the int8 encoder of ``--encoder onnx-int8`` for the model at ``path`` (see
    :func:`corpus.embed.onnx.export_onnx`)."""
    export_onnx(load_embedder(path), dest, quantise=True)


#: The fp32 export must give the model's own vectors: its cosine to PyTorch's on sample texts.
EXPORT_MIN_COSINE = 0.9999
_EXPORT_SAMPLES = (
    "ISIS quashed a rebellion in Mosul.",
    "How many people did the group execute?",
    "The station cost 2.4m pounds and opened in June 2016, the council said on Tuesday, after years of delays.",
    "Ein Satz auf Deutsch, und ein Wort: naïve café.",
)


def int8_encoder_file(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the cache keeps a model's int8 encoder for indexes that hold no files (Milvus):
    named by the model's fingerprint and the quantisation."""
    model_path = Path(path) if path else default_model_path()
    return cache_dir() / "encoders" / f"{model_fingerprint(model_path)}-int8-per-channel.onnx"


def cached_int8_encoder(path: str | os.PathLike[str] | None = None, sha256: str | None = None) -> Path:
    """The model's int8 encoder in the cache, exported there once (atomically) when missing.
    With ``sha256`` (the one an index recorded), a file that differs is a
    :class:`ModelMismatchError`: the export is deterministic, so a different file means
    other weights or another exporter, and vectors that would not match the index's."""
    dest = int8_encoder_file(path)
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        draft = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            export_onnx_int8(path, draft)
            os.replace(draft, dest)
        finally:
            draft.unlink(missing_ok=True)
    if sha256 is not None and file_sha256(dest) != sha256:
        raise ModelMismatchError(f"the int8 encoder in {dest} is not the one the index was built with; rebuild the index with `corpus build --rebuild`")
    return dest


def query_encoder_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The fp32 ONNX export of a model's weights in the cache (named by the model's fingerprint)."""
    model_path = Path(path) if path else default_model_path()
    return cache_dir() / "encoders" / f"{model_fingerprint(model_path)}-fp32.onnx"


def export_query_encoder(path: str | os.PathLike[str] | None = None) -> Path | None:
    """Export a model's fp32 ONNX encoder into the cache once, checked to give PyTorch's
    vectors (cosine at least :data:`EXPORT_MIN_COSINE`). Returns the file, or None for a
    model that cannot be exported (not mean pooling) or whose export differs (noted in the
    cache, so it is not tried again). Needs PyTorch: a build calls it, as does the first
    query of a model that has no export yet."""
    dest = query_encoder_file(path)
    refused = dest.with_suffix(".refused")
    if dest.is_file():
        return dest
    if refused.is_file():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    draft = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        try:
            export_onnx(load_embedder(path), draft, quantise=False)
            exported = OnnxEmbedder(path, draft, encoder=DEFAULT_ENCODER).encode(_EXPORT_SAMPLES)
        except ModelMismatchError as exc:
            refused.write_text(f"{exc}\n", encoding="utf-8")
            return None
        reference = load_embedder(path).encode(_EXPORT_SAMPLES)
        worst = float(np.min(np.sum(exported * reference, axis=1)))
        if worst < EXPORT_MIN_COSINE:
            refused.write_text(f"the export's vectors differ from PyTorch's (cosine {worst:.6f})\n", encoding="utf-8")
            return None
        os.replace(draft, dest)  # atomic: another process sees the whole file or none
        log.info("exported the query encoder to %s (cosine to PyTorch at least %.6f)", dest, worst)
        return dest
    finally:
        draft.unlink(missing_ok=True)


def load_query_embedder(path: str | os.PathLike[str] | None = None) -> Embedder:
    """The encoder for queries and answers over an index built with the ``torch`` encoder:
    the fp32 ONNX export of the same weights (the same vectors; it starts in a fraction of a
    second, where importing PyTorch and sentence-transformers takes seconds), exported on
    first use; PyTorch itself when the model cannot be exported, or when
    ``$CORPUS_QUERY_ENCODER`` is ``torch``."""
    if os.environ.get("CORPUS_QUERY_ENCODER") == "torch":
        return load_embedder(path)
    key = _model_key(path) + "|query"
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        lock = _loading.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        embedder: Embedder | None = None
        file = query_encoder_file(path)
        if not file.is_file():
            try:
                file = export_query_encoder(path)
            except OSError as exc:  # a cache that cannot be written: PyTorch serves
                log.warning("cannot keep an exported encoder in %s: %s", cache_dir(), exc)
                file = None
        if file is not None:
            try:
                embedder = OnnxEmbedder(path, file, encoder=DEFAULT_ENCODER)
            except ModelMismatchError as exc:  # a damaged file: dropped, exported anew next time
                log.warning("%s; using PyTorch", exc)
                file.unlink(missing_ok=True)
        if embedder is None:
            embedder = load_embedder(path)
        with _cache_lock:
            _cache[key] = embedder
        return embedder
