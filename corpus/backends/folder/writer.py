"""Writing the folder backend: a generation drafted in a temporary folder, published
by replacing ``CURRENT`` atomically (the layout is in :mod:`.index`).

A draft starts from the published generation's Whoosh index (hard links to its
files, which Whoosh never rewrites), and copies of its FAISS index and SQLite store;
it is changed in place, fsynced, renamed into a
generation folder and named in ``CURRENT`` with ``os.replace``. A build killed
at any point leaves a ``.tmp-*`` folder that the next build removes; readers
only ever follow ``CURRENT``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import FOLDER_BACKEND, Backend, Draft, build_lock
from ...documents import Article, Paragraph
from ...errors import CorpusError, IndexCorruptError
from ..analysis import TITLE_BOOST
from .index import (
    CURRENT,
    GEN_PREFIX,
    KEYWORD_DIR,
    LOCK,
    MANIFEST,
    STORE,
    TMP_PREFIX,
    VECTORS,
    current_generation,
    read_manifest,
)
from .keyword import ANALYZER_ID, BM25_B, BM25_K1, KeywordIndex
from .keyword_writer import KeywordWriter
from .links import link_or_copy
from .store import Store
from .vector import VectorIndex

#: From this many new paragraphs on, a child process writes the keyword index (see
#: corpus.keyword_writer). Starting one costs about 0.2 s (the interpreter, Whoosh's import),
#: what Whoosh takes for some 400 paragraphs; below this bound the saving is too small to matter.
KEYWORD_PROCESS_MIN_ROWS = 2_000
#: Generations kept besides the published one (a reader may still have it open).
KEEP_OLD_GENERATIONS = 1


class FolderBackend(Backend):
    """An index folder of generations (:data:`~corpus.backend.FOLDER_BACKEND`)."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.location = str(index_dir)

    @property
    def identity(self) -> str:
        return str(self.index_dir.resolve())

    @classmethod
    def for_writing(cls, location: str | os.PathLike[str]) -> FolderBackend:
        """The index folder at ``location``, created if missing; a folder that holds
        anything else is refused, so a build never writes into someone's documents."""
        index_dir = Path(location)
        if index_dir.exists() and not index_dir.is_dir():
            raise CorpusError(f"index path {index_dir} is a file, not a folder")
        if index_dir.is_dir() and not (index_dir / CURRENT).exists():
            foreign = [p.name for p in index_dir.iterdir() if not (p.name.startswith((GEN_PREFIX, TMP_PREFIX)) or p.name == LOCK)]
            if foreign:
                raise CorpusError(f"{index_dir} is not an index folder and is not empty (holds {foreign[0]!r}); choose another --index")
        index_dir.mkdir(parents=True, exist_ok=True)
        return cls(index_dir)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return build_lock(self.index_dir / LOCK, str(self.index_dir))

    def draft(self, *, rebuild: bool) -> FolderDraft:
        self._remove_stale_builds()
        if rebuild:
            draft = FolderDraft(self.index_dir, None)
            try:  # a rebuild also mends a damaged index: its settings are kept only when readable
                published = current_generation(self.index_dir)
                draft.published_manifest = read_manifest(published) if published is not None else None
            except CorpusError:
                pass
            return draft
        draft = FolderDraft(self.index_dir, current_generation(self.index_dir))
        if draft.base_manifest and draft.base_manifest.get("keyword", {}).get("analyzer") != ANALYZER_ID:
            draft.discard()
            raise IndexCorruptError("the index was built with another analyzer; rebuild it with `corpus build --rebuild`")
        return draft

    def prune(self) -> None:
        current = current_generation(self.index_dir)
        gens = sorted((p for p in self.index_dir.iterdir() if p.is_dir() and p.name.startswith(GEN_PREFIX)), key=lambda p: p.stat().st_mtime)
        old = [g for g in gens if g != current]
        for gen in old[: max(0, len(old) - KEEP_OLD_GENERATIONS)]:
            shutil.rmtree(gen, ignore_errors=True)

    def _remove_stale_builds(self) -> None:
        """Remove what killed builds left behind (called under the build lock)."""
        for entry in self.index_dir.iterdir():
            if entry.name.startswith(TMP_PREFIX):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


class FolderDraft(Draft):
    """A generation being written in ``DIR/.tmp-<random>/``."""

    def __init__(self, index_dir: Path, base: Path | None) -> None:
        self.index_dir = index_dir
        self.base = base
        self.base_manifest = read_manifest(base) if base is not None else None
        self.published_manifest = self.base_manifest
        self.base_generation = base.name if base is not None else None
        self.path = index_dir / f"{TMP_PREFIX}{secrets.token_hex(4)}"
        self.path.mkdir()
        self._store: Store | None = None
        self._keyword: KeywordIndex | None = None
        self._vectors: VectorIndex | None = None
        self._writer: KeywordWriter | None = None

    def article_hashes(self) -> dict[str, str]:
        if self.base is None:
            return {}
        store = Store(self.base / STORE, readonly=True)
        try:
            return store.article_hashes()
        finally:
            store.close()

    def carry_file(self, name: str) -> Path:
        target = self.path / name
        if not target.exists() and self.base is not None and (self.base / name).is_file():
            shutil.copy2(self.base / name, target)
        return target

    def open(self) -> None:
        if self.base is not None:
            # Whoosh never rewrites a file it has written (a commit writes new segments and a new
            # table of contents; deletions live in the table), so the base's files are linked,
            # not copied: the copy no longer grows with the keyword index (see link_or_copy)
            shutil.copytree(self.base / KEYWORD_DIR, self.path / KEYWORD_DIR, copy_function=link_or_copy)
            shutil.copy2(self.base / STORE, self.path / STORE)
            self._store = Store(self.path / STORE, readonly=False)
            # read from the base: its file is linked into the draft, with the changes beside it (see vector.py)
            self._vectors = VectorIndex.load(self.base / VECTORS)
            self._keyword = KeywordIndex.open(self.path / KEYWORD_DIR)
        else:
            self._store = Store.create(self.path / STORE)
            self._keyword = KeywordIndex.create(self.path / KEYWORD_DIR)

    def reusable_vectors(self, keys: Sequence[str]) -> tuple[list[int], np.ndarray | None]:
        found = self._store.pids_by_ekey(keys)
        have = [i for i, k in enumerate(keys) if k in found]
        if not have or self._vectors is None:
            return [], None
        return have, self._vectors.reconstruct(np.array([found[keys[i]] for i in have], dtype=np.int64))

    def replace_articles(self, removed: Sequence[str], added: Sequence[tuple[Article, Sequence[Paragraph], Sequence[str]]]) -> tuple[list[int], list[int]]:
        dropped = self._store.delete_articles(list(removed))
        new: list[int] = []
        for article, pieces, keys in added:
            new.extend(self._store.add_article(article, pieces, keys))
        self._store.commit()
        return dropped, new

    def index_keywords(self, removed: Sequence[str], first_new: int | None, rows: int, progress) -> None:
        # The keyword index's rows are read back from the committed store (ids only grow, so
        # the new paragraphs are those from the first new id on), streamed as the writer takes
        # them, in this process or in the child: a list would hold a second copy of every text.
        # Whoosh is written by a child process (corpus.keyword_writer) for large updates: a
        # thread would hold the GIL the model's import needs, and a thread beside the encoder
        # saved no time; the child runs beside the encoder instead.
        if first_new is not None and rows >= KEYWORD_PROCESS_MIN_ROWS:
            self._keyword.close()  # the child writes it; it is opened again to check it
            self._keyword = None
            self._writer = KeywordWriter(
                self.path / KEYWORD_DIR, self.path / STORE, remove=list(removed), first_pid=first_new, rows=rows, progress=progress
            )
        else:
            new_rows = self._store.paragraph_rows(from_pid=first_new) if first_new is not None else iter(())
            self._keyword.update(removed, _counted(new_rows, rows, progress))

    def add_vectors(self, dropped: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]], dim: int) -> tuple[str, float | None]:
        if self._vectors is None:
            self._vectors = VectorIndex.create(dim)
        self._vectors = self._vectors.update(dropped, parts)
        self._vectors.save(self.path / VECTORS)
        return self._vectors.index_type, self._vectors.self_check_recall

    def finish(self) -> dict[str, float]:
        if self._writer is None:
            return {}
        written = self._writer.wait()
        self._writer = None
        self._keyword = KeywordIndex.open(self.path / KEYWORD_DIR)
        return {"seconds": written["seconds"], "peak_rss_mb": written["peak_rss_mb"]}

    def checked_counts(self) -> tuple[int, int, int]:
        articles, paragraphs, pieces = self._store.counts()
        if pieces != len(self._vectors) or paragraphs != self._keyword.doc_count():
            raise IndexCorruptError(
                f"built index is inconsistent (store {paragraphs} paragraphs and {pieces} pieces, "
                f"vectors {len(self._vectors)}, keyword {self._keyword.doc_count()}); nothing was published"
            )
        return articles, paragraphs, pieces

    def engine_record(self) -> dict[str, Any]:
        return {
            "backend": FOLDER_BACKEND,
            "keyword": {
                "engine": f"whoosh-reloaded {version('whoosh-reloaded')}",
                "analyzer": ANALYZER_ID,
                "scoring": {"name": "BM25F", "idf": "lucene", "B": BM25_B, "K1": BM25_K1},
                "title_boost": TITLE_BOOST,
            },
            "vector": {"engine": f"faiss-cpu {version('faiss-cpu')}", "metric": "inner product"},
        }

    def publish(self, manifest: dict[str, Any]) -> str:
        (self.path / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        _fsync_tree(self.path)
        name = f"{GEN_PREFIX}{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        final = self.index_dir / name
        os.rename(self.path, final)
        pointer = self.index_dir / f"{TMP_PREFIX}{CURRENT}"
        try:
            with open(pointer, "w", encoding="utf-8") as handle:
                handle.write(name + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(pointer, self.index_dir / CURRENT)
        except BaseException:
            # never published: leave no generation that pruning could keep instead of the real one
            shutil.rmtree(final, ignore_errors=True)
            pointer.unlink(missing_ok=True)
            raise
        _fsync_dir(self.index_dir)
        return name

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self._keyword is not None:
            self._keyword.close()
        if self._store is not None:
            self._store.close()


def _counted(rows: Iterable, total: int, progress) -> Iterator:
    for n, row in enumerate(rows, start=1):
        yield row
        if n % 500 == 0 or n == total:
            progress(n, total)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
