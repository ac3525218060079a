"""What searching needs from an index, whatever engine holds it.

A :class:`Reader` is one published generation of an index, opened for
reading: keyword search and vector search returning paragraph ids and
scores, paragraphs and articles by id, the analyzer's terms and highlight
spans, and the model that embeds queries. The library (``qa``) talks to
an index only through it, so another engine is one more implementation.

:func:`open_reader` and :func:`open_backend` are the factory: they find the
implementation a location names in :data:`BACKENDS` and import it then, so
this module imports no engine and no engine is loaded that is not used. The
engines live in ``corpus/backends/``: ``folder/`` (a folder of generations, each
a Whoosh index, a FAISS index and an SQLite store; ``backend`` =
:data:`FOLDER_BACKEND`) and ``milvus/`` (:data:`MILVUS_BACKEND`).
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .documents import Article, Paragraph, ParagraphRecord, duplicate_key
from .embed import Embedder
from .errors import BuildLockedError, IndexCorruptError
from .filters import Where

#: The manifest's ``backend`` for a folder of Whoosh + FAISS + SQLite generations
#: (manifests written before backends were named have none and mean this one).
FOLDER_BACKEND = "whoosh-faiss-sqlite"
#: The manifest's ``backend`` for an index served by Milvus.
MILVUS_BACKEND = "milvus"


@dataclass(frozen=True)
class ParsedQuery:
    """A user query as a reader's keyword side understood it.

    ``terms`` are the analysed (stemmed) terms, for highlighting and weighting;
    ``plan`` is the reader's own form of the query, to hand back to the same
    reader's :meth:`Reader.keyword_search` and never read by anyone else.
    """

    terms: frozenset[str]
    plan: Any = field(default=None, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return self.plan is None


@dataclass(frozen=True)
class Admitted:
    """What a :class:`corpus.filters.Where` lets through in one generation: its articles
    (None where the engine filters inside its search and never lists them: then ``matched``
    says how many), how many articles a date filter left out for having no date, and the
    reader's own form of the filter (``plan``, read by that reader only)."""

    articles: frozenset[str] | None
    undated: int = 0
    plan: Any = field(default=None, compare=False, repr=False)
    matched: int | None = None

    @property
    def count(self) -> int:
        """How many articles the filter lets through."""
        return self.matched if self.matched is not None else len(self.articles or ())


class Reader(ABC):
    """One published generation of an index, opened for reading; safe to share across threads."""

    #: the location it was opened from (a folder, or an engine's address)
    location: str
    #: the published generation's name: a new name means a new generation
    generation: str
    manifest: dict[str, Any]

    @property
    @abstractmethod
    def embedder(self) -> Embedder:
        """The model that built the index (loaded on first use)."""

    # -- searching --------------------------------------------------------------
    @abstractmethod
    def parse(self, text: str) -> ParsedQuery:
        """A query as the keyword side understands it (empty when nothing searchable remains)."""

    @abstractmethod
    def admit(self, where: Where) -> Admitted:
        """The articles a filter lets through (see :mod:`corpus.filters`)."""

    def article_list(self) -> list[str]:
        """The ids of every article, sorted."""
        return sorted(self.admit(Where()).articles)

    @abstractmethod
    def keyword_search(self, parsed: ParsedQuery, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        """The ``limit`` best paragraphs for a parsed query as ``(paragraph id, score)``, best first;
        only paragraphs of the ``admitted`` articles when given, chosen before the cut."""

    @abstractmethod
    def vector_search(self, vector: np.ndarray, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        """The ``limit`` best paragraphs for a normalised query vector as ``(paragraph id, cosine)``,
        best first; a paragraph stored as several pieces scores as its best piece; only
        paragraphs of the ``admitted`` articles when given, chosen before the cut."""

    # -- copies of one paragraph in several articles ------------------------------
    def duplicate_keys(self, ids: Sequence[int]) -> dict[int, str]:
        """The copy key (:func:`corpus.documents.duplicate_key`) of each of these paragraphs that
        has one. Here: computed from their text; a reader that keeps keys reads them."""
        keys = ((pid, duplicate_key(r.text)) for pid, r in self.paragraphs(ids).items())
        return {pid: key for pid, key in keys if key is not None}

    def copies(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """For each copy key, every article holding such a paragraph (empty where the reader
        keeps no keys: then only the copies among a search's candidates are known)."""
        return {}

    # -- what it holds ----------------------------------------------------------
    @abstractmethod
    def paragraphs(self, ids: Sequence[int]) -> dict[int, ParagraphRecord]:
        """The paragraphs with these ids (ids it does not hold are left out)."""

    @abstractmethod
    def article_ids(self, ids: Sequence[int]) -> dict[int, str]:
        """The article of each of these paragraphs (cheaper than :meth:`paragraphs`)."""

    @abstractmethod
    def article(self, article_id: str) -> Article | None: ...

    @abstractmethod
    def article_paragraphs(self, article_id: str) -> list[ParagraphRecord]:
        """Every paragraph of an article, in order."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """``articles``, ``paragraphs`` and ``pieces`` (the embedded windows)."""

    @abstractmethod
    def size_bytes(self) -> int:
        """What the generation takes on disk (or in the engine), as far as it can tell."""

    # -- the analyzer -----------------------------------------------------------
    @abstractmethod
    def stems(self, text: str) -> set[str]:
        """The analysed terms of ``text``."""

    @abstractmethod
    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of analysed terms among the paragraphs."""

    @abstractmethod
    def highlight_spans(self, text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
        """Character spans of the words of ``text`` whose analysed form is among ``terms``."""

    # -- generations --------------------------------------------------------------
    @abstractmethod
    def published(self) -> str | None:
        """The name of the generation published at this reader's location now (cheap;
        ``None`` when it cannot tell). A name other than :attr:`generation` means a
        build has published a new one: open the location again to read it."""

    @abstractmethod
    def close(self) -> None: ...


@contextlib.contextmanager
def build_lock(path: Path, location: str) -> Iterator[None]:
    """Held by the one build allowed at a time: an exclusive lock on the file ``path``
    (:class:`BuildLockedError` naming ``location`` when another build holds it)."""
    import fcntl

    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BuildLockedError(f"another build is writing to {location}; wait for it to finish") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_index_dir() -> Path | str:
    """``$CORPUS_INDEX``, else ``indexes/default`` (a ``milvus:`` location stays a string)."""
    value = os.environ.get("CORPUS_INDEX") or "indexes/default"
    return Path(value) if backend_at(value) == FOLDER_BACKEND else value


def find_indexes(folder: str | os.PathLike[str]) -> list[Path]:
    """The published folder indexes directly inside ``folder``, by name (a folder that
    holds generations but none published yet, or no index at all, is not one)."""
    return implementation(FOLDER_BACKEND).find_indexes(folder)


def backend_of(manifest: dict[str, Any]) -> str:
    """The backend a manifest names."""
    name = manifest.get("backend", FOLDER_BACKEND)
    if not isinstance(name, str):
        raise IndexCorruptError(f"the manifest names no backend (holds {name!r})")
    return name


# -- the registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    """A backend as the registry knows it: the module that implements it (imported only
    when an index of its kind is opened or built, so this module imports no engine) and
    the location prefix that selects it (none: a folder)."""

    module: str
    prefix: str | None = None


#: Each backend by the name its manifests carry. The module exports ``Reader``, a
#: :class:`Reader` class whose ``open(location, model=)`` opens a published index, and
#: ``Backend``, a :class:`Backend` class whose ``for_writing(location)`` is where a build writes.
BACKENDS: dict[str, Registered] = {
    FOLDER_BACKEND: Registered("corpus.backends.folder"),
    MILVUS_BACKEND: Registered("corpus.backends.milvus", prefix="milvus:"),
}


def register_backend(name: str, module: str, prefix: str | None = None) -> None:
    """Add an engine: ``module`` (an importable name) implements it as :data:`BACKENDS`
    describes, and locations starting with ``prefix`` are its indexes."""
    BACKENDS[name] = Registered(module, prefix)


def implementation(name: str):
    """The module implementing the backend ``name`` (imported now if it was not)."""
    import importlib

    try:
        registered = BACKENDS[name]
    except KeyError:
        raise IndexCorruptError(f"the index is a {name!r} index, which this version cannot read") from None
    return importlib.import_module(registered.module)


def backend_at(location: str | os.PathLike[str]) -> str:
    """The backend a location names: the one whose prefix it starts with, else a folder."""
    if isinstance(location, str):
        for name, registered in BACKENDS.items():
            if registered.prefix and location.startswith(registered.prefix):
                return name
    return FOLDER_BACKEND


def open_reader(location: str | os.PathLike[str], *, model: str | os.PathLike[str] | None = None) -> Reader:
    """Open the index published at ``location`` with the backend it names: ``milvus:PATH.db``
    or ``milvus://HOST:PORT[/NAME]`` for Milvus (:mod:`corpus.backends.milvus`), otherwise a
    folder of generations (:mod:`corpus.backends.folder`).

    Raises IndexNotFoundError, IndexCorruptError or ModelMismatchError.
    """
    return implementation(backend_at(location)).Reader.open(location, model=model)


def open_backend(location: str | os.PathLike[str]) -> Backend:
    """Where a build writes the index at ``location`` (see :func:`open_reader`)."""
    return implementation(backend_at(location)).Backend.for_writing(location)


# -- writing ------------------------------------------------------------------------


class Draft(ABC):
    """A new generation being written: the published one's content (or nothing, for a
    rebuild) to change, invisible to readers until :meth:`publish`, and left without
    trace by :meth:`discard` or by a build killed at any moment.

    The build calls, in order: :meth:`article_hashes`, then (unless nothing changed)
    :meth:`open`, :meth:`reusable_vectors`, :meth:`replace_articles`,
    :meth:`index_keywords`, :meth:`add_vectors`, :meth:`finish`, :meth:`checked_counts`, and
    :meth:`publish`; :meth:`close` always, :meth:`discard` when it gives up.
    """

    #: Rows written into the engine so far, where the engine counts them (else None).
    rows_written: int | None = None

    #: the published generation the draft starts from, and its manifest (None for a new index or a rebuild)
    base_generation: str | None
    base_manifest: dict[str, Any] | None
    #: the published generation's manifest even for a rebuild, whose settings (sources, model,
    #: encoder, piece size) carry over unless given anew; None when there is none or it is unreadable
    published_manifest: dict[str, Any] | None

    @abstractmethod
    def article_hashes(self) -> dict[str, str]:
        """Each article id of the base generation with its content hash."""

    @abstractmethod
    def carry_file(self, name: str) -> Path | None:
        """Where a file travelling with the generation (an exported encoder) is written;
        the base generation's copy is put there on the first call when it has one. None
        for a backend that keeps no files (the encoder then stays in the cache)."""

    @abstractmethod
    def open(self) -> None:
        """Start from a copy of the base generation's rows, keywords and vectors."""

    @abstractmethod
    def reusable_vectors(self, keys: Sequence[str]) -> tuple[list[int], np.ndarray | None]:
        """The positions of the embedding-input keys whose vectors the base holds, and those
        vectors in that order (read back before anything is deleted)."""

    @abstractmethod
    def replace_articles(self, removed: Sequence[str], added: Sequence[tuple[Article, Sequence[Paragraph], Sequence[str]]]) -> tuple[list[int], list[int]]:
        """Delete the rows of ``removed`` articles, then add each ``(article, pieces, keys)``;
        returns the dropped piece ids and the new ones, in order."""

    @abstractmethod
    def index_keywords(self, removed: Sequence[str], first_new: int | None, rows: int, progress) -> None:
        """Bring the keyword side up to date with :meth:`replace_articles` (it may go on in the
        background until :meth:`finish`); ``progress(done, total)`` reports rows written."""

    @abstractmethod
    def add_vectors(self, dropped: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]], dim: int) -> tuple[str, float | None]:
        """Remove the dropped pieces' vectors and add ``(ids, vectors)`` parts; returns the
        vector index's type and, when it measured one, its recall against exact search."""

    @abstractmethod
    def finish(self) -> dict[str, float]:
        """Wait for any background work; returns its own figures (seconds, peak memory)."""

    @abstractmethod
    def checked_counts(self) -> tuple[int, int, int]:
        """Articles, paragraphs and pieces, once the draft's parts are seen to agree
        (:class:`IndexCorruptError`, and nothing is published, when they do not)."""

    @abstractmethod
    def engine_record(self) -> dict[str, Any]:
        """What the manifest says of the engines that hold the generation (``backend``,
        ``keyword``, ``vector``; the build adds the vector index's type and recall)."""

    @abstractmethod
    def publish(self, manifest: dict[str, Any]) -> str:
        """Write the manifest and make the draft the published generation, atomically for
        readers; returns the generation's name."""

    @abstractmethod
    def discard(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class Backend(ABC):
    """Where an index's generations are written and published."""

    location: str

    @property
    def identity(self) -> str:
        """The index's name wherever it is built from (a resolved path, an engine's address
        and name): what keys the build's source cache (:mod:`corpus.read_cache`)."""
        return self.location

    @classmethod
    @abstractmethod
    def for_writing(cls, location: str | os.PathLike[str]) -> Backend:
        """The index at ``location``, made ready for a build (created when missing)."""

    @abstractmethod
    def lock(self) -> AbstractContextManager[None]:
        """Held by the one build allowed at a time (:class:`BuildLockedError` when taken)."""

    @abstractmethod
    def draft(self, *, rebuild: bool) -> Draft:
        """A new generation to write, starting from the published one unless ``rebuild``;
        what killed builds left behind is removed first. Call under :meth:`lock`."""

    @abstractmethod
    def prune(self) -> None:
        """Remove generations no reader should need any more."""
