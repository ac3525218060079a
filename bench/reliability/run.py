"""``make reliability``: the reliability trials, each bounded in count and time.

    python bench/reliability/run.py [--only fuzz,crash,load,memory,hostile,security,cores] [--quick]

Writes bench/results/reliability.json (the figures, each with the command that
reproduces it) and bench/results/reliability.md, the table docs/reliability.md shows
(a full run puts it between that page's reliability markers).
Not part of ``make test``: it takes about half an hour on two cores. All
traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BBC, ROOT, SEEDS, WORK, Clock, corpus  # noqa: E402

TRIALS = ("fuzz", "crash", "load", "memory", "hostile", "security", "cores")
OUT = ROOT / "bench" / "results" / "reliability.json"


def seed_index() -> str:
    path = WORK / "seed"
    corpus("build", str(SEEDS), "--index", str(path), "--json")
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(TRIALS), help="comma-separated trials")
    parser.add_argument("--quick", action="store_true", help="a small count of everything (a check of the trials themselves)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    chosen = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = set(chosen) - set(TRIALS)
    if unknown:
        parser.error(f"unknown trials: {', '.join(sorted(unknown))}")
    if not BBC.exists() and set(chosen) & {"crash", "load", "memory", "cores"}:
        print(f"error: the BBC News articles are missing ({BBC})", file=sys.stderr)
        return 1
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    clock = Clock()
    for name in chosen:
        print(f"== {name}", file=sys.stderr, flush=True)
        results[name] = run_trial(name, args.quick)
        results[name]["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        print(json.dumps(results[name], indent=1)[:3000], file=sys.stderr, flush=True)
        results["machine"] = machine()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(table(results), encoding="utf-8")
    if args.out == OUT and not args.quick:
        update_doc(table(results))
    print(f"{clock.seconds()} s; wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 0


def update_doc(text: str) -> None:
    """Put the table between docs/reliability.md's markers, so the two never disagree."""
    doc = ROOT / "docs" / "reliability.md"
    content = doc.read_text(encoding="utf-8")
    start, end = "<!-- reliability:start -->\n", "<!-- reliability:end -->"
    if start in content and end in content:
        head, rest = content.split(start, 1)
        doc.write_text(head + start + text + end + rest.split(end, 1)[1], encoding="utf-8")


def base_index() -> Path:
    """The BBC index the crash, load and memory trials copy (built once, kept between runs).

    It uses the int8 ONNX encoder, about three times as fast as PyTorch here, so
    that ten full rebuilds fit in the trials' time."""
    path = WORK / "base" / "index"
    if not (path / "CURRENT").exists():
        corpus("build", str(BBC), "--index", str(path), "--encoder", "onnx-int8", "--json", timeout=3600)
    return path


def run_trial(name: str, quick: bool) -> dict:
    if name == "fuzz":
        import fuzz

        return fuzz.run(seed_index(), count=300 if quick else 10_000, cli_count=30 if quick else 500, api_count=30 if quick else 300)
    if name == "crash":
        import crash

        return crash.run(base_index(), incremental=3 if quick else 50, rebuilds=1 if quick else 10)
    if name == "load":
        import load

        return load.run(base_index(), clients=10 if quick else 50, seconds=10 if quick else 60)
    if name == "memory":
        import memory

        return memory.run(base_index(), publishes=4 if quick else 20)
    if name == "hostile":
        import hostile

        return hostile.run()
    if name == "security":
        import security

        return security.run(seed_index())
    if name == "cores":
        import cores

        return cores.run(base_index(), articles=50 if quick else None)
    raise AssertionError(name)


def machine() -> dict:
    import os

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}


def table(results: dict) -> str:
    """The table of docs/reliability.md: one row per figure, with what is required and how to reproduce it."""
    rows = ["| trial | figure | result | required |", "| --- | --- | --- | --- |"]

    def row(trial: str, figure: str, result: object, required: str) -> None:
        rows.append(f"| {trial} | {figure} | {result} | {required} |")

    if "fuzz" in results:
        f = results["fuzz"]
        if "api" in f:
            row("fuzz", "inputs through the library / the CLI / the HTTP API", f"{f['library']['inputs']:,} / {f['cli']['inputs']:,} / {f['api']['inputs']:,}", "≥ 10,000 / ≥ 500 / ≥ 300")
            row("fuzz", "API calls answered by neither an answer nor an error event", f["api"]["unanswered"], "0")
        else:
            row("fuzz", "inputs through the library / the CLI", f"{f['library']['inputs']:,} / {f['cli']['inputs']:,}", "≥ 10,000 / ≥ 500")
        row("fuzz", "exceptions that are not a `CorpusError`", f["untyped_exceptions"], "0")
        row("fuzz", "tracebacks on stderr or in the log (the server's included)", f["tracebacks"], "0")
    if "crash" in results:
        c = results["crash"]
        row("crash", "SIGKILLed builds survived (incremental + `--rebuild`)",
            f"{c['survived']} of {c['trials']} ({c['killed']['incremental']} + {c['killed']['rebuild']})", "all, ≥ 60")
    if "load" in results:
        lo = results["load"]
        if "first_asked" in lo:
            r = lo["first_asked"]
            row("load", f"{r['questions']} questions each asked once (passages new to the server), {r['clients']} clients: answers/s / errors / p50 / p95",
                f"{r['requests_per_s']} / {r['errors']} / {r['p50_ms'] / 1000:.2f} s / {r['p95_ms'] / 1000:.2f} s", "errors 0")
        for name, key in (("steady", "steady"), ("while 3 builds publish", "while_publishing")):
            r = lo[key]
            row("load", f"{r['clients']} clients for {r['seconds']:.0f} s, {name}: requests (a second) / errors / p50 / p95",
                f"{r['requests']:,} ({r['requests_per_s']}) / {r['errors']} / {r['p50_ms'] / 1000:.2f} s / {r['p95_ms'] / 1000:.2f} s", "≥ 60 a second, p95 ≤ 1.5 s, errors 0")
        r = lo["while_publishing"]
        row("load", "new articles findable after their build", f"{r['new_articles_found']} of {r['builds']}", "all")
        m = lo["server_rss_mb"]
        row("load", "server RSS before / after", f"{m['before']:.0f} / {m['after_publishing']:.0f} MB", "")
    if "memory" in results:
        m = results["memory"]
        rss = m["server_rss_mb"]["after_each_publish"]
        row("memory", f"server RSS after publish 5 / {m['publishes']}", f"{rss[min(4, len(rss) - 1)]:.0f} / {rss[-1]:.0f} MB ({100 * m['growth_after_5th']:+.1f}%)", "within 15%")
    if "hostile" in results:
        h = results["hostile"]
        row("hostile", "files / articles indexed / skipped with a reason", f"{len(h['files'])} / {h.get('articles')} / {len(h.get('skipped', []))}", "build succeeds")
        row("hostile", "peak RSS of the build (with its keyword writer)", f"{h.get('peak_rss_mb')} MB", f"≤ {h['memory_bound_mb']:,} MB")
    if "security" in results:
        s = results["security"]
        row("security", "addresses `corpus serve` listens on", ", ".join(s["listening_on"]), "127.0.0.1")
        row("security", "files outside the app served (of requests)", f"{s['files_outside_the_app_served']} (of {s['file_requests']})", "0")
        row("security", "active markup in rendered answers, sources, articles", f"{s['active_markup_in_pages']} (in {s['rendered_pages']} pages)", "0")
    if "cores" in results:
        c = results["cores"]
        s = c["slowdown"]
        row("cores", "BBC build alone / beside a second build / beside a server under load",
            f"{c['alone_s']:.0f} / {max(c['two_builds_s']):.0f} / {c['beside_server_s']:.0f} s (x{s['beside_a_build']} / x{s['beside_a_loaded_server']})", "about x2, not x10")
        row("cores", "the same pair of builds with OpenMP's threads spinning (its default)",
            f"{c['alone_spinning_s']:.0f} / {max(c['two_builds_spinning_s']):.0f} s (x{s['beside_a_build_spinning']})", "")
        row("cores", f"server answers a second ({c['clients']} clients), alone / beside the build",
            f"{c['server_alone_answers_s']} / {c['server_beside_build_answers_s']} (errors {c['server_errors']})", "")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
