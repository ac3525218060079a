"""Answers as text: the one decline wording, the quotes as Markdown, escaping of corpus text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..hits import Hit
from .types import Answer, Quote, Source

#: What a declined answer says, everywhere it is shown (Markdown, the CLI, the chat's panel).
NOT_IN_CORPUS = "The corpus does not answer this question."
CLOSEST = "Closest passages (not an answer):"

# Inside a quote no line starts with corpus text, so list and heading markers need no escape.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def md_escape(text: str) -> str:
    """Corpus text made inert in Markdown and HTML: entities for <, >, &; backslashes for Markdown."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())


def marked_quote(quote: Quote, escape=md_escape, open_mark: str = "**", close_mark: str = "**") -> str:
    """The quote's text escaped, with its answer span (if any) between the marks."""
    if not quote.answer:
        return escape(quote.text)
    a, b = quote.answer
    before, span, after = quote.text[:a], quote.text[a:b], quote.text[b:]
    # escape() collapses spaces; keep one space where the text had any at the borders
    left = escape(before) + (" " if before[-1:].isspace() else "") if before else ""
    right = (" " if after[:1].isspace() else "") + escape(after) if after else ""
    return f"{left}{open_mark}{escape(span)}{close_mark}{right}"


def render_quotes(quotes: Sequence[Quote]) -> str:
    """Markdown: one block quote per quote, its answer in bold, followed by its citation number."""
    return "\n\n".join(f"> “{marked_quote(q)}” [{q.citation}]" for q in quotes)


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit] + " …"


def declined(question: str, query: str, hits: Sequence[Hit], confidence: float, notices: list[str]) -> Answer:
    """The plain decline, with the closest passages labelled as not an answer."""
    closest = list(hits[:3])
    lines = [NOT_IN_CORPUS]
    if closest:
        lines += ["", CLOSEST]
        lines += [f"- {md_escape(snippet(h.text))} [{n}]" for n, h in enumerate(closest, start=1)]
    sources = [Source.of(n, h) for n, h in enumerate(closest, start=1)]
    return Answer(question, False, "\n".join(lines), [], sources, closest, confidence, query, notices)
