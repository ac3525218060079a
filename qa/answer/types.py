"""The typed results of answering: sources, quotes, answers, and the stages before them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..hits import Hit, place_label


@dataclass(frozen=True)
class Source:
    """A numbered source of an answer: one paragraph of one article."""

    number: int
    title: str
    paragraph: int
    source: str
    article_id: str
    hit_id: str
    url: str | None = None
    also_in: tuple[str, ...] = ()  # other articles holding a copy of the paragraph
    collection: str | None = None  # the index it comes from
    page: int | None = None  # the page the paragraph begins on, in a paged document

    @classmethod
    def of(cls, number: int, hit: Hit) -> Source:
        return cls(number, hit.title, hit.paragraph, hit.source, hit.article_id, hit.id, hit.url, hit.also_in, hit.collection, hit.page)

    @property
    def place(self) -> str:
        """"paragraph 7", or "paragraph 7, p. 12" in a paged document."""
        return place_label(self.paragraph, self.page)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["also_in"] = list(self.also_in)
        return data


@dataclass(frozen=True)
class Quote:
    """A verbatim span of a paragraph: ``article.text[start:end] == text``.

    ``answer`` is the ``(start, end)`` of the answer itself within ``text``
    (a name, a date, an amount…) when the answerer found one, else ``None``.
    """

    text: str
    citation: int
    hit: Hit
    start: int
    end: int
    score: float
    answer: tuple[int, int] | None = None

    @property
    def answer_text(self) -> str | None:
        return self.text[self.answer[0] : self.answer[1]] if self.answer else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citation": self.citation,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "answer": list(self.answer) if self.answer else None,
            "answer_text": self.answer_text,
            "hit": self.hit.to_dict(),
        }


@dataclass
class Answer:
    question: str
    answered: bool
    text: str
    quotes: list[Quote] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    closest: list[Hit] = field(default_factory=list)
    confidence: float = 0.0
    query: str = ""
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answered": self.answered,
            "text": self.text,
            "quotes": [q.to_dict() for q in self.quotes],
            "sources": [s.to_dict() for s in self.sources],
            "closest": [h.to_dict() for h in self.closest],
            "confidence": round(self.confidence, 4),
            "query": self.query,
            "notices": self.notices,
        }


@dataclass
class Retrieval:
    """The passages an answer will quote from."""

    question: str  # as asked (cleaned)
    query: str  # as searched (a follow-up joined to the conversation)
    passages: list[Hit]
    prior: list[float]  # 1 for the best passage, falling with rank
    notices: list[str]
