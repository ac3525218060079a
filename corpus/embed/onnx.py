"""Encoders run by ONNX Runtime: the export of a model's transformer (fp32, or int8 weights
for ``--encoder onnx-int8``) and the embedder that runs it."""

from __future__ import annotations

import copy
import logging
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelMismatchError
from .batched import Batched
from .model import (
    ModelInfo,
    check_model_folder,
    default_model_path,
    model_fingerprint,
    model_name,
    offline,
)
from .pytorch import SentenceTransformerEmbedder
from .wordpieces import TokenVectors, WordPieces, token_vectors


def export_onnx(source: SentenceTransformerEmbedder, dest: Path, *, quantise: bool) -> None:
    """Export a mean-pooling sentence-transformers model's transformer to ONNX in ``dest``:
    fp32 as it is, or (``quantise``) with int8 weights.

    The TorchScript exporter is used on purpose: the graph it writes ran 1.5x as fast
    as fp32 PyTorch once quantised, against 1.1x for the torch.export-based exporter's.
    Weights are quantised per output channel (int8, dynamic activations).
    """
    import tempfile
    import warnings

    import torch

    model, pooling = source.transformer()
    # exported from a copy: tracing leaves the live module answering differently when it is
    # called directly (as ``encode_tokens`` does): up to 0.06 apart in a vector component
    model = copy.deepcopy(model)
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


class OnnxEmbedder(Batched):
    """An exported model run by ONNX Runtime: mean pooling and L2 normalisation in numpy.

    ``encoder`` names what the file holds: ``onnx-int8`` (the quantised encoder an
    index was built with) or ``torch`` (the fp32 export of the same weights, which
    gives PyTorch's vectors and starts without importing it)."""

    def __init__(self, path: str | os.PathLike[str] | None, onnx_file: Path, *, encoder: str = "onnx-int8") -> None:
        offline()
        model_path = Path(path) if path else default_model_path()
        check_model_folder(model_path)
        if not onnx_file.is_file():
            raise ModelMismatchError(f"the exported encoder {onnx_file} is missing; rebuild with `corpus build --rebuild`")
        import onnxruntime as ort

        self._words = WordPieces.from_folder(model_path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = max(1, os.cpu_count() or 1)
        # idle threads wait without spinning: the answerer's entity tagger runs beside the
        # encoder, and other processes share the cores (ask at 10k, mean of 80 BBC questions:
        # 259 ms spinning, 241 ms not)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
                out.append(token_vectors(self._words, ids[keep].tolist(), place[keep], rows[keep], vector))
        return out
