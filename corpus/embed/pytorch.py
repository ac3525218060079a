"""The ``torch`` encoder: a sentence-transformers model in PyTorch fp32 on the CPU."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .batched import Batched
from .model import (
    ModelInfo,
    check_model_folder,
    default_model_path,
    model_fingerprint,
    model_name,
    offline,
)
from .wordpieces import TokenVectors, WordPieces, fast_tokenizer, token_vectors


class SentenceTransformerEmbedder(Batched):
    """A sentence-transformers model in PyTorch fp32 on the CPU, producing normalised float32 vectors."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        offline()
        model_path = Path(path) if path else default_model_path()
        check_model_folder(model_path)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self._model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self._words = WordPieces(self._model.tokenizer, int(self._model.max_seq_length), folder=model_path, fast=fast_tokenizer(model_path))
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
                out.append(token_vectors(self._words, ids[keep].tolist(), place[keep], hidden[torch.from_numpy(keep)].float().numpy(), pooled.float().numpy()))
        return out

    def transformer(self):
        """The underlying Hugging Face transformer and its pooling mode."""
        modules = list(self._model)
        pooling = next((m for m in modules if type(m).__name__ == "Pooling"), None)
        mode = getattr(pooling, "pooling_mode", None)
        if isinstance(mode, (list, tuple)):
            mode = mode[0] if len(mode) == 1 else "+".join(mode)
        return modules[0].auto_model, mode
