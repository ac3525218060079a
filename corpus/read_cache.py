"""What each source file held when the published generation was built, so that an
incremental build reads again only the files that changed (as ``git status`` does).

A build of 100,000 paragraphs re-read and re-hashed every source to find the one article
that changed, and a folder of PDFs was parsed again page by page at every build. The cache
keeps, for each file read whole and cleanly, its size, modification time, inode and change
time, and the id and content hash of each article it gave. A later build whose file still
has all four reuses those articles without opening it; any difference reads it again.

It is trusted only as far as it can be checked:
- it belongs to one index (named by the index's location) and to the corpus fingerprint of
  the generation it was written with: any other published generation (a build from another
  machine, a rebuild, a failed write) makes it stale, and every file is read;
- a file modified within :data:`RACY_NS` before it was read is not kept (its next change could
  leave the same modification time on a coarse clock);
- a file that gave a skipped record or a note (an encoding guessed) is read every time, so
  the build reports it every time;
- the readers' version is part of it: a new version reads everything once.

The cache lives in the user's cache folder (``$CORPUS_CACHE``, see
:func:`corpus.embed.cache_dir`), one small JSON file per index, written atomically after
a build publishes; deleting it costs one full read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .documents import Article, corpus_fingerprint

log = logging.getLogger(__name__)

#: Bumped when a reader changes what it makes of a file (titles, paragraphs, metadata).
READERS_VERSION = 1
#: A file modified this close before it was read is read again next time (a coarse clock
#: could give its next change the same modification time).
RACY_NS = 2_000_000_000


def _readers_version() -> str:
    try:
        package = version("corpus-qa")
    except PackageNotFoundError:  # run from a source tree that is not installed
        package = "source"
    return f"{package}/{READERS_VERSION}"


@dataclass(frozen=True)
class KnownArticle:
    """An article of a file unchanged since the published generation: its id and content
    hash, which is all an incremental build compares; its rows stay as they are."""

    id: str
    hash: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)  # empty: files with notes are not kept

    def content_hash(self) -> str:
        return self.hash


def _signature(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]


class ReadCache:
    """The files of one index's last build (see the module's docstring)."""

    def __init__(self, location: str, file: Path, files: dict[str, list], fingerprint: str | None) -> None:
        self.location = location
        self.file = file
        self._fingerprint = fingerprint  # of the generation it is trusted for; None: not trusted
        trusted = fingerprint is not None
        self._old = files if trusted else {}
        self._new: dict[str, list] = {}
        self._started_ns = time.time_ns()

    @classmethod
    def for_index(cls, location: str, fingerprint: str | None) -> ReadCache:
        """The cache of the index at ``location``, trusted when it was written with the
        corpus ``fingerprint`` of the published generation (None: a new index or a rebuild)."""
        from .embed.model import cache_dir  # imported late: reading sources needs no model

        file = cache_dir() / "read" / (hashlib.sha256(location.encode("utf-8")).hexdigest()[:24] + ".json")
        files: dict[str, list] = {}
        trusted = False
        if fingerprint is not None:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                trusted = data.get("fingerprint") == fingerprint and data.get("readers") == _readers_version() and data.get("location") == location
                files = data.get("files", {}) if trusted else {}
            except FileNotFoundError:
                pass
            except (OSError, ValueError, AttributeError) as exc:  # unreadable or not ours: read everything
                log.info("source cache %s ignored: %s", file, exc)
        return cls(location, file, files, fingerprint if trusted else None)

    def published_hashes(self) -> dict[str, str] | None:
        """Every article id of the generation the cache is trusted for, with its hash, when the
        cache knows them all: the articles of its files, checked against that generation's
        corpus fingerprint (so not one is missing, extra or different). The build then need
        not read them back from the index (222,852 articles on Milvus Lite: 5.8 s)."""
        if self._fingerprint is None:
            return None
        hashes: dict[str, str] = {}
        for entry in self._old.values():
            for article_id, content_hash, _ in entry[2]:
                hashes.setdefault(article_id, content_hash)
        return hashes if corpus_fingerprint(hashes) == self._fingerprint else None

    def stat(self, path: str) -> os.stat_result | None:
        try:
            return os.stat(path)
        except OSError:
            return None  # the reader says why

    def known(self, path: str, file_id: str, stat: os.stat_result | None) -> list[KnownArticle] | None:
        """The articles ``path`` gave last time, when it is unchanged since; else None."""
        entry = self._old.get(path)
        if stat is None or entry is None or entry[0] != file_id or entry[1] != _signature(stat):
            return None
        self._new[path] = entry
        return [KnownArticle(article_id, content_hash, source) for article_id, content_hash, source in entry[2]]

    def remember(self, path: str, file_id: str, stat: os.stat_result | None, items: list) -> None:
        """Keep what a clean read of ``path`` gave (articles only, no notes, not racy)."""
        if stat is None or not items or stat.st_mtime_ns > self._started_ns - RACY_NS:
            return
        if not all(isinstance(item, Article) and not item.meta.get("encoding") for item in items):
            return
        self._new[path] = [file_id, _signature(stat), [[a.id, a.content_hash(), a.source] for a in items]]

    def save(self, fingerprint: str) -> None:
        """Write what this build read, for the generation of corpus ``fingerprint``."""
        if fingerprint == self._fingerprint and self._new == self._old:
            return  # nothing to say that it does not say already
        data = {"location": self.location, "fingerprint": fingerprint, "readers": _readers_version(), "files": self._new}
        draft = self.file.with_name(f".{self.file.name}.{os.getpid()}")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            draft.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
            os.replace(draft, self.file)
        except OSError as exc:  # a cache: the next build reads everything
            log.warning("cannot keep the source cache in %s: %s", self.file, exc)
            draft.unlink(missing_ok=True)
