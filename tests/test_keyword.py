"""The keyword side's term-at-a-time BM25F gives Whoosh's own scores and order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from corpus import build
from corpus.backends.folder.index import current_generation
from corpus.backends.folder.keyword import KeywordIndex, _plain_terms, _ScoredPostings

QUERIES = [
    "economy growth in the third quarter",
    "who won the match on Saturday",
    "mobile phone sales",
    "film awards ceremony",
    "election campaign tax plans",
    "broadband internet users",
    "the the the",
    "court ruling appeal",
    "oil prices",
    "football football club club",
]


def _whoosh(kw: KeywordIndex, parsed, limit: int):
    results = kw._searcher().search(parsed.plan, limit=limit)
    return [(int(h["pid"]), float(h.score)) for h in results]


def _assert_same(kw: KeywordIndex) -> None:
    assert kw._searcher() is not None and kw._local.fast is not None
    for round in ("read from the postings", "the terms' scored postings kept"):
        compared = 0
        for q in QUERIES:
            parsed = kw.parse(q)
            if parsed.empty:
                continue
            ours, theirs = kw.search(parsed, 50), _whoosh(kw, parsed, 50)
            assert [pid for pid, _ in ours] == [pid for pid, _ in theirs], (round, q)
            assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-9), (round, q)
            compared += bool(ours)
        assert compared >= 8
        assert kw._scored._items  # what the first round read, the second found kept


def test_kept_postings_stay_within_their_bytes_and_are_read_only():
    kept = _ScoredPostings(max_bytes=4 * 16 * 10)  # forty postings
    ids, part = np.arange(10, dtype=np.int64), np.ones(10)
    kept.put(("body", "a"), (ids, part))
    assert kept.get(("body", "a"))[0] is ids and not ids.flags.writeable
    for word in "bcde":
        kept.put(("body", word), (np.arange(10, dtype=np.int64), np.ones(10)))
    assert kept.get(("body", "a")) is None and kept.get(("body", "e")) is not None  # the oldest went first
    assert kept._bytes <= 4 * 16 * 10
    huge = (np.arange(20, dtype=np.int64), np.ones(20))  # more than a quarter of the whole: not kept
    assert kept.put(("body", "common"), huge) is huge and kept.get(("body", "common")) is None


def test_scores_equal_whoosh_over_several_segments_with_deletions(tmp_path, bbc_sample):
    index = tmp_path / "index"
    build([bbc_sample], index)
    with _open(index) as kw:
        _assert_same(kw)
    # an incremental build adds a segment and deletes the changed article's old paragraphs
    changed = sorted(bbc_sample.rglob("*.txt"))[2]
    changed.write_text(changed.read_text().replace("the", "a") + "\n\nOil prices and broadband football club news.\n")
    (bbc_sample / "extra.txt").write_text("Extra\n\nMobile phone sales rose as the economy grew in the third quarter.\n")
    build([bbc_sample], index)
    with _open(index) as kw:
        readers = kw._searcher().reader().leaf_readers()
        assert len(readers) >= 2 or any(r.has_deletions() for r, _ in readers)
        _assert_same(kw)


def test_only_plain_word_queries_take_the_fast_path(tmp_path, bbc_sample):
    index = tmp_path / "index"
    build([bbc_sample], index)
    with _open(index) as kw:
        assert _plain_terms(kw.parse("oil prices rise").plan) is not None
        for q in ('"oil prices"', "oil AND prices", "oil NOT prices"):
            parsed = kw.parse(q)
            assert not parsed.empty and "oil" in parsed.terms  # a phrase's words count too
            assert _plain_terms(parsed.plan) is None
            assert kw.search(parsed, 10) == _whoosh(kw, parsed, 10)


def test_idf_is_lucenes_and_both_paths_use_it(tmp_path):
    """Whoosh's own idf, log(N / (n + 1)) + 1, would give a word in every paragraph
    a third of the weight of a word in a tenth of them; Lucene's gives it next to nothing."""
    folder = tmp_path / "src"
    folder.mkdir()
    for i in range(20):
        extra = " Quarterly sales fell." if i % 10 == 0 else ""
        (folder / f"a{i}.txt").write_text(f"Story {i}\n\nThe company report number {i} was published.{extra}\n")
    build([folder], tmp_path / "index")
    with _open(tmp_path / "index") as kw:
        searcher = kw._searcher()
        total = searcher.doc_count_all()
        assert total == 20
        common, rare = kw.idf(["report", "sale"]).values()
        assert common == pytest.approx(math.log(1 + 0.5 / 20.5))
        assert rare == pytest.approx(math.log(1 + 18.5 / 2.5))
        assert common < 0.03 * rare
        parsed = kw.parse("report sales")
        ours, theirs = kw.search(parsed, 5), _whoosh(kw, parsed, 5)
        assert [pid for pid, _ in ours] == [pid for pid, _ in theirs]  # ties at the cut too
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-9)
        assert ours[1][1] > 20 * ours[2][1]  # the two with "sales" far ahead


class _open:
    def __init__(self, index):
        self.kw = KeywordIndex.open(current_generation(index) / "keyword")

    def __enter__(self) -> KeywordIndex:
        return self.kw

    def __exit__(self, *exc) -> None:
        self.kw.close()
