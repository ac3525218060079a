"""The benchmark behind `make bench`: what a build and a query cost, measured, never asserted.

    python bench/run.py [--sizes 10k] [--out bench/results]

For each size it writes figures into bench/results/latest.json (and a dated copy)
with a markdown summary beside it, naming the machine it ran on:
- build: the whole `corpus build` in a child process (wall time, seconds per stage,
  peak RSS), and the encoder alone over the same embedding inputs, just before and
  just after the build; the build over their mean says how much of a build is not
  embedding;
- encoder: pieces per second of PyTorch fp32 and of the onnx-int8 encoder over the
  same inputs, their mean cosine, and SciFact hybrid nDCG@10 with each;
- query_ms: p50/p95 of keyword, vector and hybrid search over 200 SQuAD questions
  asked one at a time, and of `ask` (10k);
- ann: the FAISS index type and its recall@10 against exact search for the questions;
- index_bytes_per_paragraph.

Sizes: `10k` is the BBC News corpus (about 10,500 paragraphs of real text with real
embeddings). `100k` and `1M` are synthetic, made from it (see bench/synthetic.py):
recombined BBC sentences, and vectors from the real BBC embeddings plus small noise.
Their builds run `corpus build` unchanged except for the encoder, so their build
time is everything but embedding.
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
sys.path.insert(0, str(ROOT))  # bench.synthetic, also imported by the build's child process
DATA = ROOT.parent / "shared" / "data"
BBC = DATA / "bbc_news" / "bbc"
SCIFACT = DATA / "scifact"
SYNTHETIC = {"100k": 100_000, "1M": 1_000_000}
SIZES = ("10k", *SYNTHETIC)
QUESTIONS = DATA / "squad" / "cs224n-dev-v2.0.json"
#: The BBC index the synthetic corpora are made from, kept between runs (updated incrementally).
MATERIAL_INDEX = ROOT / "indexes" / "bench" / "bbc"


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


def build_in_child(sources: Path, index: Path | str, material: Path | None = None) -> dict:
    """Run `corpus build` as a child process (with the synthetic encoder when
    ``material`` is given); its wall time, report and peak RSS."""
    if material is None:
        code = ["-c", "from qa.cli import main; main()", "build", str(sources), "--index", str(index), "--rebuild", "--json"]
    else:
        code = ["-c", "import sys; from bench.synthetic import build_child; build_child(*sys.argv[1:])", str(sources), str(index), str(material)]
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"corpus build of {sources} failed with status {status}")
    return {"wall_s": seconds, "report": json.loads(out), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def embed_inputs(sources: Path) -> list[str]:
    """Exactly the inputs a build of ``sources`` embeds."""
    from corpus.documents import Article
    from corpus.embed import load_tokenizer
    from corpus.pieces import embed_input, split_articles
    from corpus.sources import read_sources

    articles = [a for a in read_sources([sources]) if isinstance(a, Article)]
    split = split_articles(articles, load_tokenizer(), lambda *a: None)
    return [embed_input(title, p.text) for _, title, pieces in split for p in pieces]


def timed_encode(embedder, inputs: list[str]):
    start = time.perf_counter()
    vectors = embedder.encode(inputs)
    return vectors, time.perf_counter() - start


def encoders(inputs: list[str], workdir: Path) -> dict:
    """PyTorch fp32 against the onnx-int8 encoder, on the same inputs in the same run."""
    from corpus.embed import export_onnx_int8, load_embedder

    fp32, fp32_s = timed_encode(load_embedder(), inputs)
    onnx_file = workdir / "encoder-int8.onnx"
    export_onnx_int8(None, onnx_file)
    int8, int8_s = timed_encode(load_embedder(onnx_file=onnx_file), inputs)
    cosines = (fp32 * int8).sum(axis=1)
    return {
        "pieces": len(inputs),
        "embed_only_s": round(fp32_s, 2),
        "torch_fp32_pps": round(len(inputs) / fp32_s, 1),
        "fastest": "onnx-int8",
        "pps": round(len(inputs) / int8_s, 1),
        "speedup": round(fp32_s / int8_s, 3),
        "mean_cosine": round(float(cosines.mean()), 4),
        "min_cosine": round(float(cosines.min()), 4),
        "unit": "pieces (title + paragraph text, at most 128 word pieces) per second",
    }


def scifact_hybrid() -> dict:
    """SciFact test hybrid nDCG@10 with each encoder (indexes cached under indexes/eval)."""
    from qa import Library
    from qa.eval.retrieval import ensure_index, evaluate, load_beir

    data = load_beir(SCIFACT, "test")
    out = {}
    for encoder, cache in (("torch", "scifact"), ("onnx-int8", "scifact-onnx-int8")):
        index = ensure_index(data, ROOT / "indexes" / "eval" / cache, encoder=encoder)
        with Library.open(index) as lib:
            out[encoder] = evaluate(lib, data, ["hybrid"])["hybrid"]["ndcg@10"]
    out["difference"] = round(out["onnx-int8"] - out["torch"], 4)
    return out


def questions(n: int = 200) -> list[str]:
    data = json.loads(QUESTIONS.read_text())
    out = [qa["question"] for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    return out[:: max(1, len(out) // n)][:n]


def query_latency_in_child(index: Path, *, ask: bool) -> dict:
    """Query figures measured in a fresh process: nothing left over from the encoders'
    runs (their threads, caches and memory) weighs on them."""
    code = "import json, sys; from bench.run import query_latency; print(json.dumps(query_latency(sys.argv[1], ask=sys.argv[2] == '1')))"
    out = subprocess.run([sys.executable, "-c", code, str(index), "1" if ask else "0"], cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return json.loads(out.stdout)


def query_latency(index: Path | str, *, ask: bool) -> dict:
    from qa import Library

    qs = questions()
    with Library.open(index) as lib:
        lib.search(qs[0]), lib.ask(qs[0]) if ask else None  # warm up: model, searchers, caches
        out = {}
        for mode in ("keyword", "vector", "hybrid"):
            out[mode] = percentiles([_ms(lib.search, q, k=10, mode=mode) for q in qs])
        result = {"query_ms": out}
        if ask:
            profile = ask_profile(lib, qs)
            result["ask_ms"], result["ask_stages_ms"] = profile["ask_ms"], profile["stages_ms"]
        result["ann"] = ann_recall(lib, qs)
    return result


def ask_profile(lib, qs: list[str]) -> dict:
    """Each question answered as ``Library.ask`` does, timed whole (p50/p95) and by stage
    (mean ms a question; the tagger's stage runs in a thread beside the embedding)."""
    from corpus.generation import StageTimer

    answerer = lib.answerer
    totals, stages = [], {}
    for q in qs:
        timer = StageTimer()
        start = time.perf_counter()
        answerer.draft(q, timer=timer).answer(answerer.threshold)
        totals.append((time.perf_counter() - start) * 1000)
        for stage, seconds in timer.seconds.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    return {"ask_ms": percentiles(totals), "stages_ms": {stage: round(seconds * 1000 / len(qs), 1) for stage, seconds in stages.items()}}


def ask_in_child(index: Path) -> dict:
    """The ask profile over ``index`` in a fresh process (its models loaded and warmed first)."""
    code = ("import json, sys; from bench.run import ask_profile, questions; from qa import Library; qs = questions(); "
            "lib = Library.open(sys.argv[1]); lib.ask(qs[0]); print(json.dumps(ask_profile(lib, qs)))")
    out = subprocess.run([sys.executable, "-c", code, str(index)], cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return json.loads(out.stdout)


STARTUP_RUNS = 5
STARTUP_QUERY = "drowning dissenters in Mosul"
STARTUP_QUESTION = "How much did the station cost?"


def startup(index: Path | str, runs: int = STARTUP_RUNS) -> dict:
    """Cold commands, each in a fresh process as a user runs them (median of ``runs``):
    `corpus search` by keyword and hybrid, `corpus ask`; the same hybrid search and ask
    with the query encoder PyTorch fp32 (as before the ONNX export) beside them; and the
    chat: how long `corpus serve` takes to serve its page, and its first answer after that."""
    corpus = [str(Path(sys.executable).with_name("corpus"))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}

    def cold(args: list[str], extra: dict | None = None, n: int = runs) -> dict:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            subprocess.run([*corpus, *args, "--index", str(index)], cwd=ROOT, env={**env, **(extra or {})}, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        return {"median_s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times]}

    cold(["search", STARTUP_QUERY], n=1)  # the encoder's export, made once per model, is not a start's cost
    torch_path = {"CORPUS_QUERY_ENCODER": "torch"}
    figures = {
        "search_keyword": cold(["search", STARTUP_QUERY, "--mode", "keyword"]),
        "search_hybrid": cold(["search", STARTUP_QUERY]),
        "ask": cold(["ask", STARTUP_QUESTION]),
        "search_hybrid_torch": cold(["search", STARTUP_QUERY], torch_path, n=3),
        "ask_torch": cold(["ask", STARTUP_QUESTION], torch_path, n=3),
        "chat": [chat_first_answer(corpus, index, env) for _ in range(3)],
    }
    figures["chat_first_answer_median_s"] = round(statistics.median(c["first_answer_s"] for c in figures["chat"]), 2)
    figures["chat_page_median_s"] = round(statistics.median(c["page_s"] for c in figures["chat"]), 2)
    return figures


def chat_first_answer(corpus: list[str], index: Path | str, env: dict) -> dict:
    """Start `corpus serve`; the seconds until its page is served, and from then the first answer."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen([*corpus, "serve", "--index", str(index), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=5).close()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - start > 300:
                    raise RuntimeError("corpus serve did not start")
                time.sleep(0.1)
        page = time.perf_counter()
        body = json.dumps({"data": [STARTUP_QUESTION, []]}).encode()
        request = urllib.request.Request(url + "/gradio_api/call/ask", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            event = json.loads(response.read())["event_id"]
        with urllib.request.urlopen(f"{url}/gradio_api/call/ask/{event}", timeout=120) as response:
            response.read()
        return {"page_s": round(page - start, 2), "first_answer_s": round(time.perf_counter() - page, 2)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _ms(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000


def ann_recall(lib, qs: list[str], k: int = 10) -> dict:
    """The vector index's type and its recall@k against exact search, for the questions."""
    import faiss
    import numpy as np

    from corpus.backends.folder.index import Index
    from corpus.backends.folder.vector import recall_at_k

    ix = Index.open(lib.location)
    try:
        vectors = ix.vectors
        record = {"index_type": vectors.index_type, "approximate": vectors.approximate, "vectors": len(vectors)}
        if not vectors.approximate:
            return {**record, "recall@10": 1.0}
        queries = lib.encode_queries(qs)
        exact, _ = faiss.knn(queries, vectors.reconstruct(vectors.ids()), k, metric=faiss.METRIC_INNER_PRODUCT)
        found = np.array([[score for _, score in hits] for hits in vectors.search(queries, k)])
        return {**record, "recall@10": round(recall_at_k(exact, found), 4), "self_check_recall@10": ix.manifest["vector"].get("self_check_recall@10")}
    finally:
        ix.close()


def index_bytes(index: Path) -> int:
    from corpus.backends.folder.index import current_generation

    return sum(f.stat().st_size for f in current_generation(index).rglob("*") if f.is_file())


def peak_memory(built: dict) -> dict:
    """The build's peak memory: its own process plus the child that wrote the keyword index.

    wait4 reports the larger of the two peaks, not their sum; the build reports its own
    high-water mark at each stage's end and the child's. The two peaks are added, an upper
    bound on what the build held at once (they need not coincide).
    """
    report = built["report"]
    own = max(report.get("stage_peak_rss_mb", {}).values(), default=built["peak_rss_mb"])
    writer = report.get("keyword_writer_peak_rss_mb")
    figures = {"peak_rss_mb": round(own + (writer or 0), 1), "build_process_peak_rss_mb": own}
    if writer is not None:
        figures["keyword_writer_peak_rss_mb"] = writer
    return figures


def build_figures(built: dict) -> dict:
    report = built["report"]
    return {
        "articles": report["articles"],
        "paragraphs": report["paragraphs"],
        "pieces": report["pieces"],
        "build_s": round(built["wall_s"], 2),
        "stage_s": {k: round(v, 2) for k, v in report["stage_seconds"].items()},
        **peak_memory(built),
        "vector_index": report.get("vector_index"),
    }


def run_bbc(workdir: Path) -> dict:
    from corpus.embed import load_embedder

    index = workdir / "index-10k"
    inputs = embed_inputs(BBC)
    # The encoder alone runs just before the build and again just after it (in encoders());
    # the ratio takes their mean, so a machine that slows down or speeds up over the few
    # minutes of the pair does not pass for a cost of the build.
    _, before_s = timed_encode(load_embedder(), inputs)
    built = build_in_child(BBC, index)
    encoder = encoders(inputs, workdir)
    encoder["scifact_hybrid_ndcg@10"] = scifact_hybrid() if SCIFACT.exists() else "skipped: SciFact not found"
    figures = build_figures(built)
    runs = [round(before_s, 2), encoder["embed_only_s"]]
    figures["embed_only_runs_s"] = runs
    figures["embed_only_s"] = round(statistics.mean(runs), 2)
    figures["ratio"] = round(built["wall_s"] / figures["embed_only_s"], 3)
    return {
        "build": figures,
        "encoder": encoder,
        **query_latency_in_child(index, ask=True),
        "startup": startup(index),
        "index_bytes_per_paragraph": round(index_bytes(index) / built["report"]["paragraphs"]),
    }


def run_synthetic(size: str, workdir: Path) -> dict:
    from bench.synthetic import Material, material_from_index, write_corpus
    from corpus import build

    material_file = workdir / "material.pickle"
    if not material_file.exists():
        build([BBC], MATERIAL_INDEX)  # incremental: fast when it is up to date
        material_from_index(MATERIAL_INDEX).save(material_file)
    corpus = workdir / f"synthetic-{size}.jsonl"
    counts = write_corpus(Material.load(material_file), SYNTHETIC[size], corpus)
    index = workdir / f"index-{size}"
    built = build_in_child(corpus, index, material_file)
    corpus.unlink()
    result = {
        "build": {**build_figures(built), "synthetic": counts, "encoder": "synthetic (real BBC vectors plus noise): build_s is everything but embedding"},
        **query_latency_in_child(index, ask=False),
        "index_bytes_per_paragraph": round(index_bytes(index) / built["report"]["paragraphs"]),
    }
    shutil.rmtree(index, ignore_errors=True)
    return result


def summary(result: dict) -> str:
    m = result["machine"]
    lines = [f"# Benchmark, {result['when']}", "", f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, torch {m['torch']}.", ""]
    sizes = {size: result["sizes"][size] for size in SIZES if size in result["sizes"]}
    lines += [
        "| size | paragraphs | build_s | peak RSS MB | bytes/paragraph | vector index | ANN recall@10 | keyword p50/p95 | vector p50/p95 | hybrid p50/p95 | ask p50/p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size, r in sizes.items():
        b, q = r["build"], r["query_ms"]
        ask = f"{r['ask_ms']['p50']} / {r['ask_ms']['p95']}" if "ask_ms" in r else "–"
        lines.append(
            f"| {size} | {b['paragraphs']:,} | {b['build_s']} | {b['peak_rss_mb']} | {r['index_bytes_per_paragraph']:,} | {r['ann']['index_type']} | "
            f"{r['ann']['recall@10']} | " + " | ".join(f"{q[m]['p50']} / {q[m]['p95']}" for m in ("keyword", "vector", "hybrid")) + f" | {ask} |"
        )
    lines.append("")
    lines.append("Query times in ms, 200 SQuAD questions asked one at a time. 100k and 1M are synthetic (recombined BBC sentences; "
                 "vectors are real BBC embeddings plus small noise); their build_s excludes embedding. Peak RSS adds the build "
                 "process's peak to that of the child process that writes the keyword index.")
    lines.append("")
    if "10k" in sizes:
        b, e = sizes["10k"]["build"], sizes["10k"]["encoder"]
        lines += [
            f"10k build: {b['build_s']} s against {b['embed_only_s']} s for the encoder alone (ratio {b['ratio']}; "
            f"the encoder ran just before and just after the build: {' and '.join(f'{s} s' for s in b.get('embed_only_runs_s', []))}).",
            "",
            "| encoder | pieces/s | speedup | mean cosine to fp32 | SciFact hybrid nDCG@10 |",
            "| --- | --- | --- | --- | --- |",
        ]
        sci = e["scifact_hybrid_ndcg@10"]
        sci = sci if isinstance(sci, dict) else {}
        lines.append(f"| torch fp32 | {e['torch_fp32_pps']} | 1 | 1 | {sci.get('torch', '–')} |")
        lines.append(f"| {e['fastest']} | {e['pps']} | {e['speedup']} | {e['mean_cosine']} | {sci.get('onnx-int8', '–')} |")
        lines.append("")
    start = result.get("startup") or (sizes.get("10k") or {}).get("startup")
    if start:
        where = start.get("machine")
        when = f" (measured {start['measured_at']}" + (f" on {where['cpu']}, {where['cores']} cores" if where else "") + ")" if "measured_at" in start else ""
        lines += [
            f"Cold commands over the 10k index{when} (a fresh process each, median of {len(start['ask']['runs_s'])}; "
            "beside them the same with PyTorch as the query encoder, as before the ONNX export):",
            "",
            "| command | s | with PyTorch |",
            "| --- | --- | --- |",
            f"| corpus search (keyword) | {start['search_keyword']['median_s']} | |",
            f"| corpus search (hybrid) | {start['search_hybrid']['median_s']} | {start['search_hybrid_torch']['median_s']} |",
            f"| corpus ask | {start['ask']['median_s']} | {start['ask_torch']['median_s']} |",
            f"| chat: page served after `corpus serve` | {start['chat_page_median_s']} | |",
            f"| chat: first answer after the page | {start['chat_first_answer_median_s']} | |",
            "",
        ]
    ask = result.get("ask") or ({"measured_at": sizes["10k"].get("measured_at"), "ask_ms": sizes["10k"]["ask_ms"], "stages_ms": sizes["10k"]["ask_stages_ms"]}
                                if "ask_stages_ms" in sizes.get("10k", {}) else None)
    if ask:
        where = ", ".join(f"{stage} {ms}" for stage, ms in ask["stages_ms"].items())
        lines += [f"Where an answer's time goes at 10k (BBC; measured {ask['measured_at']}; ask p50 / p95 {ask['ask_ms']['p50']} / {ask['ask_ms']['p95']} ms), "
                  f"mean ms a question over the 200: {where}.", ""]
    if result.get("backends"):
        from backends import summary as backends_summary

        lines += [f"Measured {result['backends']['measured_at']}. " + backends_summary(result["backends"])[0], *backends_summary(result["backends"])[1:]]
    for size, r in sizes.items():
        when = f" (measured {r['measured_at']})" if "measured_at" in r else ""
        lines.append(f"Stages of the {size} build{when} (s): " + ", ".join(f"{k} {v}" for k, v in r["build"]["stage_s"].items()))
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("SIZES") or "10k", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--startup-only", action="store_true", help="only the cold commands and the chat's first answer, over the BBC index")
    parser.add_argument("--backends", default=os.environ.get("BACKENDS") or "", help="comma-separated (folder, milvus): compare them at each size instead (bench/backends.py)")
    parser.add_argument("--ask-only", action="store_true", help="only the answers' p50/p95 and where their time goes, over the BBC index")
    parser.add_argument("--ray", action="store_true", help="with --backends: also the 10k build through Ray Data against in process")
    args = parser.parse_args()
    if args.ask_only or args.startup_only:
        only_over_bbc(args.out, "ask" if args.ask_only else "startup")
        return
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {', '.join(unknown)}; available: {', '.join(SIZES)}")
    for needed in (BBC, QUESTIONS):
        if not needed.exists():
            raise SystemExit(f"{needed} is missing: the benchmark reads the shared evaluation data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(tempfile.mkdtemp(prefix="corpus-bench-"))
    try:
        result = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(), "sizes": previous_sizes(args.out)}
        if "10k" not in sizes and (ask := previous_ask(args.out)):  # a 10k run profiles its answers itself
            result["ask"] = ask
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        if backends:
            from backends import BACKENDS, run_backends

            if unknown := [b for b in backends if b not in BACKENDS]:
                raise SystemExit(f"unknown backend(s) {', '.join(unknown)}; available: {', '.join(BACKENDS)}")
            measured = run_backends(sizes, backends, workdir, ray=args.ray)
            result["backends"] = {"measured_at": result["when"], **merge_backends(previous_backends(args.out) or {}, measured)}
            write(result, args.out)
            sizes = []
        elif previous := previous_backends(args.out):
            result["backends"] = previous
        for size in sizes:
            print(f"benchmarking {size}…", file=sys.stderr)
            figures = run_bbc(workdir) if size == "10k" else run_synthetic(size, workdir)
            result["sizes"][size] = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **figures}
            write(result, args.out)  # after each size: a long run that stops keeps what it measured
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(summary(result))


def only_over_bbc(out: Path, part: str) -> None:
    """Measure one part (``ask``: the answers' profile; ``startup``: the cold commands) over
    the BBC index, beside the figures of the last run."""
    from corpus import build

    build([BBC], MATERIAL_INDEX)  # incremental: fast when it is up to date
    result = json.loads((out / "latest.json").read_text()) if (out / "latest.json").exists() else {"machine": machine(), "sizes": {}}
    figures = ask_in_child(MATERIAL_INDEX) if part == "ask" else startup(MATERIAL_INDEX)
    result[part] = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(), **figures}
    result.setdefault("when", result[part]["measured_at"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2))
    (out / "latest.md").write_text(summary(result))
    print(summary(result))


def previous_sizes(out: Path) -> dict:
    """Figures of sizes not run this time, kept from the last run (each says when it was measured)."""
    try:
        return {size: figures for size, figures in json.loads((out / "latest.json").read_text())["sizes"].items() if size in SIZES}
    except (OSError, ValueError, KeyError):
        return {}


def previous_backends(out: Path) -> dict | None:
    """The last comparison of backends, kept when this run does not make one."""
    try:
        return json.loads((out / "latest.json").read_text()).get("backends")
    except (OSError, ValueError):
        return None


def merge_backends(previous: dict, measured: dict) -> dict:
    """This run's backend figures, with those of the last run that it did not measure (a size
    or a backend left out, the Ray comparison), each with when it was measured."""
    merged: dict = {}
    when = previous.get("measured_at")
    for key, value in previous.items():
        if key == "measured_at":
            continue
        if key == "ray_10k":
            merged[key] = {"measured_at": when, **value} if "measured_at" not in value else value
        elif isinstance(value, dict):
            merged[key] = {b: ({"measured_at": when, **r} if "measured_at" not in r else r) for b, r in value.items()}
    for key, value in measured.items():
        if key == "ray_10k":
            merged[key] = value
        else:
            merged.setdefault(key, {}).update({b: r for b, r in value.items()})
    return merged


def previous_ask(out: Path) -> dict | None:
    """The last `--ask-only` profile, kept when this run does not measure the 10k answers."""
    try:
        return json.loads((out / "latest.json").read_text()).get("ask")
    except (OSError, ValueError):
        return None


def write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (out / "latest.json").write_text(text)
    (out / f"{result['when'][:10]}.json").write_text(text)
    (out / "latest.md").write_text(summary(result))


if __name__ == "__main__":
    main()
