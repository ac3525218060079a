"""Choose the hybrid fusion method and weights by measurement on a BEIR dataset's train queries.

    python bench/tune_fusion.py ../shared/data/scifact --split train

Each side's article ranking is computed once per query; every fusion setting is
then scored on the same rankings with ir-measures. Writes
bench/results/fusion-<dataset>-<split>.json and prints the best settings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa import Library, fusion
from qa.eval.retrieval import ensure_index, load_beir, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--depth", type=int, default=300, help="paragraphs taken from each side before grouping by article")
    args = parser.parse_args()

    data = load_beir(args.dataset, args.split)
    cache = args.cache or Path("indexes/eval") / args.dataset.resolve().name
    ensure_index(data, cache)
    qids = list(data.queries)
    with Library.open(cache) as lib:
        vectors = lib.encode_queries([data.queries[q] for q in qids])
        sides = {qid: lib.article_rankings(data.queries[qid], _vector=vectors[i], depth=args.depth)[:2] for i, qid in enumerate(qids)}

    def evaluate(method: str, weights, k: int = fusion.RRF_K) -> dict[str, float]:
        run = {}
        for qid, (kw, vec) in sides.items():
            ranked = fusion.fuse([kw, vec], method, weights, k=k)[:100]
            run[qid] = {doc: float(len(ranked) - r) for r, (doc, _) in enumerate(ranked)}
        return score(data, run)

    results = []
    for wk in [round(0.05 * i, 2) for i in range(0, 21)]:
        weights = (wk, round(1 - wk, 2))
        results.append({"method": "score", "weights": weights, **evaluate("score", weights)})
        for k in (10, 30, 60, 100):
            results.append({"method": "rrf", "k": k, "weights": weights, **evaluate("rrf", weights, k)})
    results.sort(key=lambda r: -r["ndcg@10"])
    out = Path("bench/results") / f"fusion-{args.dataset.resolve().name}-{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": str(args.dataset.name), "split": args.split, "queries": len(qids), "results": results}, indent=2))
    for r in results[:12]:
        print(json.dumps(r))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
