"""Typed search results."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One ranked paragraph.

    ``paragraph`` is the 1-based paragraph number in its article; ``start`` and
    ``end`` are the paragraph's character offsets in the article's text;
    ``highlights`` are ``(start, end)`` spans of query terms within ``text``.
    ``keyword_rank``/``vector_rank`` (1-based) say which side found it.
    ``also_in`` names the other articles holding a copy of this paragraph (the same
    words): a search shows one of them, the best; one of another collection is
    named ``collection:article``. ``collection`` names the index the hit comes from.
    ``page`` is the page the paragraph begins on, in a paged document (a PDF).
    """

    id: str
    article_id: str
    title: str
    paragraph: int
    text: str
    source: str
    score: float
    start: int
    end: int
    url: str | None = None
    date: str | None = None
    highlights: tuple[tuple[int, int], ...] = ()
    keyword_rank: int | None = None
    vector_rank: int | None = None
    keyword_score: float | None = None
    vector_score: float | None = None
    also_in: tuple[str, ...] = ()
    collection: str | None = None
    page: int | None = None

    @property
    def place(self) -> str:
        """Where the paragraph is in its article, as shown: "paragraph 7", or "paragraph 7, p. 12"."""
        return place_label(self.paragraph, self.page)

    @property
    def key(self) -> tuple[str | None, str]:
        """What tells hits apart when several collections are searched (ids are unique within one)."""
        return (self.collection, self.id)

    def marked(self, open_tag: str = "<mark>", close_tag: str = "</mark>", escape: Callable[[str], str] = html.escape) -> str:
        """The text with its highlights wrapped in tags; everything else escaped."""
        out, pos = [], 0
        for start, end in self.highlights:
            if start < pos:
                continue
            out += [escape(self.text[pos:start]), open_tag, escape(self.text[start:end]), close_tag]
            pos = end
        out.append(escape(self.text[pos:]))
        return "".join(out)

    @property
    def highlighted_terms(self) -> list[str]:
        return sorted({self.text[a:b].lower() for a, b in self.highlights})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["highlights"] = [list(span) for span in self.highlights]
        data["highlighted_terms"] = self.highlighted_terms
        data["also_in"] = list(self.also_in)
        return data


def place_label(paragraph: int, page: int | None) -> str:
    """"paragraph 7", with the page when the document has pages: "paragraph 7, p. 12"."""
    return f"paragraph {paragraph}" + (f", p. {page}" if page is not None else "")


def shown_source(item, with_collection: bool = False) -> str:
    """Where a hit (or an answer's source) comes from, as shown: its URL or its source,
    after its collection's name when several collections are shown together."""
    place = item.url or item.source
    return f"{item.collection}: {place}" if with_collection else place


class Hits(list):
    """The hits of one search (a list), with how the query was understood."""

    def __init__(self, hits=(), *, query: str = "", mode: str = "hybrid", notices: list[str] | None = None) -> None:
        super().__init__(hits)
        self.query = query
        self.mode = mode
        self.notices = list(notices or [])

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "notices": self.notices, "hits": [h.to_dict() for h in self]}
