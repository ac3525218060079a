"""How a sentence's words meet the question's: word pieces matched in context (ColBERT's late
interaction), the inner parts of hyphenated words, names of one country written several ways,
numbers and ordinals found."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from corpus.embed import TokenVectors

from .passages import Passages

COMPOUND = re.compile(r"[\w.]+(?:-\w+)+")


def compound_parts(text: str, corpus: Passages) -> set[str]:
    """The stems of the inner parts of a text's hyphenated words ("led" of "U.S.-led")."""
    if "-" not in text:
        return set()
    return corpus.stems(" ".join(" ".join(m.group(0).split("-")[1:]) for m in COMPOUND.finditer(text)))


#: The entity labels of places.
PLACES = ("GPE", "LOC")

#: Names of the countries news writes in several ways (each group is one country).
COUNTRY_ALIASES = (
    ("uk", "britain", "british", "england", "english", "united kingdom"),
    ("us", "usa", "america", "american", "united states"),
)


def country_aliases(corpus: Passages) -> list[set[str]]:
    """:data:`COUNTRY_ALIASES` as the corpus stems them."""
    return [set().union(*(corpus.stems(name) for name in group)) for group in COUNTRY_ALIASES]


def soft_matches(
    question: TokenVectors, sentences: Sequence[TokenVectors], texts: Sequence[str], predicate: dict[str, float], corpus: Passages, compounds: bool
) -> np.ndarray:
    """Per sentence: how closely its words (in context, with its title's) match the words of
    the question's predicate, as the late interaction of ColBERT scores them: each question
    word takes its best-matching word piece of the sentence ("led" meets "spearheaded" at
    0.56, the "-ed" of "quashed" at 0.28). Columns: the idf-weighted mean over the words,
    and the weakest word (one of the question's concepts the sentence does not carry).
    As for the stems, the inner parts of a hyphenated word ("led" of "U.S.-led") are
    matched only when the question has such words itself (``compounds``)."""
    out = np.zeros((len(sentences), 2))
    rows: list[int] = []
    groups: list[tuple[int, int, float]] = []  # a question word's pieces (rows[a:b]) and its weight
    words = piece_words(question.pieces)
    for word, pieces in words:
        weight = max((predicate[t] for t in corpus.stems(word) if t in predicate), default=0.0)
        if weight > 0:
            groups.append((len(rows), len(rows) + len(pieces), weight))
            rows += pieces
    if not groups:
        return out
    asked = question.vectors[rows].astype(np.float32)
    weights = np.array([w for _, _, w in groups])
    for i, (s, text) in enumerate(zip(sentences, texts)):
        vectors = s.vectors
        if not compounds and "-" in text:
            inner = np.zeros(len(text) + 1, dtype=bool)
            for m in COMPOUND.finditer(text):
                inner[m.start() + m.group(0).index("-") : m.end()] = True
            vectors = vectors[~inner[np.minimum(s.spans[:, 0], len(text))]]
        if not len(vectors):
            continue
        best = (asked @ vectors.astype(np.float32).T).max(axis=1)
        per_word = np.array([best[a:b].mean() for a, b, _ in groups])
        out[i] = (float(per_word @ weights / weights.sum()), float(per_word.min()))
    return out


def piece_words(pieces: Sequence[str]) -> list[tuple[str, list[int]]]:
    """The words of a text's word pieces, each with the indices of its pieces ("ramp", "##ing": "ramping")."""
    words: list[tuple[str, list[int]]] = []
    for i, piece in enumerate(pieces):
        if piece.startswith("##") and words:
            word, indices = words[-1]
            words[-1] = (word + piece[2:], indices + [i])
        else:
            words.append((piece, [i]))
    return words


def share_found(patterns: Sequence[re.Pattern[str]], text: str) -> float:
    """The share of ``patterns`` found in ``text`` (1 when there are none)."""
    return sum(1 for pattern in patterns if pattern.search(text)) / len(patterns) if patterns else 1.0
