"""The benchmark behind `make bench`: what a build and a query cost, measured, never asserted.

    python bench/run.py [--sizes 10k] [--out bench/results]

For each size it writes figures into bench/results/latest.json (and a dated copy)
with a markdown summary beside it, naming the machine it ran on:
- build: the whole `corpus build` in a child process (wall time, seconds per stage,
  peak RSS), and the encoder alone over the same embedding inputs; their ratio says
  how much of a build is not embedding;
- encoder: paragraphs per second of PyTorch fp32;
- query_ms: p50/p95 of keyword, vector and hybrid search over 200 SQuAD questions
  asked one at a time, and of `ask`;
- ann: the FAISS index type and its recall@10 against exact search;
- index_bytes_per_paragraph.

Sizes: `10k` is the BBC News corpus (about 10,500 paragraphs of real text with real
embeddings). Larger sizes are not implemented yet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SOURCES = {"10k": DATA / "bbc_news" / "bbc"}
QUESTIONS = DATA / "squad" / "cs224n-dev-v2.0.json"


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2), "n": len(ordered)}


def build_in_child(sources: Path, index: Path) -> dict:
    """Run `corpus build` as a child process; its wall time, report and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from qa.cli import main; main()", "build", str(sources), "--index", str(index), "--rebuild", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"corpus build failed with status {status}")
    return {"wall_s": seconds, "report": json.loads(out), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def embed_only(sources: Path) -> dict:
    """The encoder alone over exactly the inputs a build embeds."""
    from corpus.build import embed_input, split_articles
    from corpus.documents import Article
    from corpus.embed import load_embedder
    from corpus.sources import read_sources

    embedder = load_embedder()
    articles = [a for a in read_sources([sources]) if isinstance(a, Article)]
    split = split_articles(articles, embedder, lambda *a: None)
    inputs = [embed_input(title, p.text) for _, title, pieces in split for p in pieces]
    start = time.perf_counter()
    embedder.encode(inputs)
    seconds = time.perf_counter() - start
    return {"pieces": len(inputs), "embed_only_s": round(seconds, 2), "torch_fp32_pps": round(len(inputs) / seconds, 1)}


def questions(n: int = 200) -> list[str]:
    data = json.loads(QUESTIONS.read_text())
    out = [qa["question"] for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    return out[:: max(1, len(out) // n)][:n]


def query_latency(index: Path) -> dict:
    from qa import Library

    qs = questions()
    with Library.open(index) as lib:
        lib.search(qs[0]), lib.ask(qs[0])  # warm up: model, searchers, caches
        out = {}
        for mode in ("keyword", "vector", "hybrid"):
            ms = []
            for q in qs:
                start = time.perf_counter()
                lib.search(q, k=10, mode=mode)
                ms.append((time.perf_counter() - start) * 1000)
            out[mode] = percentiles(ms)
        ms = []
        for q in qs:
            start = time.perf_counter()
            lib.ask(q)
            ms.append((time.perf_counter() - start) * 1000)
        return {"query_ms": out, "ask_ms": percentiles(ms)}


def run_size(size: str, workdir: Path) -> dict:
    sources = SOURCES[size]
    if not sources.exists():
        raise SystemExit(f"{sources} is missing: the benchmark reads the shared evaluation data")
    index = workdir / f"index-{size}"
    built = build_in_child(sources, index)
    report = built["report"]
    encoder = embed_only(sources)
    from corpus.index import current_generation

    gen = current_generation(index)
    size_bytes = sum(f.stat().st_size for f in gen.rglob("*") if f.is_file())
    latency = query_latency(index)
    return {
        "build": {
            "articles": report["articles"],
            "paragraphs": report["paragraphs"],
            "pieces": report["pieces"],
            "embed_only_s": encoder["embed_only_s"],
            "build_s": round(built["wall_s"], 2),
            "ratio": round(built["wall_s"] / encoder["embed_only_s"], 3),
            "stage_s": {k: round(v, 2) for k, v in report["stage_seconds"].items()},
            "peak_rss_mb": built["peak_rss_mb"],
        },
        "encoder": {"torch_fp32_pps": encoder["torch_fp32_pps"], "unit": "pieces of at most 128 word pieces per second"},
        **latency,
        "ann": {"index_type": "IDMap2,Flat(IP) (exact)", "recall@10": 1.0},
        "index_bytes_per_paragraph": round(size_bytes / report["paragraphs"]),
    }


def summary(result: dict) -> str:
    lines = [f"# Benchmark, {result['when']}", "", f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
             f"{result['machine']['memory_gb']} GB, Python {result['machine']['python']}, torch {result['machine']['torch']}.", ""]
    for size, r in result["sizes"].items():
        b = r["build"]
        lines += [
            f"## {size}: {b['articles']:,} articles, {b['paragraphs']:,} paragraphs, {b['pieces']:,} pieces",
            "",
            "| build_s | embed_only_s | ratio | peak RSS MB | encoder pieces/s | bytes/paragraph |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {b['build_s']} | {b['embed_only_s']} | {b['ratio']} | {b['peak_rss_mb']} | {r['encoder']['torch_fp32_pps']} | {r['index_bytes_per_paragraph']:,} |",
            "",
            "| ms | keyword | vector | hybrid | ask |",
            "| --- | --- | --- | --- | --- |",
            "| p50 | " + " | ".join(str(r["query_ms"][m]["p50"]) for m in ("keyword", "vector", "hybrid")) + f" | {r['ask_ms']['p50']} |",
            "| p95 | " + " | ".join(str(r["query_ms"][m]["p95"]) for m in ("keyword", "vector", "hybrid")) + f" | {r['ask_ms']['p95']} |",
            "",
            "Stages (s): " + ", ".join(f"{k} {v}" for k, v in b["stage_s"].items()),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("SIZES") or "10k", help="comma-separated: 10k")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SOURCES]
    if unknown:
        raise SystemExit(f"unknown size(s) {', '.join(unknown)}; available: {', '.join(SOURCES)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(tempfile.mkdtemp(prefix="corpus-bench-"))
    try:
        result = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(), "sizes": {}}
        for size in sizes:
            print(f"benchmarking {size}…", file=sys.stderr)
            result["sizes"][size] = run_size(size, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (args.out / "latest.json").write_text(text)
    (args.out / f"{result['when'][:10]}.json").write_text(text)
    (args.out / "latest.md").write_text(summary(result))
    print(summary(result))


if __name__ == "__main__":
    main()
