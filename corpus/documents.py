"""The records that flow through the indexer: articles and their paragraphs."""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One article as read from a source.

    ``text`` is the body (everything after the title); paragraph offsets point
    into it. ``source`` is where it was read as the user named it: the path under the
    folder given to the build, the folder's name first (``seeds/000_….txt``), or the
    file's name; never a path of the machine that built the index.
    """

    id: str
    title: str
    text: str
    source: str
    date: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: Where each page begins in ``text``, for a paged document (a PDF): ``pages[i]`` is the
    #: offset of page ``i + 1``'s first character; empty for text without pages.
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The page (1-based) holding ``text[offset]``, or None for text without pages."""
        return page_at(self.pages, offset)

    def content_hash(self) -> str:
        """A hash of everything that is indexed, used for incremental builds (computed once:
        a build compares it, stores it and fingerprints the corpus with it)."""
        cached = self.__dict__.get("_content_hash")
        if cached is None:
            cached = self.__dict__["_content_hash"] = self._hash()
        return cached

    def _hash(self) -> str:
        fields = [self.title, self.text, self.source, self.date, self.url, self.meta]
        if self.pages:  # left out when empty, so that articles without pages keep their hashes
            fields.append(list(self.pages))
        payload = json.dumps(
            fields,
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pages"] = list(self.pages)
        return data


def corpus_fingerprint(hashes: dict[str, str]) -> str:
    """The manifest's ``fingerprint``: a hash of every article's id and content hash."""
    fingerprint = hashlib.sha256()
    for article_id in sorted(hashes):
        fingerprint.update(f"{article_id}\0{hashes[article_id]}\n".encode())
    return fingerprint.hexdigest()[:32]


def page_at(pages: tuple[int, ...] | list[int], offset: int) -> int | None:
    """The page (1-based) holding the character at ``offset``, given where each page begins."""
    return bisect.bisect_right(pages, offset) or 1 if pages else None


def paragraph_id(article_id: str, number: int, part: int = 0) -> str:
    """The stable id of a paragraph: ``article#number``, or ``article#number.part`` for a piece."""
    return f"{article_id}#{number}" + (f".{part}" if part else "")


@dataclass(frozen=True)
class Paragraph:
    """A paragraph (or a sentence-aligned piece of a long one) of an article.

    ``number`` is the 1-based paragraph number in the article; a paragraph
    longer than the embedding window is cut into pieces that share its number
    and differ in ``part``. ``article.text[start:end] == text`` always holds.
    """

    article_id: str
    number: int
    text: str
    start: int
    end: int
    part: int = 0

    @property
    def id(self) -> str:
        return paragraph_id(self.article_id, self.number, self.part)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "id": self.id}


@dataclass(frozen=True)
class Skipped:
    """A file (or a line of a ``.jsonl`` file) that was not indexed, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


_NOT_WORD = re.compile(r"[^\w]+")


def paragraph_words(text: str) -> list[str]:
    """A paragraph's words as copies are compared: lower case, punctuation and spacing aside."""
    return _NOT_WORD.sub(" ", text.lower()).split()


def duplicate_key(text: str) -> str | None:
    """A key equal for paragraphs with the same words (case, spaces and punctuation
    aside): copies of one paragraph in syndicated or updated stories, or a line that
    every story repeats. None for a paragraph without a word."""
    words = paragraph_words(text)
    if not words:
        return None
    return hashlib.sha1(" ".join(words).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ParagraphRecord:
    """A whole paragraph; ``pid`` is its head piece's id."""

    pid: int
    article_id: str
    number: int
    start: int
    end: int
    text: str
    title: str
    source: str
    url: str | None
    date: str | None
    page: int | None = None  # the page it begins on, in a paged document
