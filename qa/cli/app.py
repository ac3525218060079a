"""The ``corpus`` command: one Typer app; each command group lives in its own module."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from corpus.errors import CorpusError

app = typer.Typer(
    name="corpus",
    help="Build, search and question a corpus of articles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

out = Console(soft_wrap=False, highlight=False)
err = Console(stderr=True, highlight=False)

IndexOption = Annotated[
    str,
    typer.Option("--index", envvar="CORPUS_INDEX", help="Index folder, or milvus:PATH.db or milvus://HOST:PORT[/NAME].", show_default=True),
]
DEFAULT_INDEX = "indexes/default"
IndexesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--index",
        envvar="CORPUS_INDEX",
        help="Index folder, or milvus:PATH.db or milvus://HOST:PORT[/NAME] [default: indexes/default]. "
        "Repeat to search several collections as one; NAME=INDEX names one (default: its folder's name).",
    ),
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option("--where", "-w", help="Keep only articles matching KEY=VALUE: source=GLOB (sport/*, a folder sport/) or a metadata key; repeat to narrow (source patterns: any may match)."),
]
SinceOption = Annotated[str | None, typer.Option(help="Only articles dated on or after this day (YYYY, YYYY-MM or YYYY-MM-DD); undated ones are left out.")]
UntilOption = Annotated[str | None, typer.Option(help="Only articles dated on or before this day (YYYY, YYYY-MM or YYYY-MM-DD); undated ones are left out.")]


def where_of(clauses: list[str] | None, since: str | None, until: str | None) -> list[str] | None:
    """The filter clauses of the command line, as the library takes them."""
    out = list(clauses or []) + ([f"since={since}"] if since else []) + ([f"until={until}"] if until else [])
    return out or None


def open_indexes(specs: list[str] | None, default: str = DEFAULT_INDEX):
    """The library of one ``--index``, or the collections of several (``NAME=INDEX`` names one)."""
    from qa import Library

    specs = specs or [default]
    if len(specs) == 1:
        name, location = split_name(specs[0])
        return Library.open(location, name=name)
    return Library.open([split_name(spec) for spec in specs])


def split_name(spec: str) -> tuple[str | None, str]:
    """``NAME=INDEX`` as ``(NAME, INDEX)``; a plain index (or one whose path holds "=") as ``(None, INDEX)``."""
    name, sep, location = spec.partition("=")
    if not sep or spec.startswith("milvus:") or Path(spec).exists() or not name or "/" in name:
        return None, spec
    return name, location


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into a one-line message and exit status 1."""
    try:
        yield
    except (CorpusError, ValueError) as exc:  # ValueError: bad option values reaching the library
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def print_json(data: object) -> None:
    """Machine-readable output: plain JSON on stdout, never re-wrapped."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


class ProgressBars:
    """One rich progress bar per build stage, created when the stage reports first."""

    def __init__(self, enabled: bool) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
            disable=not enabled,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def update(self, stage: str, done: int, total: int | None) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)
