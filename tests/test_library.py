from __future__ import annotations

import concurrent.futures

import pytest

from qa import Hit, Library, QueryError


def test_drowning_dissenters_first_hit_is_the_58_executions(seed_lib):
    hits = seed_lib.search("drowning dissenters")
    assert "executed 58 people by drowning" in hits[0].text
    assert hits[0].paragraph == 2


def test_who_wanted_to_hand_the_city_back_finds_the_defecting_commander(seed_lib):
    hits = seed_lib.search("who wanted to hand the city back to Baghdad", k=3)
    assert any("wished to defect" in h.text for h in hits)


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
def test_hits_are_typed_and_consistent(seed_lib, mode):
    hits = seed_lib.search("rebellion in Mosul", k=5, mode=mode)
    assert hits.mode == mode and len(hits) == 5
    article = seed_lib.article(hits[0].article_id)
    for hit in hits:
        assert isinstance(hit, Hit)
        assert hit.title.startswith("ISIS Quashes")
        assert hit.source.endswith(".txt")
        assert article.text[hit.start : hit.end] == hit.text
        assert hit.id == f"{hit.article_id}#{hit.paragraph}"
        assert hit.to_dict()["paragraph"] == hit.paragraph
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    if mode == "keyword":
        assert all(h.keyword_rank and h.vector_rank is None for h in hits)
    if mode == "vector":
        assert all(h.vector_rank and h.keyword_rank is None for h in hits)


def test_highlights_mark_query_terms_even_on_vector_hits(seed_lib):
    hits = seed_lib.search("executed by drowning", k=3, mode="vector")
    top = hits[0]
    marked = {top.text[a:b].lower() for a, b in top.highlights}
    assert {"executed", "drowning"} <= marked
    assert "<mark>drowning</mark>" in top.marked()


def test_marked_escapes_the_text():
    hit = Hit(id="a#1", article_id="a", title="t", paragraph=1, text="<b>x</b> & y", source="s", score=1.0, start=0, end=12, highlights=((3, 4),))
    assert hit.marked() == "&lt;b&gt;<mark>x</mark>&lt;/b&gt; &amp; y"


@pytest.mark.parametrize(
    "query",
    ["AND OR NOT", "*", "title:", 'the "unbalanced quote', "x\x00y", "what is the", "rebel* AND (", "((((", "title:Mosul", "~^%$#@!", "الموصل"],
)
def test_stray_syntax_never_crashes(seed_lib, query):
    for mode in ("hybrid", "keyword", "vector"):
        hits = seed_lib.search(query, k=3, mode=mode)
        assert len(hits) <= 3


@pytest.mark.parametrize("query", ["Mosul \ud800 rebellion", "\udfff", "drowning\udc80dissenters"])
def test_lone_surrogates_are_dropped_not_fatal(seed_lib, query):
    """Text a JSON client can send (an escaped half of a surrogate pair) that no encoding can write."""
    for mode in ("hybrid", "keyword", "vector"):
        if query == "\udfff":
            with pytest.raises(QueryError):
                seed_lib.search(query, mode=mode)
        else:
            assert seed_lib.search(query, k=3, mode=mode)
    assert seed_lib.article(query) is None and seed_lib.article_hits(query) == []


def test_syntax_only_query_falls_back_to_vectors_with_a_notice(seed_lib):
    hits = seed_lib.search("*", mode="keyword")
    assert hits.mode == "vector" and hits.notices and len(hits) > 0


def test_wildcards_and_fields_are_plain_words(seed_lib):
    # "title:" is not a field prefix and "*" matches nothing by itself
    assert seed_lib.search("title:drowning", mode="keyword")[0].paragraph == 2
    assert len(seed_lib.search("*", k=100, mode="keyword")) <= 100


def test_huge_query_is_cut_with_a_notice(seed_lib):
    query = ("Mosul rebellion drowning " * 5000)[:100_000]
    hits = seed_lib.search(query, k=3)
    assert hits and any("cut" in n for n in hits.notices)


@pytest.mark.parametrize("query", ["", "   ", "\x00\x00", "\n\t"])
def test_empty_query_is_a_query_error(seed_lib, query):
    with pytest.raises(QueryError):
        seed_lib.search(query)


def test_bad_mode_and_type(seed_lib):
    with pytest.raises(QueryError):
        seed_lib.search("Mosul", mode="fuzzy")
    with pytest.raises(QueryError):
        seed_lib.search(b"Mosul")  # type: ignore[arg-type]
    assert seed_lib.search("Mosul", k=0) == []


def test_concurrent_searches_agree(seed_lib):
    queries = ["drowning dissenters", "radio broadcast by Abadi", "airstrikes by the coalition", "weapons stored in Mosul"] * 5
    expected = {q: seed_lib.search(q, k=3)[0].id for q in set(queries)}
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: (q, seed_lib.search(q, k=3)[0].id), queries))
    assert all(expected[q] == top for q, top in results)


def test_article_level_search(seed_lib):
    (top,) = seed_lib.search_articles("drowning", k=5)
    assert top[0].startswith("seeds/")


def test_fusion_options(seed_index):
    with Library.open(seed_index, fusion_method="rrf", weights=(1.0, 1.0)) as lib:
        hits = lib.search("drowning dissenters")
        assert hits[0].score == pytest.approx(2 / 61)
    with pytest.raises(ValueError):
        Library.open(seed_index, fusion_method="nope")


@pytest.fixture
def rivers(tmp_path, monkeypatch):
    """A one-article index and its folder, with libraries looking for new generations at every call."""
    from corpus import build
    from qa import library as library_module

    monkeypatch.setattr(library_module, "REFRESH_SECONDS", 0.0)
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in winter.\n")
    build([docs], index)
    return docs, index


def test_an_open_library_follows_rebuilds(rivers):
    from corpus import build

    docs, index = rivers
    with Library.open(index) as lib:
        first = lib.info()["generation"]
        assert lib.search("Severn meadows", k=1)[0].title == "Rivers"
        for n in range(3):  # more builds than generations are kept: the first one is pruned
            (docs / f"b{n}.txt").write_text(f"Lighthouses {n}\n\nThe lighthouse number {n} guards the rocky cape of Zennor.\n")
            build([docs], index)
            assert f"Lighthouses {n}" in {h.title for h in lib.search("lighthouse guards the rocky cape of Zennor", k=5)}
        assert lib.info()["generation"] != first and lib.info()["articles"] == 4
        assert not (index / first).exists()
        answer = lib.ask("What guards the rocky cape of Zennor?")
        assert answer.answered and "lighthouse" in answer.quotes[0].text


def test_replaced_generations_are_released_once_no_call_reads_them(rivers):
    """A long-running server must not keep every generation it has served."""
    import threading

    from corpus import build

    docs, index = rivers
    with Library.open(index) as lib:
        closed = []
        for n in range(4):
            with lib._snapshot() as before:
                before.close = lambda ix=before, close=before.close: (closed.append(ix.generation), close())
            (docs / f"b{n}.txt").write_text(f"Lighthouses {n}\n\nThe lighthouse number {n} guards the cape.\n")
            build([docs], index)
            assert lib.search("lighthouse guards the cape", k=1)  # switches to the new generation
            assert lib.retired == 0 and closed[-1] == before.generation
        assert len(closed) == 4

        # a call still reading the old generation keeps it open until it is done
        reading, done, found = threading.Event(), threading.Event(), []

        def slow_call():
            with lib._snapshot() as ix:
                reading.set()
                done.wait(10)
                ids = [pid for pid, _ in ix.keyword_search(ix.parse("Severn meadows"), 5)]
                found.extend(r.text for r in ix.paragraphs(ids).values())  # still readable after the switch

        worker = threading.Thread(target=slow_call)
        worker.start()
        reading.wait(10)
        (docs / "c.txt").write_text("Castles\n\nThe castle of Harlech stands above the sea.\n")
        build([docs], index)
        assert lib.search("castle of Harlech", k=1)[0].title == "Castles"
        assert lib.retired == 1
        done.set()
        worker.join()
        assert lib.retired == 0 and any("Severn" in text for text in found)


@pytest.mark.parametrize("query", ["drowning NOT Mosul", "drowning AND NOT Mosul", "drowning ANDNOT Mosul"])
def test_terms_under_not_are_not_highlighted(seed_lib, query):
    hits = seed_lib.search(query, k=10, mode="vector")
    marked = {t for h in hits for t in h.highlighted_terms}
    assert "drowning" in marked and "mosul" not in marked
