"""A model's word pieces: its tokenizer (read straight from ``tokenizer.json``) and window, and
the word-piece vectors of a text."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .model import check_model_folder, default_model_path, offline, read_json


@dataclass(frozen=True)
class TokenVectors:
    """A text's contextual word-piece vectors, from the same pass as its sentence vector."""

    pieces: tuple[str, ...]  # the word pieces, special tokens left out ("ramp", "##ing")
    spans: np.ndarray  # (pieces, 2) int32: where each piece is in the text
    vectors: np.ndarray  # (pieces, dim) float16, each row L2-normalised
    pooled: np.ndarray  # (dim,) float32: the text's vector, as ``encode`` gives it


def token_vectors(words: WordPieces, ids: Sequence[int], spans: np.ndarray, hidden: np.ndarray, pooled: np.ndarray) -> TokenVectors:
    special = words.special_ids
    keep = [i for i, t in enumerate(ids) if t not in special]
    rows = hidden[keep].astype(np.float32)
    rows /= np.clip(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12, None)
    pooled = pooled.astype(np.float32)
    pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
    pieces = tuple(words.tokens([ids[i] for i in keep]))
    return TokenVectors(pieces, np.asarray(spans, dtype=np.int32)[keep].reshape(-1, 2), rows.astype(np.float16), pooled)


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
        offline()
        model_path = Path(path) if path else default_model_path()
        check_model_folder(model_path)
        config = read_json(model_path / "sentence_bert_config.json")
        words = cls(None, 0, folder=model_path, fast=fast_tokenizer(model_path))
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


def fast_tokenizer(folder: Path):
    """The folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer`` that neither pads nor truncates, or None."""
    if not (folder / "tokenizer.json").is_file():
        return None
    from tokenizers import Tokenizer as FastTokenizer

    fast = FastTokenizer.from_file(str(folder / "tokenizer.json"))
    fast.no_truncation()
    fast.no_padding()
    return fast


