"""Memory over rebuilds: a server's RSS across 20 publishes of a changed BBC index.

After each publish the same five questions are asked, so the server switches to
the new generation (and releases the one it replaces once no call reads it)
while its answer caches stay as they were. The RSS
after the 20th publish must be within 15% of the RSS after the 5th.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from common import DATA, Clock, copy_of_bbc, corpus
from server import Server

QUESTIONS = DATA / "bbc_news" / "questions-dev.jsonl"


def run(bbc_index: Path, publishes: int = 20, seed: int = 9) -> dict:
    clock = Clock()
    rng = random.Random(seed)
    base, sources, index = copy_of_bbc("memory", bbc_index)
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    files = sorted(sources.rglob("*.txt"))
    server = Server(index, base / "serve.log")
    rss, generations = [], []
    try:
        for q in questions[:5]:
            server.ask(q)
        start = server.rss_mb()
        for n in range(1, publishes + 1):
            for path in rng.sample(files, 20):  # a changed index: 20 articles edited
                path.write_text(path.read_text(encoding="latin-1") + f"\n\nUpdate {n}: the story was revised on day {rng.randint(1, 365)}.\n", encoding="latin-1")
            report = json.loads(corpus("build", str(sources), "--index", str(index), "--json").stdout)
            generations.append(report.get("generation"))
            for q in questions[:5]:  # the same questions each time: what grows is not the answer caches
                server.ask(q)
            rss.append(server.rss_mb())
            print(f"  publish {n}: server RSS {rss[-1]} MB", flush=True)
    finally:
        log = server.close()
    fifth, last = rss[min(4, len(rss) - 1)], rss[-1]
    return {
        "command": "python bench/reliability/run.py --only memory",
        "index": "BBC News, 20 articles edited before each publish",
        "publishes": publishes,
        "server_rss_mb": {"start": start, "after_each_publish": rss},
        "growth_after_5th": round(last / fifth - 1, 4),
        "server_tracebacks": log.count("Traceback"),
        "seconds": clock.seconds(),
    }
