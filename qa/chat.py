"""The chat handler: a plain generator of ``(message, history)``, testable without a browser.

It streams two replies for each question: first the passages it is reading
(so the sources appear at once), then the answer — quotes with their ``[n]``
and the numbered sources, or the decline with the closest passages. The UI
(``ui/``) only displays what this yields; how a citation links to its source
is the UI's choice, passed in as ``link``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from corpus.errors import QueryError
from corpus.filters import Where

from .answer import Answer, Source, conversation_turns, md_escape
from .answer.render import snippet
from .hits import Hit

log = logging.getLogger(__name__)

#: Given a source, the URL its citation opens (None: no link).
Link = Callable[[Source], "str | None"]

EMPTY_QUESTION = "Please ask a question in words."


@dataclass(frozen=True)
class ChatReply:
    """One streamed state of the assistant's message."""

    markdown: str
    answer: Answer | None  # None until the answer is complete
    passages: tuple[Hit, ...] = ()
    final: bool = False


def respond(
    library,
    message: str,
    history: Sequence[Any] | None = None,
    *,
    mode: str = "hybrid",
    k: int | None = None,
    link: Link | None = None,
    cite: Callable[[int], str] | None = None,
    where=None,
) -> Iterator[ChatReply]:
    """Yield the assistant's message as it grows: the passages, then the answer.
    ``where`` filters the passages as :meth:`qa.Library.search` does."""
    answerer = library.answerer
    turns = conversation_turns(history or [])
    try:
        spec = Where.of(where)
    except QueryError as exc:
        yield ChatReply(f"The filter is not understood: {md_escape(str(exc))}", None, final=True)
        return
    try:
        retrieval = answerer.retrieve(message, turns, k=k, mode=mode, where=spec)
    except QueryError:
        yield ChatReply(EMPTY_QUESTION, None, final=True)
        return
    passages = tuple(retrieval.passages)
    reading = [f"- {md_escape(h.title)}, {h.place}" for h in passages]
    yield ChatReply("*Reading:*\n" + "\n".join(reading), None, passages)
    answer = answerer.compose(retrieval, turns).answer(answerer.threshold)
    yield ChatReply(render(answer, link, cite), answer, passages, final=True)


_CITATION = re.compile(r"(?<!\\)\[(\d+)\]")


def render(answer: Answer, link: Link | None = None, cite: Callable[[int], str] | None = None) -> str:
    """The answer as chat Markdown; corpus text is escaped.

    ``link`` gives the URL a source's paragraph opens; ``cite`` the URL each ``[n]``
    marker opens (corpus text has its brackets escaped, so only markers match). An
    article's title is written once, with the paragraphs cited from it.
    """
    # what the answerer noticed (why it declined, a query cut short), as the command line prints it
    notes = "\n\n".join(f"*Note: {md_escape(n)}.*" for n in answer.notices)
    if answer.answered:
        lines = [f"{answer.text}\n\n{notes}" if notes else answer.text, "", "**Sources**", *_source_lines(answer.sources, link)]
    else:  # the decline stands out, with its reason; each passage below it once, labelled as not an answer
        first = answer.text.partition("\n")[0]
        lines = [f"**{first}**", "", *([notes, ""] if notes else []), "**Closest passages** (not an answer)"]
        previous = None
        for source, hit in zip(answer.sources, answer.closest):
            place = _paragraph(source, link) if source.title == previous else f"{md_escape(source.title)}, {_paragraph(source, link)}"
            lines.append(f"- [{source.number}] “{md_escape(snippet(hit.text))}” — {place}")
            previous = source.title
    text = "\n".join(lines)
    if cite:
        text = _CITATION.sub(lambda m: f"[[{m.group(1)}]]({cite(int(m.group(1)))})", text)
    return text


def _paragraph(source: Source, link: Link | None) -> str:
    label = source.place
    url = link(source) if link else None
    return f"[{label}]({url})" if url else label


def _source_lines(sources: Sequence[Source], link: Link | None) -> list[str]:
    """One line per article: its title once, then each cited paragraph with its number."""
    lines: list[str] = []
    groups: dict[tuple[str | None, str], list[Source]] = {}
    for source in sources:
        groups.setdefault((source.collection, source.article_id), []).append(source)
    for group in groups.values():
        cited = ", ".join(f"[{s.number}] {_paragraph(s, link)}" for s in group)
        lines.append(f"- {md_escape(group[0].title)}: {cited}")
    return lines


def warm_up(library: Any, question: str = "What is this corpus about?") -> threading.Thread:
    """Load what a first answer needs (the query encoder, the tagger, the reader's files)
    in a background thread, by answering one question; a server starts it first thing, so
    that its first answer does not wait for them."""

    def run() -> None:
        try:
            library.ask(question)
        except Exception:  # noqa: BLE001 - a warm-up that fails only leaves the first answer slower
            log.debug("warm-up failed", exc_info=True)

    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread
