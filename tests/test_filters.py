"""Filters by source, date and metadata, applied inside both sides' searches before the cut."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from corpus import build
from corpus.errors import QueryError
from corpus.filters import Where
from qa import Library
from qa.cli import app


def write_newsroom(docs) -> None:
    """Twelve business stories about rail fares that outrank four sport stories on the query,
    and dated records with metadata."""
    for n in range(12):
        (docs / "business").mkdir(parents=True, exist_ok=True)
        (docs / "business" / f"{n:02d}.txt").write_text(
            f"Rail fares rise {n}\n\nRail fares rise again as rail operators raise rail ticket prices by {n + 2} percent for rail commuters.\n"
        )
    for n in range(4):
        (docs / "sport").mkdir(exist_ok=True)
        (docs / "sport" / f"{n:02d}.txt").write_text(
            f"Fans and fares {n}\n\nFootball fans pay more for rail travel to away games, club number {n} says.\n"
        )
    records = [
        {"_id": "r1", "title": "Budget day", "text": "The chancellor's budget raised rail fares for commuters.", "date": "2005-03-16", "metadata": {"section": "politics"}},
        {"_id": "r2", "title": "Spring timetable", "text": "The spring timetable adds rail services but fares rise too.", "date": "2005-04-02T09:00:00Z", "metadata": {"section": "business"}},
        {"_id": "r3", "title": "Winter storms", "text": "Storms closed rail lines and fares were refunded.", "date": "2004-12-20", "metadata": {"section": "politics"}},
    ]
    (docs / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("filters")
    write_newsroom(root / "newsroom")
    index = root / "index"
    build([root / "newsroom"], index)
    return index


def test_where_parses_clauses_and_mappings():
    where = Where.of(["source=sport/*", "source=business/", "since=2005-03", "until=2005", "section=politics"])
    assert where.sources == ("sport/*", "business/") and where.since == "2005-03" and where.until == "2005"
    assert where.meta == (("section", "politics"),)
    assert Where.of({"source": ["sport/*"], "section": "politics"}).describe() == "source=sport/*, section=politics"
    assert Where.of(None) is None and Where.of([]) is None


@pytest.mark.parametrize(
    "bad, message",
    [
        ("sport", "key=value"), ("since=March", "YYYY"), ("since=2005-13", "YYYY"), (["since=2006", "until=2005"], "after"),
        ("bad key=1", "not a filter key"), ("source=", "needs a value"), ({"source": 5}, "needs a value"), (5, "mapping"),
        ("source=a\x00b", "needs a value"),
    ],
)
def test_malformed_filters_are_query_errors(bad, message):
    with pytest.raises(QueryError, match=message):
        Where.of(bad)


def test_where_admits_by_source_tail_date_and_metadata():
    sport = Where.of("source=sport/*")
    assert sport.admits("bbc/sport/001.txt", None, {}) and sport.admits("sport/x.txt", None, {})
    assert not sport.admits("bbc/business/001.txt", None, {}) and not sport.admits("bbc/motorsport/1.txt", None, {})
    assert Where.of("source=sport/").admits("bbc/sport/a/b.txt", None, {})
    march = Where.of(["since=2005-03", "until=2005-03"])
    assert march.admits("x", "2005-03-31T23:00:00Z", {}) and march.admits("x", "2005-03-01", {})
    assert not march.admits("x", "2005-04-01", {}) and not march.admits("x", None, {}) and not march.admits("x", "sometime", {})
    assert Where.of("section=politics").admits("x", None, {"section": "politics"})
    assert not Where.of("section=politics").admits("x", None, {})


def test_filters_apply_to_phrase_and_boolean_queries_too(newsroom):
    """Those go through Whoosh's own matchers, not the term-at-a-time scorer."""
    with Library.open(newsroom) as lib:
        hits = lib.search('"rail travel" AND fans', k=3, mode="keyword", where="source=sport/")
        assert len(hits) == 3 and all(h.source.startswith("newsroom/sport/") for h in hits)
        assert lib.search('"rail travel" AND fans', k=3, mode="keyword", where="source=business/") == []


def test_filters_on_the_command_line(newsroom):
    runner = CliRunner()
    result = runner.invoke(app, ["search", "rail fares", "--index", str(newsroom), "--where", "source=sport/*", "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert [h["source"].split("/")[1] for h in json.loads(result.output)["hits"]] == ["sport"] * 3
    result = runner.invoke(app, ["search", "rail fares", "--index", str(newsroom), "--since", "2005-04", "--json"])
    assert [h["title"] for h in json.loads(result.output)["hits"]] == ["Spring timetable"]
    result = runner.invoke(app, ["ask", "Why were fares refunded?", "--index", str(newsroom), "-w", "section=politics", "--until", "2004"])
    assert result.exit_code == 0 and "Storms closed rail lines" in result.output
    result = runner.invoke(app, ["search", "rail", "--index", str(newsroom), "--since", "last week"])
    assert result.exit_code == 1 and result.output.strip().startswith("error: since wants a date") and len(result.output.strip().splitlines()) == 1


def test_the_chat_filters_and_explains_a_bad_filter(newsroom):
    from qa.chat import respond
    from ui.app import filter_clauses

    assert filter_clauses(" sport/* , business/", "", "2005-03", "section=politics") == [
        "source=sport/*", "source=business/", "until=2005-03", "section=politics"]
    with Library.open(newsroom) as lib:
        replies = list(respond(lib, "Who pays more for rail travel?", [], where=filter_clauses("sport/", "", "", "")))
        assert replies[-1].final and all(h.source.startswith("newsroom/sport/") for h in replies[-1].passages)
        (bad,) = respond(lib, "Who pays more?", [], where=["since=yesterday"])
        assert bad.final and bad.markdown.startswith("The filter is not understood: since wants a date")
