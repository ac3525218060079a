"""Shared cores: a BBC build alone, beside a second build, and beside a server under load.

Two CPU-heavy processes on one machine should each slow down about in proportion
to the cores they share (about 2x on two cores), not by the spinning of idle
threads that wait for each other. Each build here is a fresh ``corpus build`` of
the BBC articles with the default encoder. The pair of builds runs twice: with
OpenMP's passive wait policy (what ``corpus`` sets unless told otherwise) and
with the runtime's own default (``OMP_WAIT_POLICY`` set empty), the way every
process ran before. Beside the build, the server answers 20 clients asking the
BBC development questions through its JSON API; its answers a second are
counted too, alone and beside the build.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from common import BBC, CORPUS, DATA, ROOT, WORK, Clock, fresh
from server import Server

QUESTIONS = DATA / "bbc_news" / "questions-dev.jsonl"
#: The environment of a process that waits as OpenMP runtimes do by default (spinning
#: first): an empty value is not a policy, so the runtime keeps its own.
SPINNING = {"OMP_WAIT_POLICY": ""}


def _start_build(sources: Path, index: Path, env: dict[str, str] | None) -> subprocess.Popen:
    shutil.rmtree(index, ignore_errors=True)
    return subprocess.Popen([*CORPUS, "build", str(sources), "--index", str(index), "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def _builds(sources: Path, base: Path, count: int, env: dict[str, str] | None = None) -> list[float]:
    """``count`` builds started together; each one's wall time in seconds."""
    t0 = time.monotonic()
    procs = [_start_build(sources, base / f"index-{n}", env) for n in range(count)]
    walls = [0.0] * count
    pending = set(range(count))
    while pending:
        for n in list(pending):
            if procs[n].poll() is not None:
                walls[n] = round(time.monotonic() - t0, 1)
                pending.discard(n)
                if procs[n].returncode != 0:
                    raise RuntimeError(f"corpus build failed: {procs[n].stderr.read().decode(errors='replace')[-1000:]}")
        time.sleep(0.2)
    return walls


def _ask_api(url: str, question: str) -> dict:
    request = urllib.request.Request(url + "/api/ask", json.dumps({"question": question}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


class _Clients:
    """Clients asking the server without pause until stopped; answers counted."""

    def __init__(self, url: str, clients: int, seed: int = 11) -> None:
        questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
        self.answers = self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

        def client(n: int) -> None:
            rng = random.Random(seed * 1000 + n)
            while not self._stop.is_set():
                try:
                    _ask_api(url, rng.choice(questions))
                    with self._lock:
                        self.answers += 1
                except Exception:  # noqa: BLE001 — counted
                    with self._lock:
                        self.errors += 1

        self._threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
        for t in self._threads:
            t.start()

    def count(self) -> int:
        with self._lock:
            return self.answers

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def run(base_index: Path, articles: int | None = None, clients: int = 20) -> dict:
    clock = Clock()
    base = fresh(WORK / "cores")
    sources = base / "bbc"
    if articles is None:
        shutil.copytree(BBC, sources)
    else:  # a quick check of the trial itself: a few articles of each topic
        for topic in sorted(p for p in BBC.iterdir() if p.is_dir()):
            (sources / topic.name).mkdir(parents=True)
            for f in sorted(topic.iterdir())[: max(1, articles // 5)]:
                shutil.copy2(f, sources / topic.name / f.name)
    out: dict = {"command": "python bench/reliability/run.py --only cores", "articles": sum(1 for p in sources.rglob("*") if p.is_file())}
    out["alone_s"] = _builds(sources, base, 1)[0]
    out["two_builds_s"] = _builds(sources, base, 2)
    out["two_builds_spinning_s"] = _builds(sources, base, 2, SPINNING)
    out["alone_spinning_s"] = _builds(sources, base, 1, SPINNING)[0]
    server = Server(base_index, base / "serve.log")
    try:
        server.ask("Who is the chief executive of Time Warner?")  # loads what the first answer needs
        for line in QUESTIONS.read_text().splitlines():  # each question's passages met once: what follows is the steady state
            if line.strip():
                _ask_api(server.url, json.loads(line)["question"])
        asking = _Clients(server.url, clients)
        start, t0 = asking.count(), time.monotonic()
        time.sleep(30)
        out["server_alone_answers_s"] = round((asking.count() - start) / (time.monotonic() - t0), 1)
        start, t0 = asking.count(), time.monotonic()
        out["beside_server_s"] = _builds(sources, base, 1)[0]
        out["server_beside_build_answers_s"] = round((asking.count() - start) / (time.monotonic() - t0), 1)
        asking.stop()
        out["server_errors"] = asking.errors
        out["clients"] = clients
    finally:
        server.close()
    alone = out["alone_s"]
    out["slowdown"] = {
        "beside_a_build": round(max(out["two_builds_s"]) / alone, 2),
        "beside_a_build_spinning": round(max(out["two_builds_spinning_s"]) / out["alone_spinning_s"], 2),
        "beside_a_loaded_server": round(out["beside_server_s"] / alone, 2),
    }
    out["seconds"] = clock.seconds()
    return out
