"""Retrieval quality on a BEIR-format dataset (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

A BEIR document is one article; articles are ranked by their best paragraph
(see :meth:`Library.search_articles`). Metrics come from ``ir-measures``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus.build import build
from corpus.errors import (
    IndexCorruptError,
    ModelMismatchError,
    SettingMismatchError,
    SourceError,
)

from ..library import MODES, Library

MEASURES = {"ndcg@10": "nDCG@10", "recall@100": "R@100", "mrr@10": "RR@10"}


@dataclass(frozen=True)
class Dataset:
    path: Path
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(path: str | os.PathLike[str], split: str = "test") -> Dataset:
    root = Path(path)
    corpus = root / "corpus.jsonl"
    queries_file = root / "queries.jsonl"
    qrels_file = root / "qrels" / f"{split}.tsv"
    for needed in (corpus, queries_file, qrels_file):
        if not needed.is_file():
            raise SourceError(f"not a BEIR dataset folder: {needed} is missing")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for row in reader:
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {}
    with queries_file.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                if str(record["_id"]) in qrels:
                    queries[str(record["_id"])] = record["text"]
    if not queries:
        raise SourceError(f"no queries of {qrels_file} found in {queries_file}")
    return Dataset(root, corpus, queries, qrels)


def ensure_index(dataset: Dataset, cache: Path, *, model=None, encoder=None, progress=None) -> Path:
    """Build (or reuse) the dataset's index in ``cache``; a second run is incremental and fast."""
    return build_cache([dataset.corpus], cache, model=model, encoder=encoder, progress=progress)


def build_cache(sources: Sequence[Path], cache: Path, *, model=None, encoder=None, progress=None) -> Path:
    """Build or update an evaluation's cached index. The cache is ours: one built by
    another version, model or encoder is rebuilt rather than refused."""
    try:
        build(sources, cache, model=model, encoder=encoder, progress=progress)
    except (IndexCorruptError, ModelMismatchError, SettingMismatchError):
        build(sources, cache, model=model, encoder=encoder, progress=progress, rebuild=True)
    return cache


def run(lib: Library, dataset: Dataset, mode: str, *, k: int = 100, fusion_method=None, weights=None, vectors=None) -> dict[str, dict[str, float]]:
    """The ranked articles of every query, as ir-measures' run mapping."""
    qids = list(dataset.queries)
    if vectors is None and mode != "keyword":
        vectors = lib.encode_queries([dataset.queries[q] for q in qids])
    out: dict[str, dict[str, float]] = {}
    for i, qid in enumerate(qids):
        ranked = lib.search_articles(
            dataset.queries[qid], k=k, mode=mode, fusion_method=fusion_method, weights=weights,
            _vector=None if vectors is None else vectors[i],
        )
        # ir-measures sorts by score; make ties impossible so the order is kept
        out[qid] = {doc: float(len(ranked) - r) for r, (doc, _) in enumerate(ranked)}
    return out


def score(dataset: Dataset, run_: dict[str, dict[str, float]]) -> dict[str, float]:
    import ir_measures

    measures = {name: ir_measures.parse_measure(m) for name, m in MEASURES.items()}
    agg = ir_measures.calc_aggregate(list(measures.values()), dataset.qrels, run_)
    return {name: round(float(agg[m]), 4) for name, m in measures.items()}


def evaluate(
    lib: Library,
    dataset: Dataset,
    modes: Sequence[str] = MODES,
    *,
    fusion_method=None,
    weights=None,
    on_mode: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    vectors = lib.encode_queries([dataset.queries[q] for q in dataset.queries]) if any(m != "keyword" for m in modes) else None
    results = {}
    for mode in modes:
        if on_mode:
            on_mode(mode)
        results[mode] = score(dataset, run(lib, dataset, mode, fusion_method=fusion_method, weights=weights, vectors=vectors))
    return results
