"""Writing a build's keyword index in a child process, beside the model and the encoder.

Whoosh indexes in pure Python: about 5 s of CPU for the 10k paragraphs of the
BBC corpus, ten minutes for a million. In a thread of the build it holds the
GIL that the model's import and the splitting also need, so nothing overlaps;
in a process of its own it runs on the core those leave idle while the model
loads (the build then only waits for what is left of it).

The child reads its rows from the generation's paragraph store, which the
build has committed before starting it: the paragraphs whose head id is at
least ``first_pid`` (ids only grow), in id order, as the build would have
added them. Its job comes as one JSON line on stdin, it reports rows written
as lines on stdout, and it exits as soon as its stdin closes early, so a
killed build leaves no writer behind.

    python -m corpus.backends.folder.keyword_writer < job.json
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ...errors import CorpusError

#: Rows between two progress lines of the child.
REPORT_EVERY = 1_000


class KeywordWriter:
    """The parent's handle on a writing child: start it, then :meth:`wait` for it."""

    def __init__(
        self,
        index_dir: Path,
        store_path: Path,
        *,
        remove: Iterable[str],
        first_pid: int,
        rows: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        job = {"index": str(index_dir), "store": str(store_path), "remove": list(remove), "first_pid": int(first_pid)}
        package_root = str(Path(__file__).resolve().parents[1])  # the child imports this very code
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._rows = rows
        self._progress = progress
        self._stderr: list[str] = []
        self._report: dict = {}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
            )
        except OSError as exc:
            raise CorpusError(f"writing the keyword index failed: cannot start {sys.executable}: {exc.strerror or exc}") from exc
        self._readers = [
            threading.Thread(target=self._read_stdout, name="keyword-writer-out", daemon=True),
            threading.Thread(target=self._read_stderr, name="keyword-writer-err", daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        try:
            self._proc.stdin.write(json.dumps(job) + "\n")
            self._proc.stdin.flush()  # stdin stays open: the child stops if it closes early
        except OSError:
            pass  # the child is gone already; wait() reports why

    def _read_stdout(self) -> None:
        for line in self._proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    self._report = json.loads(line)
                except ValueError:
                    self._stderr.append(f"unreadable report {line[:200]!r}")
            elif line.isdigit() and self._progress:
                self._progress(int(line), self._rows)

    def _read_stderr(self) -> None:
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip())

    def wait(self) -> dict:
        """Wait for the child; its report (``seconds``, ``rows``, ``peak_rss_mb``), or a CorpusError."""
        self._proc.wait()
        self._close_stdin()
        for reader in self._readers:
            reader.join()
        if self._proc.returncode != 0 or not self._report:
            reason = next((line for line in reversed(self._stderr) if line.strip()), f"exit status {self._proc.returncode}")
            raise CorpusError(f"writing the keyword index failed: {reason.removeprefix('error: ')}")
        return self._report

    def stop(self) -> None:
        """Stop the child if it still runs (the build failed elsewhere)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_stdin()

    def _close_stdin(self) -> None:
        try:
            self._proc.stdin.close()
        except OSError:
            pass


# -- the child -----------------------------------------------------------------


def _exit_when_orphaned() -> None:
    """Block until stdin closes; the parent closes it only after the child is done."""
    sys.stdin.read()
    os._exit(3)


def main() -> int:
    from .keyword import KeywordIndex
    from .store import Store

    started = time.perf_counter()
    job = json.loads(sys.stdin.readline())
    threading.Thread(target=_exit_when_orphaned, daemon=True).start()
    written = 0

    def counted(rows: Iterable) -> Iterator:
        """The rows, reporting every REPORT_EVERY-th and the last on stdout."""
        nonlocal written
        for written, row in enumerate(rows, start=1):
            if written % REPORT_EVERY == 0:
                print(written, flush=True)
            yield row
        print(written, flush=True)

    try:
        keyword = KeywordIndex.open(Path(job["index"]))
        store = Store(Path(job["store"]), readonly=True)
        try:
            keyword.update(job["remove"], counted(store.paragraph_rows(from_pid=job["first_pid"])))
        finally:
            store.close()
            keyword.close()
    except Exception as exc:  # reported to the parent, which raises it as a CorpusError
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(time.perf_counter() - started, 3), "rows": written, "peak_rss_mb": round(peak, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
