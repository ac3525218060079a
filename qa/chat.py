"""The chat handler: a plain generator of ``(message, history)``, testable without a browser.

It streams two replies for each question: first the passages it is reading
(so the sources appear at once), then the answer — quotes with their ``[n]``
and the numbered sources, or the decline with the closest passages. The UI
(``ui/``) only displays what this yields; how a citation links to its source
is the UI's choice, passed in as ``link``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from corpus.errors import QueryError
from corpus.filters import Where

from .answer import Answer, Source, conversation_turns, md_escape
from .hits import Hit

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
    reading = [f"- {md_escape(h.title)}, paragraph {h.paragraph}" for h in passages]
    yield ChatReply("*Reading:*\n" + "\n".join(reading), None, passages)
    answer = answerer.compose(retrieval, turns).answer(answerer.threshold)
    yield ChatReply(render(answer, link, cite), answer, passages, final=True)


_CITATION = re.compile(r"(?<!\\)\[(\d+)\]")


def render(answer: Answer, link: Link | None = None, cite: Callable[[int], str] | None = None) -> str:
    """The answer as chat Markdown; corpus text is escaped.

    ``link`` gives the URL a source's line opens; ``cite`` the URL each ``[n]``
    marker opens (corpus text has its brackets escaped, so only markers match).
    """
    # what the answerer noticed (why it declined, a query cut short), as the command line prints it
    notes = "\n\n".join(f"*Note: {md_escape(n)}.*" for n in answer.notices)
    if answer.answered:
        body = f"{answer.text}\n\n{notes}" if notes else answer.text
    else:  # the decline stands out, with its reason; the passages below it are labelled as not an answer
        first, _, rest = answer.text.partition("\n")
        body = f"**{first}**\n\n{notes}\n{rest}" if notes else f"**{first}**\n{rest}"
    lines = [body, "", "**Sources**" if answer.answered else "**Closest passages**"]
    for source in answer.sources:
        label = f"{md_escape(source.title)}, paragraph {source.paragraph}"
        url = link(source) if link else None
        lines.append(f"{source.number}. [{label}]({url})" if url else f"{source.number}. {label}")
    text = "\n".join(lines)
    if cite:
        text = _CITATION.sub(lambda m: f"[[{m.group(1)}]]({cite(int(m.group(1)))})", text)
    return text

