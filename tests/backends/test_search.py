"""Searching, reading and answering, the same on every backend: the seed's hits and
cosines, highlights, articles, term weights, stray syntax, answers and copies."""

from __future__ import annotations

import pytest

from corpus import build
from corpus.backend import open_reader
from qa import Library

from ..conftest import SEEDS
from ..test_duplicates import SHARED, _write
from .conftest import location


@pytest.fixture(scope="module")
def seed(backend, tmp_path_factory, embedder):
    where = location(tmp_path_factory.mktemp(f"seed-{backend}"), backend)
    report = build([SEEDS], where)
    assert report.articles == 1 and report.paragraphs == 12 and report.embedded == 12
    with Library.open(where) as lib:
        yield lib


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_the_seed_finds_the_paragraph_on_drowning(seed, seed_lib, mode):
    hits = seed.search("drowning dissenters", k=3, mode=mode)
    theirs = seed_lib.search("drowning dissenters", k=3, mode=mode)
    assert hits[0].paragraph == theirs[0].paragraph == 2 and hits[0].text == theirs[0].text
    assert hits[0].title == theirs[0].title and hits[0].source == theirs[0].source
    assert seed.info()["paragraphs"] == 12 and seed.info()["articles"] == 1


def test_cosines_term_weights_and_articles_equal_the_folder_index(seed, seed_lib):
    ours = {h.paragraph: h.vector_score for h in seed.search("Abadi radio broadcast", k=5, mode="vector")}
    theirs = {h.paragraph: h.vector_score for h in seed_lib.search("Abadi radio broadcast", k=5, mode="vector")}
    assert ours.keys() == theirs.keys() and all(abs(ours[p] - theirs[p]) < 1e-4 for p in ours)
    ours, theirs = seed.query_terms("weapons transfer interrogation"), seed_lib.query_terms("weapons transfer interrogation")
    assert ours.keys() == theirs.keys() and all(abs(ours[t] - theirs[t]) < 1e-6 for t in ours)
    first = seed.search("drowning dissenters", k=1)[0]
    assert first.highlights and seed.article(first.article_id).text == seed_lib.article(first.article_id).text
    assert [h.paragraph for h in seed.article_hits(first.article_id)] == list(range(1, 13))


def test_stray_query_syntax_is_read_as_words(seed):
    for mode in ("keyword", "hybrid"):
        assert seed.search('title:(drowning AND "mass grave" NOT *', k=3, mode=mode)


def test_answers_quote_the_same_paragraph_and_decline_the_same(seed):
    answer = seed.ask("How many people did ISIS execute?")
    assert answer.answered and answer.quotes[0].hit.paragraph == 2 and "58" in answer.quotes[0].answer_text
    assert not seed.ask("Who won the 2018 World Cup?").answered


@pytest.fixture(scope="module")
def wire(backend, tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp(f"wire-{backend}")
    docs, where = root / "wire", location(root, backend)
    _write(docs, "a.txt", "Jobs growth slows", "Markets fell on Friday after the figures.", SHARED, "The dollar weakened against the euro.")
    _write(docs, "b.txt", "Dollar slides on jobs data", "The dollar slid to a record low.", SHARED.upper().replace(",", " ,"), "Analysts expect rates to rise.")
    _write(docs, "c.txt", "Payrolls disappoint", "Payroll growth disappointed in January, when employers added fewer jobs than forecast.")
    build([docs], where)
    return docs, where


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
def test_a_copied_paragraph_is_shown_once_with_where_else_it_is(wire, mode):
    _, where = wire
    with Library.open(where) as lib:
        hits = lib.search("US firms added only 146,000 jobs in January", k=3, mode=mode)
        shared = [h for h in hits if "146,000" in h.text]
        assert len(shared) == 1 and len(hits) == 3
        assert shared[0].also_in == tuple({"wire/a.txt", "wire/b.txt"} - {shared[0].article_id})
        assert all(not h.also_in for h in hits if h is not shared[0])
        assert lib.search("US firms added only 146,000 jobs in January", k=3, mode=mode).to_dict()["hits"][0]["also_in"] is not None


def _copies_of_the_shared_paragraph(where) -> dict[str, list[str]]:
    """The reader's copy keys: every article holding the paragraph, not only the candidates'."""
    ix = open_reader(where)
    try:
        (pid, _), *_ = ix.keyword_search(ix.parse("146,000 jobs January Labor Department"), 1)
        return ix.copies(ix.duplicate_keys([pid]).values())
    finally:
        ix.close()


def test_copies_are_known_beyond_the_candidates_and_follow_updates(wire, tmp_path):
    docs, where = wire
    assert list(_copies_of_the_shared_paragraph(where).values()) == [["wire/a.txt", "wire/b.txt"]]
    b = (docs / "b.txt").read_text()
    (docs / "b.txt").unlink()
    try:
        build([docs], where)
        assert list(_copies_of_the_shared_paragraph(where).values()) == [["wire/a.txt"]]
        with Library.open(where) as lib:
            assert not lib.search("146,000 jobs in January", k=3)[0].also_in
    finally:
        (docs / "b.txt").write_text(b)
        build([docs], where)
