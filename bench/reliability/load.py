"""Load: 50 clients asking questions of ``corpus serve`` through its ``/ask`` API.

First the 150 BBC development questions are each asked once, by the 50 clients
together: every answer reads passages the server has not read before (its
caches are empty), as a script asking new questions finds it. Then each client
asks, waits for the answer and asks again, for the length of the trial (the same
questions, in a seeded order): a server whose users ask about what it has read.
Counted: requests, errors, latency percentiles, the server's RSS before and
after. A second run does the same while three incremental builds publish new
generations, each adding an article; a request that fails is an error, and each
new article must become findable through the API within a few seconds of being
published.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from pathlib import Path

from common import DATA, Clock, copy_of_bbc, corpus
from server import Server

QUESTIONS = DATA / "bbc_news" / "questions-dev.jsonl"


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]


class _Tally:
    """Answers and failures of many client threads: each answer's latency, each failure's message."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def ask(self, server: Server, question: str) -> None:
        t0 = time.monotonic()
        try:
            answer = server.ask(question)
            if "answered" not in answer:
                raise RuntimeError(f"not an answer: {str(answer)[:200]}")
            with self._lock:
                self.latencies.append(time.monotonic() - t0)
        except Exception as exc:  # noqa: BLE001 — counted
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])

    def figures(self, seconds: float) -> dict:
        ordered = sorted(self.latencies)
        return {
            "errors": len(self.errors),
            "error_examples": self.errors[:5],
            "requests_per_s": round(len(ordered) / seconds, 2),
            "p50_ms": round(1000 * statistics.median(ordered), 1) if ordered else None,
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
        }


def _run_threads(target, count: int) -> float:
    """Run ``target(n)`` in ``count`` threads; the seconds until all ended."""
    t0 = time.monotonic()
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def _clients(server: Server, clients: int, seconds: float, seed: int) -> dict:
    questions = _questions()
    tally = _Tally()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        while time.monotonic() < stop:
            tally.ask(server, rng.choice(questions))

    _run_threads(client, clients)
    return {"clients": clients, "seconds": seconds, "requests": len(tally.latencies) + len(tally.errors), **tally.figures(seconds)}


def _first_asked(server: Server, clients: int) -> dict:
    """Every question asked once, by ``clients`` threads taking them from one queue."""
    todo = list(_questions())
    total = len(todo)
    tally = _Tally()
    lock = threading.Lock()

    def client(n: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                question = todo.pop()
            tally.ask(server, question)

    seconds = _run_threads(client, clients)
    return {"clients": clients, "questions": total, "seconds": round(seconds, 1), **tally.figures(seconds)}


def _publishing(server: Server, sources: Path, index: Path, builds: int, seconds: float) -> dict:
    """Incremental builds, spread over ``seconds``, each adding an article; is it found afterwards?"""
    found, problems = [], []
    for n in range(builds):
        time.sleep(seconds / (builds + 1))
        word = f"zorbulite{n}x"
        (sources / "added").mkdir(exist_ok=True)
        (sources / "added" / f"load-{n}.txt").write_text(
            f"The {word} quarry\n\nMiners dug {word} ore out of the Cornish quarry at a record pace this winter.\n"
        )
        corpus("build", str(sources), "--index", str(index), "--json")
        deadline = time.monotonic() + 10
        while True:
            answer = server.ask(f"What did the miners dig out of the Cornish quarry, the {word} one?")
            if any(word in q["text"] for q in answer.get("quotes", [])) or any(word in h["text"] for h in answer.get("closest", [])):
                found.append(n)
                break
            if time.monotonic() > deadline:
                problems.append(f"article {n} not found 10 s after its build")
                break
            time.sleep(0.5)
    return {"builds": builds, "new_articles_found": len(found), "problems": problems}


def run(bbc_index: Path, clients: int = 50, seconds: float = 60, seed: int = 3) -> dict:
    clock = Clock()
    base, sources, index = copy_of_bbc("load", bbc_index)
    server = Server(index, base / "serve.log")
    try:
        server.ask("Who is the chief executive of Time Warner?")  # loads what the first answer needs
        before = server.rss_mb()
        first = _first_asked(server, clients)
        steady = _clients(server, clients, seconds, seed)
        after_steady = server.rss_mb()
        publishing: dict = {}
        worker = threading.Thread(target=lambda: publishing.update(_publishing(server, sources, index, 3, seconds)))
        worker.start()
        rebuilding = _clients(server, clients, seconds, seed + 1)
        worker.join()
        rebuilding.update(publishing)
        after = server.rss_mb()
    finally:
        log = server.close()
    return {
        "command": "python bench/reliability/run.py --only load",
        "index": "BBC News",
        "first_asked": first,
        "steady": steady,
        "while_publishing": rebuilding,
        "server_rss_mb": {"before": before, "after_steady": after_steady, "after_publishing": after},
        "server_tracebacks": log.count("Traceback"),
        "seconds": clock.seconds(),
    }
