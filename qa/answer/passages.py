"""The narrow view of a corpus that answering needs (a :class:`qa.Library` provides it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from corpus.embed import TokenVectors

from ..hits import Hit, Hits


class Passages(Protocol):
    def search(self, query: str, k: int = 10, mode: str = "hybrid", *, where=None) -> Hits:
        """The ``k`` best paragraphs for ``query`` (only those ``where`` admits, when given)."""

    def article_hits(self, article_id: str, collection: str | None = None) -> list[Hit]:
        """Every paragraph of an article, in order (``collection``: the one a hit names)."""

    def embed_tokens(self, texts: Sequence[str]) -> list[TokenVectors]:
        """Each text's word-piece vectors and normalised embedding (one pass of the model)."""

    def query_terms(self, query: str) -> dict[str, float]:
        """The analysed terms of a query with their inverse document frequency."""

    def stems(self, text: str) -> set[str]:
        """The analysed terms of a text."""
