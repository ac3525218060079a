"""Synthetic corpora of any size, made from the BBC News index the benchmark built.

Text: each synthetic article takes the title of a random BBC article and 3 to 7
paragraphs; each paragraph joins 2 to 4 sentences, drawn mostly (70%) from that
article and otherwise from another article of the same category, so topics stay
coherent and the vocabulary is real. No paragraph text is repeated: duplicates
would get identical vectors, whose ties make any top-10 comparison arbitrary.

Vectors: a paragraph's vector is the mean of the real all-MiniLM-L6-v2 vectors of
the BBC paragraphs its sentences came from, plus Gaussian noise of norm about 0.3
(cosine about 0.96 to the clean mean), normalised. They keep the cluster structure
of real embeddings, which is what approximate search is sensitive to.

:class:`SyntheticEmbedder` computes these vectors from the text itself (it knows
each sentence's source), so ``corpus build`` runs unchanged over a synthetic
corpus: reading, splitting, the store and both indexes are real; only the encoder
is replaced. Queries then use the real model: the vectors live in its space.
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOISE = 0.3
OWN_ARTICLE = 0.7


@dataclass
class Material:
    """BBC sentences, the paragraph each came from, and those paragraphs' vectors."""

    titles: list[str]
    categories: list[str]
    article_sentences: list[list[int]]  # sentence numbers of each article
    sentences: list[str]
    sentence_paragraph: np.ndarray  # row of ``vectors`` for each sentence
    vectors: np.ndarray

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(path: Path) -> Material:
        with path.open("rb") as handle:
            return pickle.load(handle)


def material_from_index(index_dir: Path) -> Material:
    from corpus.backends.folder.index import Index
    from corpus.split import sentence_spans

    ix = Index.open(index_dir)
    try:
        titles, categories, article_sentences, sentences, rows, heads = [], [], [], [], [], []
        for article_id in sorted(ix.store.article_hashes()):
            paragraphs = ix.store.article_paragraphs(article_id)
            if not paragraphs:
                continue
            numbers = []
            for p in paragraphs:
                for a, b in sentence_spans(p.text):
                    if len(p.text[a:b].split()) >= 4:
                        numbers.append(len(sentences))
                        sentences.append(p.text[a:b])
                        rows.append(len(heads))
                heads.append(p.pid)
            if numbers:
                titles.append(paragraphs[0].title)
                categories.append(article_id.split("/")[0])
                article_sentences.append(numbers)
        vectors = ix.vectors.reconstruct(np.array(heads, dtype=np.int64))
    finally:
        ix.close()
    return Material(titles, categories, article_sentences, sentences, np.array(rows, dtype=np.int32), vectors)


def write_corpus(material: Material, paragraphs: int, path: Path, *, seed: int = 0) -> dict:
    """Write a corpus of about ``paragraphs`` paragraphs; its counts. A ``path`` ending in
    ``.jsonl`` gets one JSON Lines file; any other is a folder of text files, one per article
    (title line, blank line, paragraphs), a thousand to a subfolder, as people keep articles."""
    articles = written = 0
    if path.suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as out:
            for articles, (title, body) in enumerate(_articles(material, paragraphs, seed), start=1):
                out.write(json.dumps({"_id": f"syn-{articles - 1:07d}", "title": title, "text": "\n\n".join(body)}) + "\n")
                written += len(body)
    else:
        for articles, (title, body) in enumerate(_articles(material, paragraphs, seed), start=1):
            file = article_file(path, articles - 1)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(title + "\n\n" + "\n\n".join(body) + "\n", encoding="utf-8")
            written += len(body)
    return {"articles": articles, "paragraphs": written}


def article_file(folder: Path, n: int) -> Path:
    """The file of the ``n``-th article of a corpus written as a folder."""
    return folder / f"{n // 1000:03d}" / f"syn-{n:07d}.txt"


def _articles(material: Material, paragraphs: int, seed: int):
    """(title, paragraphs) of each synthetic article, until about ``paragraphs`` are made."""
    rng = np.random.default_rng(seed)
    by_category: dict[str, list[int]] = {}
    for i, category in enumerate(material.categories):
        by_category.setdefault(category, []).append(i)
    written = 0
    seen: set[int] = set()
    while written < paragraphs:
        a = int(rng.integers(len(material.titles)))
        peers = by_category[material.categories[a]]
        body: list[str] = []
        while len(body) < min(int(rng.integers(3, 8)), paragraphs - written):
            picked = []
            for _ in range(int(rng.integers(2, 5))):
                source = a if rng.random() < OWN_ARTICLE else peers[int(rng.integers(len(peers)))]
                pool = material.article_sentences[source]
                picked.append(material.sentences[pool[int(rng.integers(len(pool)))]])
            text = " ".join(picked)
            key = hash(text)
            if key not in seen:
                seen.add(key)
                body.append(text)
        written += len(body)
        yield material.titles[a], body


class SyntheticEmbedder:
    """Vectors from the sources of a text's sentences (see the module's docstring);
    word pieces counted by the real tokenizer, and the real model's identity."""

    def __init__(self, material: Material) -> None:
        from corpus.embed import (
            ModelInfo,
            WordPieces,
            default_model_path,
            model_fingerprint,
            model_name,
        )

        self._material = material
        self._lookup = {s: int(material.sentence_paragraph[i]) for i, s in enumerate(material.sentences)}
        path = default_model_path()
        self._words = WordPieces.from_folder(path)
        self.max_tokens = self._words.max_tokens
        self.info = ModelInfo(
            name=model_name(path),
            path=str(path.resolve()),
            dim=int(material.vectors.shape[1]),
            max_tokens=self.max_tokens,
            fingerprint=model_fingerprint(path),
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._words.count_tokens(texts)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress=None) -> np.ndarray:
        from corpus.split import sentence_spans

        dim = self.info.dim
        out = np.empty((len(texts), dim), dtype=np.float32)
        for i, text in enumerate(texts):
            body = text.split("\n", 1)[-1]  # the embedding input starts with the title line
            rows = [self._lookup[body[a:b]] for a, b in sentence_spans(body) if body[a:b] in self._lookup]
            rng = np.random.default_rng(zlib.crc32(body.encode("utf-8")))
            base = self._material.vectors[rows].mean(axis=0) if rows else self._material.vectors[int(rng.integers(len(self._material.vectors)))]
            v = base + rng.standard_normal(dim).astype(np.float32) * (NOISE / np.sqrt(dim))
            out[i] = v / np.linalg.norm(v)
            if progress and (i + 1) % 10_000 == 0:
                progress(i + 1, len(texts))
        return out


def build_child(corpus: str, index: str, material: str) -> None:
    """Entry point of the benchmark's child process: ``corpus build`` with the synthetic encoder."""
    from corpus import build

    report = build([corpus], index, rebuild=True, embedder=SyntheticEmbedder(Material.load(Path(material))))
    print(json.dumps(report.to_dict()))
