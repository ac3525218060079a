from __future__ import annotations

import pytest

from qa import fusion


def test_rrf_rewards_agreement():
    kw = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    vec = [("b", 0.9), ("d", 0.8), ("a", 0.1)]
    ranked = fusion.rrf([kw, vec])
    assert [key for key, _ in ranked][:2] == ["b", "a"]
    assert ranked[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_rrf_weights():
    kw = [("a", 1.0)]
    vec = [("b", 1.0)]
    assert fusion.rrf([kw, vec], weights=(0.2, 0.8))[0][0] == "b"
    assert fusion.rrf([kw, vec], weights=(0.8, 0.2))[0][0] == "a"


def test_minmax_guards_zero_range():
    assert fusion.minmax([]) == []
    assert fusion.minmax([3.0]) == [1.0]
    assert fusion.minmax([2.0, 2.0]) == [1.0, 1.0]
    assert fusion.minmax([1.0, 3.0, 2.0]) == [0.0, 1.0, 0.5]


def test_score_fusion_single_hit_and_missing_side():
    ranked = fusion.score_fusion([[("a", 12.3)], []], weights=(0.4, 0.6))
    assert ranked == [("a", pytest.approx(0.4))]
    ranked = fusion.score_fusion([[("a", 10.0), ("b", 0.0)], [("b", 0.9), ("a", 0.5)]], weights=(0.5, 0.5))
    assert dict(ranked) == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}


def test_fuse_rejects_bad_input():
    with pytest.raises(ValueError):
        fusion.fuse([[], []], "magic")
    with pytest.raises(ValueError):
        fusion.rrf([[], []], weights=(1.0,))
    with pytest.raises(ValueError):
        fusion.score_fusion([[], []], weights=(1.0, -1.0))


def test_collapse_keeps_best_per_group():
    ranking = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    group = {1: "x", 2: "y", 3: "x", 4: "z"}
    assert fusion.collapse(ranking, group.__getitem__) == [("x", 0.9), ("y", 0.8), ("z", 0.6)]
