"""Folders that stay indexed: watch an index's sources and build again when they change.

A change (a file added, edited, removed or renamed under a source folder) starts an
incremental build once the sources have been quiet for a moment, so a file being copied is
read whole: the build waits while any source file is still being written (modified within
the last ``settle`` seconds), and a change that arrives during a build starts the next one
when it ends. One build runs at a time; each publishes atomically, so a failed or killed
build leaves the published index answering, and an open library switches to each new
generation by itself. Files are watched with ``watchfiles`` (inotify on Linux, polling
where there is none).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .backend import open_reader
from .build import BuildReport, build
from .errors import CorpusError

log = logging.getLogger(__name__)

#: Seconds without a change before a build starts (a file still being written waits longer).
SETTLE_SECONDS = 1.0
#: The longest a build waits for files that keep changing before it reads them anyway.
MAX_WAIT_SECONDS = 30.0


class Watcher:
    """Keeps the index at ``index`` built from ``sources`` (default: the sources it was built
    from). ``on_build`` is called with each build's report, ``on_error`` with each failure's
    one-line message, ``on_ready`` once the watch has begun; :meth:`start` runs it in a
    thread, :meth:`run` in this one. A change made after the watcher was created but before
    its watch began is caught up by a build as the watch begins."""

    def __init__(
        self,
        index: str | os.PathLike[str],
        sources: Iterable[str | os.PathLike[str]] | None = None,
        *,
        settle: float = SETTLE_SECONDS,
        on_build: Callable[[BuildReport], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        force_polling: bool | None = None,
        **build_options,
    ) -> None:
        self.index = os.fspath(index)
        self.sources = [str(Path(s).resolve()) for s in sources] if sources else _sources_of(self.index)
        missing = [s for s in self.sources if not Path(s).exists()]
        if missing:
            raise CorpusError(f"cannot watch {', '.join(missing)}: not found")
        self.settle = settle
        self.on_build = on_build or (lambda report: None)
        self.on_error = on_error or (lambda message: log.warning("watch: %s", message))
        self.on_ready = on_ready or (lambda: None)
        self._since = time.time()  # a change after this and before the watch begins is caught up
        self.force_polling = force_polling
        self.build_options = build_options
        self._own = _local_path(self.index)  # the index's files, never a change to build for
        #: set once the watch has begun: changes from then on are seen
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self.run, name=f"watch {self.index}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Build after each settled change until :meth:`stop` (or Ctrl+C)."""
        import watchfiles

        log.info("watching %s for %s", ", ".join(self.sources), self.index)
        changes = watchfiles.watch(
            *self.sources,
            watch_filter=self._relevant,
            step=int(self.settle * 1000),
            debounce=int(MAX_WAIT_SECONDS * 1000),
            stop_event=self._stop,
            force_polling=self.force_polling,
            poll_delay_ms=300,
            rust_timeout=int(self.settle * 1000),
            yield_on_timeout=True,  # an empty batch: the watch has begun (and nothing changed)
            raise_interrupt=False,
        )
        ready = False
        for batch in changes:
            if self._stop.is_set():
                break
            if not ready:  # the watch has begun: anything changed before it is caught up now
                ready = True
                if not batch and _newest_mtime(self.sources, self._own) >= self._since:
                    batch = {("catch up", "")}
                self.ready.set()
                self.on_ready()
            if not batch:
                continue
            log.info("%d change(s) under the sources of %s", len(batch), self.index)
            self._wait_until_written()
            self.build_now()

    def build_now(self) -> BuildReport | None:
        """One incremental build; a failure is reported, never raised (the index stays)."""
        try:
            report = build(self.sources, self.index, **self.build_options)
        except CorpusError as exc:
            self.on_error(str(exc))
            return None
        self.on_build(report)
        return report

    def _relevant(self, change, path: str) -> bool:
        """A change to a source file: not a hidden one, and not the index's own files (an
        index kept inside a watched folder would rebuild itself forever)."""
        parts = Path(path).parts
        if any(part.startswith(".") for part in parts[-2:]):
            return False
        own = self._own
        return own is None or not (path == own or path.startswith(own + os.sep))

    def _wait_until_written(self) -> None:
        """Wait while a source file was modified within ``settle`` seconds (one being copied)."""
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        while time.monotonic() < deadline and not self._stop.is_set():
            newest = _newest_mtime(self.sources, self._own)
            if time.time() - newest >= self.settle:
                return
            time.sleep(min(self.settle, 0.25))


def _sources_of(index: str) -> list[str]:
    """The sources an index was built from, as its manifest records them."""
    reader = open_reader(index)
    try:
        sources = list(reader.manifest.get("sources") or [])
    finally:
        reader.close()
    if not sources:
        raise CorpusError(f"the index at {index} records no sources; name the folders to watch")
    return sources


def _local_path(index: str) -> str | None:
    """The index's folder (or Milvus Lite file) on this machine, or None for a server."""
    if index.startswith("milvus://"):
        return None
    if index.startswith("milvus:"):
        return str(Path(index[len("milvus:") :]).resolve())
    return str(Path(index).resolve())


def _newest_mtime(sources: list[str], skip: str | None) -> float:
    newest = 0.0
    for source in sources:
        root = Path(source)
        if root.is_file():
            paths = [root]
        else:
            paths = []
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if not d.startswith(".") and (skip is None or os.path.join(dirpath, d) != skip)]
                paths += [Path(dirpath) / name for name in filenames if not name.startswith(".")]
        for path in paths:
            try:
                newest = max(newest, path.stat().st_mtime)
            except OSError:  # removed meanwhile
                continue
    return newest
