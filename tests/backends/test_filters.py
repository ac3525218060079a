"""Filters by source, date and metadata, the same on every backend: applied inside each
side's search before the cut, with the same notices."""

from __future__ import annotations

import pytest

from corpus import build
from qa import Library

from ..test_filters import write_newsroom
from .conftest import location


@pytest.fixture(scope="module")
def newsroom(backend, tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp(f"newsroom-{backend}")
    write_newsroom(root / "newsroom")
    where = location(root, backend)
    build([root / "newsroom"], where)
    with Library.open(where) as lib:
        yield lib


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
def test_a_source_filter_applies_before_the_cut(newsroom, mode):
    lib = newsroom
    unfiltered = lib.search("rail fares", k=4, mode=mode)
    assert sum("/sport/" in h.source for h in unfiltered) < 2  # filtering the top 4 afterwards would leave too few
    hits = lib.search("rail fares", k=4, mode=mode, where="source=sport/*")
    assert len(hits) == 4 and all(h.source.startswith("newsroom/sport/") for h in hits)
    assert len(lib.search("rail fares", k=10, mode=mode, where="source=sport/*")) == 4  # only four exist
    business = lib.search("rail fares", k=10, mode=mode, where="source=business/")
    assert len(business) == 10 and all(h.source.startswith("newsroom/business/") for h in business)


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("sport/0?.txt", 4), ("sport/0[01].txt", 2), ("newsroom/sport/03.txt", 1), ("*/03.txt", 2), ("sport", 0),
        ("port/*", 0), ("business/1*", 2), (["sport/00.txt", "business/00.txt"], 2), ("records.jsonl*", 3),
    ],
)
def test_source_patterns_match_at_any_folder(newsroom, pattern, expected):
    where = [f"source={p}" for p in (pattern if isinstance(pattern, list) else [pattern])]
    hits = newsroom.search("rail fares", k=20, where=where)
    assert len(hits) == expected, [h.source for h in hits]


def test_date_and_metadata_filters_with_notices(newsroom):
    lib = newsroom
    hits = lib.search("rail fares", k=10, where={"since": "2005-03-01", "until": "2005-03-31"})
    assert [h.title for h in hits] == ["Budget day"]
    assert any("16 articles without a date were left out" in n for n in hits.notices)
    assert {h.title for h in lib.search("rail fares", k=10, where="since=2005")} == {"Budget day", "Spring timetable"}
    assert {h.title for h in lib.search("rail fares", k=10, where="until=2004-12-20")} == {"Winter storms"}
    assert {h.title for h in lib.search("rail fares", k=10, where="section=politics")} == {"Budget day", "Winter storms"}
    assert {h.title for h in lib.search("rail fares", k=10, where=["section=politics", "since=2005"])} == {"Budget day"}
    assert {h.title for h in lib.search("rail fares", k=10, where=["section=politics", "section=business"])} == set()
    sport_since = lib.search("rail fares", k=10, where=["source=sport/*", "since=2005"])
    assert not sport_since and any(n.startswith("4 articles without a date") for n in sport_since.notices)  # sport's, not all 16
    empty = lib.search("rail fares", k=10, where="source=weather/*")
    assert not empty and any("no article matches the filter" in n for n in empty.notices)
    answer = lib.ask("What raised rail fares for commuters?", where="section=politics")
    assert answer.quotes and all(q.hit.title in ("Budget day", "Winter storms") for q in answer.quotes)


def test_filter_values_are_data_not_syntax(newsroom):
    for value in ['politics" or true or "', "politics\\", "%", "_olitics", "politics' ]"]:
        assert newsroom.search("rail fares", k=10, where=f"section={value}") == []
    for pattern in ['%', '_port/*', 'sport/" or path like "%', "sport\\*"]:
        assert newsroom.search("rail fares", k=10, where=f"source={pattern}") == [], pattern


def test_folder_patterns_match_at_any_depth(backend, tmp_path, embedder):
    """Milvus keeps a source's folder runs for folder patterns, up to a limit: a deeper source
    is still found, by its path."""
    from corpus.backends.milvus.client import MAX_DIRS, folder_runs

    assert folder_runs("bbc/sport/001.txt") == ["bbc/", "bbc/sport/", "sport/"] and folder_runs("a.txt") == []
    deep = tmp_path / "docs" / "/".join(f"d{i}" for i in range(30)) / "sport"
    assert len(folder_runs(str(deep.relative_to(tmp_path)) + "/x.txt")) > MAX_DIRS
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("Deep\n\nA story filed far down the archive about rail fares.\n")
    (tmp_path / "docs" / "top.txt").write_text("Top\n\nA story at the top about rail fares.\n")
    where = location(tmp_path, backend)
    build([tmp_path / "docs"], where)
    with Library.open(where) as lib:
        for pattern in ("sport/", "sport/*", "d28/d29/", "d0/*"):
            assert [h.title for h in lib.search("rail fares", k=5, where=f"source={pattern}")] == ["Deep"], pattern
        assert {h.title for h in lib.search("rail fares", k=5, where="source=docs/")} == {"Deep", "Top"}
        assert lib.search("rail fares", k=5, where="source=d30/") == [] and lib.search("rail fares", k=5, where="source=d2") == []
