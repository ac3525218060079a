"""``corpus search``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from .app import IndexesOption, SinceOption, UntilOption, WhereOption, app, open_indexes, out, print_json, user_errors, where_of


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words or a question.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Number of paragraphs.")] = 10,
    mode: Annotated[str, typer.Option(help="hybrid, keyword or vector.")] = "hybrid",
    index: IndexesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    where: WhereOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Ranked paragraphs with title, paragraph number, source, score and highlighted terms."""
    from qa.collections import collection_names
    from qa.hits import shown_source

    with user_errors():
        with open_indexes(index) as lib:
            hits = lib.search(query, k=k, mode=mode, where=where_of(where, since, until))
            several = len(collection_names(lib)) > 1
    if as_json:
        print_json((hits.to_dict()))
        return
    for notice in hits.notices:
        out.print(f"note: {notice}", markup=False)
    if not hits:
        out.print("no matches")
    for rank, hit in enumerate(hits, start=1):
        head = Text(f"{rank:>2}. ", style="bold")
        head.append(hit.title, style="bold")
        head.append(f"  ¶{hit.paragraph}" + (f" p. {hit.page}" if hit.page is not None else "") + "  ")
        head.append(f"score {hit.score:.4f}", style="dim")
        out.print(head, soft_wrap=True)
        out.print(Text(f"    {shown_source(hit, several)}", style="dim"), soft_wrap=True)
        if hit.also_in:
            out.print(Text(f"    also in {', '.join(hit.also_in)}", style="dim"), soft_wrap=True)
        body = Text(hit.text)
        for start, end in hit.highlights:
            body.stylize("bold yellow", start, end)
        body.pad_left(4)
        out.print(body, soft_wrap=True)
        out.print()
