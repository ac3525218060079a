"""Recall@10 of the approximate index types a Milvus server offers, measured with FAISS
at 1M vectors (Milvus Lite builds only FLAT, IVF_FLAT and AUTOINDEX; a server's HNSW
and IVF_PQ are the same algorithms, from hnswlib and FAISS).

    python bench/ann_types.py [--vectors 1000000] [--out bench/results/ann-types.json]

The vectors are made as bench/synthetic.py makes them (the mean of 2 to 4 real BBC
paragraph vectors of one category, plus noise), the queries are 200 SQuAD questions
embedded by the bundled model, and the truth is exact inner-product search. For each
type: build seconds, bytes per vector, search ms per query, recall@10.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import MATERIAL_INDEX, questions  # noqa: E402

#: (name, FAISS factory string, search parameters)
TYPES = [
    ("HNSW M=16, efConstruction 200, ef 128", "HNSW16", {"efSearch": 128}),
    ("HNSW M=16, efConstruction 200, ef 512", "HNSW16", {"efSearch": 512}),
    ("IVF4096,PQ48 (nprobe 64)", "IVF4096,PQ48", {"nprobe": 64}),
    ("IVF4096,PQ48 (nprobe 64), refined on 40 exact", "IVF4096,PQ48,RFlat", {"nprobe": 64, "k_factor": 4}),
    ("IVF4096,SQ8 (nprobe 64)", "IVF4096,SQ8", {"nprobe": 64}),
]


def synthetic_vectors(n: int, seed: int = 0) -> np.ndarray:
    from bench.synthetic import NOISE, material_from_index

    material = material_from_index(MATERIAL_INDEX)
    base = material.vectors
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for lo in range(0, n, 100_000):
        m = min(100_000, n - lo)
        picks = rng.integers(len(base), size=(m, 4))
        counts = rng.integers(2, 5, size=m)
        mask = np.arange(4)[None, :] < counts[:, None]
        v = (base[picks] * mask[:, :, None]).sum(axis=1) / counts[:, None]
        v += rng.standard_normal(v.shape).astype(np.float32) * (NOISE / np.sqrt(base.shape[1]))
        out[lo : lo + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def main() -> None:
    import faiss

    from corpus.embed import load_query_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ann-types.json")
    args = parser.parse_args()
    data = synthetic_vectors(args.vectors)
    queries = np.asarray(load_query_embedder().encode(questions()), dtype=np.float32)
    _, truth = faiss.knn(queries, data, 10, metric=faiss.METRIC_INNER_PRODUCT)
    results = {"vectors": args.vectors, "dim": int(data.shape[1]), "queries": len(queries), "threads": faiss.omp_get_max_threads(), "types": []}
    built: dict[str, tuple] = {}
    for name, factory, params in TYPES:
        if factory not in built:
            index = faiss.index_factory(data.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
            if factory.startswith("HNSW"):
                index.hnsw.efConstruction = 200  # as the Milvus backend creates HNSW (corpus.backends.milvus.client)
            start = time.perf_counter()
            if not index.is_trained:
                index.train(data[np.random.default_rng(1).choice(len(data), min(len(data), 200_000), replace=False)])
            index.add(data)
            built[factory] = (index, time.perf_counter() - start, len(faiss.serialize_index(index)) / len(data))
        index, build_s, size = built[factory]
        search = {k: v for k, v in params.items() if k != "k_factor"}
        if "k_factor" in params:
            index.k_factor = params["k_factor"]
            inner = faiss.downcast_index(index.base_index)
            faiss.extract_index_ivf(inner).nprobe = search["nprobe"]
            faiss_params = None
        else:
            faiss_params = faiss.SearchParametersHNSW(efSearch=search["efSearch"]) if "efSearch" in search else faiss.SearchParametersIVF(nprobe=search["nprobe"])
        start = time.perf_counter()
        _, found = index.search(queries, 10, params=faiss_params) if faiss_params is not None else index.search(queries, 10)
        ms = (time.perf_counter() - start) * 1000 / len(queries)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found.tolist(), truth.tolist())]))
        results["types"].append({"type": name, "factory": factory, "build_s": round(build_s, 1), "bytes_per_vector": round(size), "search_ms": round(ms, 2), "recall@10": round(recall, 4)})
        print(results["types"][-1], file=sys.stderr)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
