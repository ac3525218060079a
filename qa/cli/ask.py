"""``corpus ask``: an answer quoted from the corpus, with numbered sources."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from .app import IndexesOption, SinceOption, UntilOption, WhereOption, app, open_indexes, out, print_json, user_errors, where_of


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question in plain words.")],
    history: Annotated[
        list[str] | None,
        typer.Option("--history", "-H", help="An earlier question of the conversation (repeat the option, oldest first)."),
    ] = None,
    k: Annotated[int | None, typer.Option("-k", "--k", min=1, max=50, help="Passages to quote from.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, keyword or vector.")] = "hybrid",
    index: IndexesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole answer as JSON.")] = False,
    where: WhereOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Answer with verbatim quotes from the corpus, each cited [n]; say so when the corpus has no answer.

    Follow-up questions: pass the earlier questions with --history, e.g.
    corpus ask "Who led it?" --history "What happened to the rebellion in Mosul?"
    """
    from qa.answer import CLOSEST, NOT_IN_CORPUS
    from qa.answer.entities import default_tagger

    default_tagger().preload()
    from qa.collections import collection_names
    from qa.hits import shown_source

    turns = [{"role": "user", "content": h} for h in history or []]
    with user_errors():
        with open_indexes(index) as lib:
            answer = lib.ask(question, turns, k=k, mode=mode, where=where_of(where, since, until))
            several = len(collection_names(lib)) > 1
    if as_json:
        print_json(answer.to_dict())
        return
    for notice in answer.notices:
        out.print(f"note: {notice}", markup=False)
    if answer.answered:
        for quote in answer.quotes:
            out.print(quote_text(quote), soft_wrap=True)
            out.print()
    else:
        out.print(Text(NOT_IN_CORPUS, style="bold"))
        out.print()
        out.print(Text(CLOSEST, style="bold"))
        for n, hit in enumerate(answer.closest, start=1):
            out.print(Text(f"[{n}] ", style="bold cyan") + Text(" ".join(hit.text.split())), soft_wrap=True)
        out.print()
    out.print(Text("Sources", style="bold"))
    for source in answer.sources:
        place = shown_source(source, several)
        also = f" (also in {', '.join(source.also_in)})" if source.also_in else ""
        out.print(Text(f"[{source.number}] ", style="bold cyan") + Text(f"{source.title}, {source.place} — {place}{also}"), soft_wrap=True)


def quote_text(quote) -> Text:
    """A quote in quotation marks with its answer span in bold, then its citation."""
    line = Text("“", style="bold")
    a, b = quote.answer or (0, 0)
    for part, style in ((quote.text[:a], None), (quote.text[a:b], "bold underline"), (quote.text[b:], None)):
        # spaces fold as in the chat, keeping one at each border of the answer
        folded = " ".join(part.split())
        if part[:1].isspace() and folded:
            folded = " " + folded
        if part[-1:].isspace() and folded:
            folded += " "
        line.append(folded, style=style)
    line.append("”", style="bold")
    line.append(f" [{quote.citation}]", style="bold cyan")
    return line
