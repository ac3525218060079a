"""``corpus build`` and ``corpus info``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .app import DEFAULT_INDEX, IndexOption, ProgressBars, app, err, out, print_json, user_errors


@app.command()
def build(
    sources: Annotated[list[Path] | None, typer.Argument(help="Folders and files to index (default: the index's own sources, or seeds/).")] = None,
    index: IndexOption = DEFAULT_INDEX,
    model: Annotated[Path | None, typer.Option(help="A sentence-transformers model folder (default: the bundled all-MiniLM-L6-v2).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start from scratch instead of updating.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Embedding batch size.")] = 32,
    piece_tokens: Annotated[int | None, typer.Option(help="Word pieces per embedded piece of a paragraph (title included); fixed when an index is created.")] = None,
    encoder: Annotated[str | None, typer.Option(help="torch (fp32, the default) or onnx-int8 (exported and quantised here, about 1.5x as fast); fixed when an index is created.")] = None,
    embed_with: Annotated[str, typer.Option(help="process (the default) or ray: embed through Ray Data actors, on this machine or the cluster at --ray-address. Ray adds about 7 s to start and 15 s a pipeline here, so it pays for big corpora only.")] = "process",
    ray_address: Annotated[str | None, typer.Option(help="A running Ray cluster for --embed-with ray (default: start Ray here).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the build report as JSON.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Then keep watching the sources: build again a moment after they change (Ctrl+C stops).")] = False,
) -> None:
    """Build or incrementally update an index over folders and files of articles."""
    from corpus import build as run_build

    with user_errors(), ProgressBars(enabled=not as_json) as bars:
        report = run_build(sources or None, index, model=model, rebuild=rebuild, progress=bars.update, batch_size=batch_size, piece_tokens=piece_tokens, encoder=encoder, embed_with=embed_with, ray_address=ray_address)
    show_report(report, as_json)
    if watch:
        from corpus.watch import Watcher

        with user_errors():
            watcher = Watcher(index, sources or None, on_build=lambda r: show_report(r, as_json), on_error=lambda message: err.print(f"error: {message}", markup=False),
                              on_ready=lambda: err.print(f"watching {', '.join(watcher.sources)} (Ctrl+C stops)", markup=False),
                              batch_size=batch_size, embed_with=embed_with, ray_address=ray_address)
        watcher.run()


def show_report(report, as_json: bool) -> None:
    """A build's summary: counts, time, notes and skipped files (or the report as JSON)."""
    if as_json:
        print_json((report.to_dict()))
        return
    if report.up_to_date:
        out.print(f"{report.index} is up to date: {report.articles:,} articles, {report.paragraphs:,} paragraphs ({report.seconds:.1f} s)")
    else:
        out.print(
            f"built {report.index}: {report.articles:,} articles ({report.new_articles:,} new, {report.changed_articles:,} changed, "
            f"{report.unchanged_articles:,} unchanged, {report.removed_articles:,} removed), {report.paragraphs:,} paragraphs "
            f"({report.embedded:,} embedded, {report.reused:,} reused, {report.removed_paragraphs:,} removed)"
            + (f", {report.rows_written:,} rows written" if report.rows_written is not None else "")
            + f" in {report.seconds:.1f} s"
        )
    for note in report.notes:
        out.print(f"note: {note}", markup=False)
    if report.skipped:
        out.print(f"skipped {len(report.skipped)}:")
        for item in report.skipped:
            out.print(f"  {item.path}: {item.reason}", markup=False)


@app.command()
def info(
    index: IndexOption = DEFAULT_INDEX,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """What the index holds: counts, model, size, when it was built and from what."""
    from qa import Library

    with user_errors():
        with Library.open(index) as lib:
            data = lib.info()
    if as_json:
        print_json((data))
        return
    table = Table(show_header=False, box=None)
    for key in ("index", "backend", "generation", "built_at", "articles", "paragraphs", "model", "encoder", "dim", "vector_index", "analyzer"):
        table.add_row(key, f"{data[key]:,}" if isinstance(data[key], int) else str(data[key]))
    table.add_row("size", f"{data['bytes'] / 1e6:,.1f} MB")
    table.add_row("sources", "\n".join(data["sources"]))
    last = data["last_build"]
    table.add_row("last build", f"{last['seconds']} s, {last['embedded']:,} embedded, {last['reused']:,} reused, {len(last['skipped'])} skipped")
    out.print(table)
