"""Copies of one paragraph in several articles (syndicated or updated stories) are shown once."""

from __future__ import annotations

import sqlite3

import pytest

from corpus import build
from corpus.backends.folder.index import current_generation
from corpus.documents import duplicate_key
from qa import Library

SHARED = "US firms added only 146,000 jobs in January, the Labor Department said, far fewer than the 190,000 economists had forecast."


def _write(docs, name, title, *paragraphs):
    docs.mkdir(parents=True, exist_ok=True)
    (docs / name).write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n")


@pytest.fixture
def wire(tmp_path, embedder):
    docs, index = tmp_path / "wire", tmp_path / "index"
    _write(docs, "a.txt", "Jobs growth slows", "Markets fell on Friday after the figures.", SHARED, "The dollar weakened against the euro.")
    _write(docs, "b.txt", "Dollar slides on jobs data", "The dollar slid to a record low.", SHARED.upper().replace(",", " ,"), "Analysts expect rates to rise.")
    _write(docs, "c.txt", "Payrolls disappoint", "Payroll growth disappointed in January, when employers added fewer jobs than forecast.")
    build([docs], index)
    return docs, index


def test_the_key_ignores_case_spacing_and_punctuation():
    assert duplicate_key(SHARED) == duplicate_key(SHARED.upper().replace(",", " ,")) is not None
    assert duplicate_key("Andrew Cole (Australia)") == duplicate_key("andrew cole, australia")
    assert duplicate_key("—") is None and duplicate_key(SHARED) != duplicate_key(SHARED.replace("146,000", "146,001"))


def test_answers_quote_one_copy_and_name_the_other(wire):
    _, index = wire
    with Library.open(index) as lib:
        answer = lib.ask("How many jobs did US firms add in January?")
        assert answer.answered
        texts = [q.text.lower() for q in answer.quotes]
        assert sum("146,000" in t for t in texts) == 1
        assert any(s.also_in for s in answer.sources)


def test_copies_follow_incremental_builds_and_older_stores_are_keyed(wire):
    docs, index = wire
    (docs / "b.txt").unlink()
    build([docs], index)
    with Library.open(index) as lib:
        assert not lib.search("146,000 jobs in January", k=3)[0].also_in
    # a store written before copy keys were kept: copies met among the candidates are folded,
    # and the next build keys every paragraph
    _write(docs, "b.txt", "Dollar slides on jobs data", "The dollar slid to a record low.", SHARED)
    build([docs], index)
    with sqlite3.connect(current_generation(index) / "store.sqlite") as conn:
        conn.executescript("DROP TABLE copies; DROP TABLE bands; PRAGMA user_version = 0;")
    with Library.open(index) as lib:
        hits = lib.search("146,000 jobs in January", k=3)
        assert sum("146,000" in h.text for h in hits) == 1 and hits[0].also_in
    _write(docs, "d.txt", "Rates", "The central bank left its main rate unchanged at two percent this month.")
    build([docs], index)
    with sqlite3.connect(current_generation(index) / "store.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM copies").fetchone()[0] > 2
    with Library.open(index) as lib:
        hits = lib.search("146,000 jobs in January", k=3)
        assert sum("146,000" in h.text for h in hits) == 1 and hits[0].also_in


EDITED = (
    "The chip maker said its profits had risen by 12% to £9.4m in the three months to March, "
    "helped by strong demand for the routers it sells to Jupiter Networks, and that it expected "
    "the rest of the year to bring similar growth."
)


@pytest.fixture
def edited(tmp_path, embedder):
    """One paragraph in two stories but for a changed name; and a third
    story whose paragraph shares a sentence with it but says something else."""
    docs, index = tmp_path / "tech", tmp_path / "index"
    _write(docs, "a.txt", "Chip maker profits rise", "Shares rose on Monday.", EDITED, "The firm employs 300 people.")
    _write(docs, "b.txt", "Router demand lifts chip firm", "Investors cheered the results.", EDITED.replace("Jupiter", "Juniper"), "Its rivals struggled.")
    _write(docs, "c.txt", "Chip maker warns", "The chip maker said its profits had risen by 12% to £9.4m in the three months to March. "
           "But it warned that sales in Asia would fall sharply this year as its largest customer cut orders.")
    build([docs], index)
    return docs, index


def test_near_copies_are_grouped_at_build_time_and_shown_once(edited):
    from corpus.nearcopies import resemblance, shingles

    docs, index = edited
    a, b = EDITED, EDITED.replace("Jupiter", "Juniper")
    assert duplicate_key(a) != duplicate_key(b) and resemblance(shingles(a), shingles(b)) >= 0.8
    with Library.open(index) as lib:
        hits = lib.search("chip maker profits risen 12% routers Juniper Networks", k=3)
        edited_hits = [h for h in hits if "routers it sells" in h.text]
        assert len(edited_hits) == 1 and len(hits) == 3
        other = {"tech/a.txt", "tech/b.txt"} - {edited_hits[0].article_id}
        assert edited_hits[0].also_in == tuple(other)
        # the story that shares one sentence but says more is not folded
        assert any("sales in Asia" in h.text and not h.also_in for h in hits)
    # the near-copy's group survives the first story's removal, and a later story joins it
    (docs / "a.txt").unlink()
    _write(docs, "d.txt", "Chip firm results", "Results came early.", EDITED)
    build([docs], index)
    with Library.open(index) as lib:
        hits = lib.search("chip maker profits risen 12% routers Juniper Networks", k=3)
        edited_hits = [h for h in hits if "routers it sells" in h.text]
        assert len(edited_hits) == 1 and set(edited_hits[0].also_in) | {edited_hits[0].article_id} == {"tech/b.txt", "tech/d.txt"}


def test_a_new_store_is_keyed_once_and_never_keyed_again(wire, monkeypatch):
    """A store created empty keys its paragraphs as they come: the next build must not key
    every paragraph again (it did, and the copy of the previous generation grew with it)."""
    from corpus.backends.folder import store

    docs, index = wire
    with sqlite3.connect(current_generation(index) / "store.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store.KEYED
    keyed = []
    monkeypatch.setattr(store, "_key_paragraph", lambda *args, _key=store._key_paragraph: keyed.append(args[1]) or _key(*args))
    _write(docs, "d.txt", "Rates", "The central bank left its main rate unchanged at two percent this month.")
    build([docs], index)
    assert len(keyed) == 1  # the new paragraph only
