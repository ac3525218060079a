"""Hostile sources: a folder of files that break naive readers, built like any other.

The build must finish, list every file it skipped with the reason, index what
can be read, and stay within a stated memory bound (the peak RSS of the build
and of the processes it starts, measured by the kernel).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

from common import CORPUS, ROOT, WORK, Clock, fresh

#: The peak RSS the build of this folder may reach (the model and the 100,000-paragraph file dominate).
MEMORY_BOUND_MB = 2500


def make_folder(folder: Path) -> dict[str, str]:
    """Write the hostile files; return what each one is."""
    rng = random.Random(11)
    fresh(folder)
    what = {}

    def put(name: str, data: bytes | str, description: str) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        what[name] = description

    put("good.txt", "Harbour news\n\nThe harbour master counted 214 boats in the bay this summer.\n", "a normal article")
    put("binary.txt", bytes(rng.randrange(256) for _ in range(50_000)), "random bytes named .txt")
    put("image.png", b"\x89PNG\r\n\x1a\n" + bytes(1000), "an image")
    put("empty.txt", b"", "an empty file")
    put("blank.md", b"\n \n\t\n", "only whitespace")
    put("latin1.txt", "Café prices\n\nA crêpe costs £4 at the café in Sète.\n".encode("latin-1"), "Latin-1")
    put("utf16.txt", "Windows notes\n\nNotepad saved this file as UTF-16 with a byte order mark.\n".encode("utf-16"), "UTF-16 with BOM")
    put("utf8-bad.txt", b"Broken bytes\n\nHalf a character \xe2\x82 then more text about lighthouses.\n", "invalid UTF-8")
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    put("huge.txt", "A very large file\n\n" + "\n\n".join(sentence * 8 for _ in range(50 * 1024 * 1024 // (len(sentence) * 8 + 2))), "a 50 MB text file")
    put("one-word-paragraphs.txt", "Word list\n\n" + "\n\n".join(rng.choice(["apple", "river", "stone", "cloud"]) for _ in range(100_000)), "100,000 one-word paragraphs")
    lines = [
        json.dumps({"_id": "ok-1", "title": "Fine record", "text": "A record that parses, about tidal energy in the Severn."}),
        '{"_id": "broken", "title": "Half a record", "text": "never clo',
        "[1, 2, 3]",
        json.dumps({"_id": "no-text", "title": "No text"}),
        json.dumps({"_id": "ok-1", "title": "Duplicate id", "text": "Same id as the first record."}),
        "\x00\x01\x02",
        "",
        json.dumps({"_id": "ok-2", "title": "Second fine record", "text": "Wind farms off the coast of Norfolk."}),
    ]
    put("records.jsonl", "\n".join(lines) + "\n", "JSON Lines with broken lines")
    put(
        "page.html",
        "<html><head><title>Script page</title><script>window.__pwned = 1</script></head>"
        "<body><article><h1>Script page</h1><p>The museum reopens in May after repairs to its roof.</p>"
        "<script>document.write('<p>injected</p>')</script><p onclick=\"alert(1)\">Tickets cost ten pounds.</p></article></body></html>",
        "HTML with scripts",
    )
    put("odd names/new\nline.txt", "Newline name\n\nA file whose name holds a newline character.\n", "a newline in the name")
    put("odd names/émoji 🚀.txt", "Emoji name\n\nA file whose name holds an emoji and an accent.\n", "an emoji in the name")
    put("odd names/-rf.txt", "Dash name\n\nA file whose name starts with a dash.\n", "a name that looks like an option")
    os.symlink("..", folder / "odd names" / "loop")  # a symlink loop
    what["odd names/loop"] = "a symlink to its own parent (a loop)"
    os.symlink(folder / "missing.txt", folder / "dangling.txt")
    what["dangling.txt"] = "a symlink to nothing"
    return what


def run() -> dict:
    clock = Clock()
    base = fresh(WORK / "hostile")
    folder = base / "sources"
    what = make_folder(folder)
    index = base / "index"
    with open(base / "build.out", "wb") as stdout, open(base / "build.err", "wb") as stderr:
        proc = subprocess.Popen([*CORPUS, "build", str(folder), "--index", str(index), "--json"], cwd=ROOT, stdout=stdout, stderr=stderr)
        # the kernel's peak RSS of the build, and of the processes it started and waited for
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_mb = round(usage.ru_maxrss / 1024, 1)
    out, err = (base / "build.out").read_bytes(), (base / "build.err").read_bytes()
    report = json.loads(out) if proc.returncode == 0 else None
    result = {
        "command": "python bench/reliability/run.py --only hostile",
        "files": what,
        "exit_status": proc.returncode,
        "stderr_tail": err.decode(errors="replace")[-800:],
        "tracebacks": err.decode(errors="replace").count("Traceback"),
        "largest_process_rss_mb": peak_mb,  # the kernel's figure for the build or one process it started
        "memory_bound_mb": MEMORY_BOUND_MB,
        "seconds": clock.seconds(),
    }
    if report:
        # the build and its keyword-writer process run side by side: their peaks add up
        together = max(report["stage_peak_rss_mb"].values()) + (report.get("keyword_writer_peak_rss_mb") or 0)
        result.update(articles=report["articles"], paragraphs=report["paragraphs"], skipped=report.get("skipped", []),
                      notes=report.get("notes", []), build_seconds=round(report["seconds"], 1), peak_rss_mb=round(together, 1),
                      within_memory_bound=together <= MEMORY_BOUND_MB)
    return result
