"""Fusing rankings: small pure functions over ``(key, score)`` lists, best first.

Two methods:
- ``rrf``: reciprocal rank fusion, ``sum_i w_i / (k + rank_i)``; needs no score
  normalisation (BM25 scores are unbounded, cosines are not).
- ``score``: a weighted sum of min–max normalised scores; a side missing a
  key contributes 0; a side whose scores are all equal (one hit, say) maps
  them to 1 instead of dividing by zero.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
Ranking = Sequence[tuple[K, float]]

METHODS = ("rrf", "score")
RRF_K = 60

# Chosen on SciFact's 809 train queries (bench/tune_fusion.py; bench/results/fusion-scifact-train.json):
# min-max score fusion at (0.5, 0.5) scored nDCG@10 0.7451, the best of the grid; RRF's best was
# 0.7362 (k=10) and 0.7297 at the usual k=60. z-score and mean±3σ normalisations and filling in
# exact vector scores for keyword-only candidates were within 0.001 of it.
DEFAULT_METHOD = "score"
DEFAULT_WEIGHTS = (0.5, 0.5)  # (keyword, vector)


def rrf(rankings: Sequence[Ranking], weights: Sequence[float] | None = None, k: int = RRF_K) -> list[tuple[K, float]]:
    weights = _weights(weights, len(rankings))
    fused: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (key, _) in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return _sorted(fused)


def minmax(scores: Sequence[float]) -> list[float]:
    """Min–max normalise to [0, 1]; all-equal scores map to 1."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi - lo <= 1e-12:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def score_fusion(rankings: Sequence[Ranking], weights: Sequence[float] | None = None) -> list[tuple[K, float]]:
    weights = _weights(weights, len(rankings))
    fused: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights):
        for (key, _), norm in zip(ranking, minmax([s for _, s in ranking])):
            fused[key] = fused.get(key, 0.0) + weight * norm
    return _sorted(fused)


def fuse(rankings: Sequence[Ranking], method: str = DEFAULT_METHOD, weights: Sequence[float] | None = None, *, k: int = RRF_K) -> list[tuple[K, float]]:
    if method == "rrf":
        return rrf(rankings, weights, k)
    if method == "score":
        return score_fusion(rankings, weights)
    raise ValueError(f"unknown fusion method {method!r}; choose one of {', '.join(METHODS)}")


def collapse(ranking: Ranking, key_of) -> list[tuple[Hashable, float]]:
    """Keep the best entry per group (e.g. per article), in ranking order."""
    seen: dict[Hashable, float] = {}
    for key, score in ranking:
        group = key_of(key)
        if group not in seen:
            seen[group] = score
    return list(seen.items())


def _weights(weights: Sequence[float] | None, n: int) -> Sequence[float]:
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise ValueError(f"{len(weights)} weights for {n} rankings")
    if any(w < 0 for w in weights):
        raise ValueError("fusion weights must not be negative")
    return weights


def _sorted(fused: dict) -> list:
    # ties broken by key order of first appearance (dicts keep insertion order)
    return sorted(fused.items(), key=lambda item: -item[1])
