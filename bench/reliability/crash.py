"""Crash trials: builds of the BBC index killed with SIGKILL at a random moment.

Each trial changes the sources (a few articles edited, one added, one removed),
starts ``corpus build`` (incremental, or ``--rebuild``) in a child process and,
once its draft folder exists, kills it and every process it started at a
moment drawn uniformly over the measured time such a build spends writing. Then:

- the index opens and answers a question about an article present throughout;
- CURRENT still names the previous generation, which holds exactly its counts; or,
  when the kill came after the build had published (while it was cleaning up),
  the new generation holds what the sources hold;
- the next build (not killed) succeeds, counts what the sources hold, and leaves
  no ``.tmp-*`` folder behind.

A build that ends before its kill moment is reported apart and is not counted
as a trial.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import psutil

from common import CORPUS, ROOT, Clock, copy_of_bbc

from corpus import Article, read_sources

#: An article present in every trial (never edited or removed), and a question it answers.
STEADY_FILE = "business/001.txt"
QUESTION = "How much did Time Warner's quarterly profits rise?"


def _counts(index: Path) -> tuple[str, dict]:
    generation = (index / "CURRENT").read_text().strip()
    manifest = json.loads((index / generation / "manifest.json").read_text())
    return generation, manifest["counts"]


def _mutate(sources: Path, rng: random.Random, trial: int) -> None:
    files = sorted(p for p in sources.rglob("*.txt") if p.relative_to(sources).as_posix() != STEADY_FILE)
    for path in rng.sample(files, 3):  # edited: one paragraph appended
        path.write_text(path.read_text(encoding="latin-1") + f"\n\nTrial {trial} added this paragraph about harbour number {rng.randint(1, 10**6)}.\n", encoding="latin-1")
    removed = rng.choice([f for f in files if f.exists()])
    removed.unlink()
    (sources / "added").mkdir(exist_ok=True)
    (sources / "added" / f"trial-{trial}.txt").write_text(
        f"Trial article {trial}\n\nThe lighthouse of trial {trial} guards the rocky cape.\n\nIts keeper writes {rng.randint(1, 10**6)} letters a year.\n"
    )


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for p in [proc, *children]:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)
    psutil.wait_procs(children, timeout=30)


def _build(sources: Path, index: Path, rebuild: bool) -> list[str]:
    return [*CORPUS, "build", str(sources), "--index", str(index), "--json", *(["--rebuild"] if rebuild else [])]


def _start(sources: Path, index: Path, rebuild: bool) -> tuple[subprocess.Popen, float]:
    """Start a build; return it once its draft folder exists, with the seconds that took."""
    t0 = time.monotonic()
    before = {p.name for p in index.iterdir()} if index.exists() else set()
    proc = subprocess.Popen(_build(sources, index, rebuild), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None and not any(p.name.startswith(".tmp-") and p.name not in before for p in index.iterdir()):
        time.sleep(0.01)
    return proc, time.monotonic() - t0


def _timed_build(sources: Path, index: Path, rebuild: bool) -> tuple[float, float]:
    """Seconds until the draft folder exists, and seconds the build writes after that."""
    proc, start = _start(sources, index, rebuild)
    t0 = time.monotonic()
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"build failed: {err.decode()[-1000:]}")
    return start, time.monotonic() - t0


def _answers(index: Path) -> bool:
    from qa import Library

    with Library.open(index) as lib:
        answer = lib.ask(QUESTION)
        return answer.answered and any(q.hit.source.endswith(STEADY_FILE) for q in answer.quotes)


def _expected_articles(sources: Path) -> int:
    return sum(1 for item in read_sources([sources]) if isinstance(item, Article))


def _check(sources: Path, index: Path, published: str, counts: dict) -> tuple[list[str], bool]:
    """What is wrong after a killed build (nothing, when the list is empty), and whether
    the build had published before the kill (then its generation must be whole)."""
    problems = []
    now, now_counts = _counts(index)
    after_publishing = now != published
    if after_publishing:
        if now_counts["articles"] != _expected_articles(sources):
            problems.append(f"the build published {now} with {now_counts} before it was killed, not what the sources hold")
    elif now_counts != counts:
        problems.append(f"{published} now counts {now_counts}, not {counts}")
    if not _answers(index):
        problems.append("the index did not answer the steady question")
    result = subprocess.run(_build(sources, index, False), cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        problems.append(f"the next build failed: {result.stderr.strip()[-500:]}")
    else:
        report = json.loads(result.stdout)
        expected = _expected_articles(sources)
        if report["articles"] != expected:
            problems.append(f"the next build holds {report['articles']} articles, the sources {expected}")
    stray = [p.name for p in index.iterdir() if p.name.startswith(".tmp-")]
    if stray:
        problems.append(f"stray folders: {stray}")
    return problems, after_publishing


def run(base_index: Path, incremental: int = 50, rebuilds: int = 10, seed: int = 5) -> dict:
    """``base_index``: a BBC index built from the shared folder (copied, so it is built once)."""
    clock = Clock()
    rng = random.Random(seed)
    _, sources, index = copy_of_bbc("crash", base_index)
    # how long each kind of build writes, to draw kill moments over all of it
    _mutate(sources, rng, 0)
    length = {"incremental": _timed_build(sources, index, rebuild=False), "rebuild": _timed_build(sources, index, rebuild=True)}
    wanted = {"incremental": incremental, "rebuild": rebuilds}
    killed = {"incremental": 0, "rebuild": 0}
    failures, finished_early, after_publishing, killed_at, n = [], 0, 0, [], 0
    while any(killed[k] < wanted[k] for k in wanted) and n < 2 * (incremental + rebuilds):
        n += 1
        kind = rng.choice([k for k in wanted if killed[k] < wanted[k]])
        _mutate(sources, rng, n)
        published, counts = _counts(index)
        moment = rng.uniform(0.0, length[kind][1])  # after the draft folder appears
        proc, _ = _start(sources, index, kind == "rebuild")
        time.sleep(moment)
        if proc.poll() is not None:
            finished_early += 1
            if proc.returncode != 0:
                failures.append({"trial": n, "kind": kind, "problems": [f"the build failed on its own: {proc.stderr.read().decode()[-500:]}"]})
            continue
        _kill_tree(proc)
        killed[kind] += 1
        killed_at.append(round(moment / length[kind][1], 3))
        problems, late = _check(sources, index, published, counts)
        after_publishing += late
        if problems:
            failures.append({"trial": n, "kind": kind, "moment_s": round(moment, 2), "problems": problems})
        state = "after publishing" if late else "before publishing"
        print(f"  trial {n} {kind} killed {moment:.1f} s into writing ({state}): {'ok' if not problems else problems}", flush=True)
    trials = sum(killed.values())
    return {
        "command": "python bench/reliability/run.py --only crash",
        "index": f"BBC News, {_counts(index)[1]['articles']:,} articles, {_counts(index)[1]['paragraphs']:,} paragraphs",
        "build_seconds": {k: {"until_draft": round(a, 1), "writing": round(b, 1)} for k, (a, b) in length.items()},
        "trials": trials,
        "survived": trials - len([f for f in failures if "moment_s" in f]),
        "killed": killed,
        "finished_before_the_kill": finished_early,
        "killed_after_publishing": after_publishing,
        "kill_moments_as_share_of_writing": {"min": min(killed_at, default=None), "median": sorted(killed_at)[len(killed_at) // 2] if killed_at else None, "max": max(killed_at, default=None)},
        "failures": failures,
        "seconds": clock.seconds(),
    }
