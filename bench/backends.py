"""Backends side by side, in the same run (`make bench BACKENDS=folder,milvus`).

For each size (synthetic corpora made from the BBC index, see bench/synthetic.py, written as
a folder of text files, one per article; the encoder is replaced, so build times are
everything but embedding) and each backend:
- the full build (wall time in a child process, peak RSS);
- an incremental build after one article is edited (its last paragraph changed), twice in
  one child process: first in a fresh process (cold: the wall time of the child; Milvus
  Lite starts its engine and loads the collections from its file), then again after a
  second edit with everything loaded (warm, as on a Milvus server or under
  `corpus serve --watch`): the build's own seconds, its stages, what it embedded and,
  where the engine counts them, rows written;
- the index's size;
- keyword, vector and hybrid search p50/p95 over 200 SQuAD questions, and hybrid with a
  filter that admits every article (what a filter costs when it lets everything through).
With ``--ray``, the 10k BBC build through Ray Data against the in-process build (the real
encoder, both in the same run).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from corpus.read_cache import RACY_NS
from run import BBC, MATERIAL_INDEX, ROOT, SYNTHETIC, _ms, build_in_child, percentiles, questions

BACKENDS = ("folder", "milvus")
#: The synthetic corpus: a folder of text files, one per article, as people keep articles.
FOLDER = "news"
SIZES = {"10k": 10_000, **SYNTHETIC}


def location(workdir: Path, backend: str, size: str) -> str:
    return str(workdir / f"{backend}-{size}") if backend == "folder" else f"milvus:{workdir / f'{backend}-{size}.db'}"


def edit_one_article(folder: Path, n: int) -> None:
    """Change the last paragraph of the ``n``-th article of a corpus written as a folder."""
    from bench.synthetic import article_file

    file = article_file(folder, n)
    file.write_text(file.read_text(encoding="utf-8").rstrip("\n") + f" Edit number {int(time.time() * 1000)} changes this paragraph.\n", encoding="utf-8")


def edit_child(folder: str, index: str, material: str, article: str) -> None:
    """Entry point of a child process: edit one article of the corpus in ``folder`` and build,
    twice (cold, then warm)."""
    from bench.synthetic import Material, SyntheticEmbedder
    from corpus import build

    started = time.perf_counter()
    embedder = SyntheticEmbedder(Material.load(Path(material)))
    reports = []
    for _ in range(2):
        edit_one_article(Path(folder), int(article))
        reports.append(build([folder], index, embedder=embedder).to_dict())
    reports[0]["since_process_start_s"] = time.perf_counter() - started
    print(json.dumps(reports))


def edit_figures(report: dict) -> dict:
    """An incremental build's figures: in all, finding what changed (looking at every source
    file, reading those changed since the last build, and comparing hashes) and writing the change."""
    stages = report["stage_seconds"]
    finding = stages.get("read", 0.0) + stages.get("compare", 0.0)
    return {
        "build_s": round(report["seconds"], 2), "finding_s": round(finding, 2), "writing_s": round(report["seconds"] - finding, 2),
        "stage_s": {k: round(v, 3) for k, v in stages.items()},
        "embedded": report["embedded"], "reused": report["reused"], "rows_written": report.get("rows_written"),
    }


def query_figures(index: str) -> dict:
    """Search p50/p95 by mode, and hybrid with a filter admitting every article (run in a child)."""
    from qa import Library

    qs = questions()
    with Library.open(index) as lib:
        for mode in ("keyword", "vector", "hybrid"):
            lib.search(qs[0], mode=mode)  # warm up: model, searchers, caches
        out = {mode: percentiles([_ms(lib.search, q, k=10, mode=mode) for q in qs]) for mode in ("keyword", "vector", "hybrid")}
        every = f"source={FOLDER}/"  # the corpus's folder: every article, through a real source pattern
        lib.search(qs[0], where=every)
        out["hybrid_filter_all"] = percentiles([_ms(lib.search, q, k=10, where=every) for q in qs])
        out["bytes"] = lib.info()["bytes"]
    return out


def query_in_child(index: str) -> dict:
    code = "import json, sys; sys.path.insert(0, 'bench'); from backends import query_figures; print(json.dumps(query_figures(sys.argv[1])))"
    out = subprocess.run([sys.executable, "-c", code, index], cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return json.loads(out.stdout)


def run_backends(sizes: list[str], backends: list[str], workdir: Path, *, ray: bool = False) -> dict:
    from bench.synthetic import Material, material_from_index, write_corpus
    from corpus import build

    material = workdir / "material.pickle"
    if not material.exists():
        build([BBC], MATERIAL_INDEX)  # incremental: fast when it is up to date
        material_from_index(MATERIAL_INDEX).save(material)
    result: dict = {}
    for size in sizes:
        folder = workdir / FOLDER
        counts = write_corpus(Material.load(material), SIZES[size], folder)
        time.sleep(RACY_NS / 1e9)  # files as old as an archive's: a build trusts what it read of them
        for backend in backends:
            print(f"benchmarking {backend} at {size}…", file=sys.stderr)
            index = location(workdir, backend, size)
            full = build_in_child(folder, index, material)
            code = "import sys; sys.path.insert(0, 'bench'); from backends import edit_child; edit_child(*sys.argv[1:])"
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code, str(folder), index, str(material), str(counts["articles"] // 2)],
                                 cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            cold, warm = json.loads(out.stdout)
            cold_wall = round(time.perf_counter() - start, 2)  # includes the second, warm build: subtract it
            queries = query_in_child(index)
            result.setdefault(size, {})[backend] = {
                "corpus": counts,
                "paragraphs": full["report"]["paragraphs"],
                "build_s": round(full["wall_s"], 2),
                "build_peak_rss_mb": full["peak_rss_mb"],
                "edit_one_article": {
                    "cold_wall_s": round(cold_wall - warm["seconds"], 2), "cold": edit_figures(cold), "warm": edit_figures(warm),
                },
                "bytes": queries.pop("bytes"),
                "query_ms": queries,
            }
        shutil.rmtree(folder)
    if ray:
        result["ray_10k"] = ray_overhead(workdir)
    return result


def ray_overhead(workdir: Path) -> dict:
    """The 10k BBC build embedding through Ray Data (started here) against in process."""
    out = {}
    for how in ("process", "ray"):
        index = workdir / f"bbc-{how}"
        extra = ["--embed-with", "ray"] if how == "ray" else []
        code = ["-c", "from qa.cli import main; main()", "build", str(BBC), "--index", str(index), "--rebuild", "--json", *extra]
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, *code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        report = json.loads(proc.stdout)
        out[how] = {"wall_s": round(time.perf_counter() - start, 2), "embed_s": round(report["stage_seconds"].get("embed", 0.0), 2)}
    out["overhead_s"] = round(out["ray"]["wall_s"] - out["process"]["wall_s"], 2)
    out["ratio"] = round(out["ray"]["wall_s"] / out["process"]["wall_s"], 3)
    return out


def summary(result: dict) -> list[str]:
    lines = [
        "Backends side by side (synthetic corpora; build times exclude embedding; query times in ms over 200 SQuAD questions):",
        "",
        "| size | backend | paragraphs | build s | edit 1 article, s: cold (wall) / warm: finding + writing | rows written | MB | keyword p50/p95 | vector p50/p95 | hybrid p50/p95 | hybrid, filter admitting all |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in [s for s in SIZES if s in result]:
        for backend, r in result[size].items():
            q, e = r["query_ms"], r["edit_one_article"]
            when = f" ({r['measured_at'][:10]})" if "measured_at" in r else ""  # kept from an earlier run
            lines.append(
                f"| {size}{when} | {backend} | {r['paragraphs']:,} | {r['build_s']} | {e['cold_wall_s']} / {e['warm']['finding_s']} + {e['warm']['writing_s']} | {e['warm']['rows_written'] if e['warm']['rows_written'] is not None else '–'} | "
                f"{r['bytes'] / 1e6:.0f} | " + " | ".join(f"{q[m]['p50']} / {q[m]['p95']}" for m in ("keyword", "vector", "hybrid", "hybrid_filter_all")) + " |"
            )
    if "ray_10k" in result:
        r = result["ray_10k"]
        when = f", measured {r['measured_at']}" if "measured_at" in r else ""
        lines += ["", f"Ray Data at 10k (BBC, the real encoder{when}): {r['ray']['wall_s']} s against {r['process']['wall_s']} s in process (overhead {r['overhead_s']} s, ratio {r['ratio']})."]
    return lines + [""]
