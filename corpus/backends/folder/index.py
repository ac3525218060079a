"""The index folder: generations, the manifest, and opening an index for reading.

Layout of an index folder ``DIR``::

    DIR/CURRENT              name of the published generation (replaced atomically)
    DIR/g-<time>-<rand>/     one complete generation
        manifest.json        format, model, analyzer, counts, fingerprint, build info
        keyword/             the Whoosh index
        vectors.faiss        the FAISS index (often a hard link to an earlier generation's)
        vectors.faiss.added  vectors added since that file was written (a small exact index)
        vectors.faiss.removed.npy  ids removed from that file since
        store.sqlite         articles and paragraph records
        encoder-int8.onnx    the exported encoder, when built with ``--encoder onnx-int8``
    DIR/.tmp-*/              a generation being built (never read)
    DIR/.build.lock          held by the one build allowed at a time

A build writes a whole new generation and publishes it by replacing
``CURRENT`` with ``os.replace`` (atomic on POSIX), so readers see the old index
or the new one, never a mixture, and a build killed at any point leaves the
old index as it was.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...backend import FOLDER_BACKEND, Admitted, ParsedQuery, Reader, backend_of
from ...documents import Article, ParagraphRecord
from ...embed import Embedder, load_embedder, load_query_embedder
from ...errors import IndexCorruptError, IndexNotFoundError
from ...filters import Where
from ...manifest import read_manifest_data, resolve_model_path
from .keyword import ANALYZER_ID, KeywordIndex
from .store import Store
from .vector import VectorIndex

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
KEYWORD_DIR = "keyword"
VECTORS = "vectors.faiss"
STORE = "store.sqlite"
LOCK = ".build.lock"
TMP_PREFIX = ".tmp-"
GEN_PREFIX = "g-"


def current_generation(index_dir: Path) -> Path | None:
    """The published generation folder, or None when there is none."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{index_dir / CURRENT} cannot be read: {exc}") from exc
    if not name.startswith(GEN_PREFIX) or "/" in name:
        raise IndexCorruptError(f"{index_dir / CURRENT} names no generation (holds {name[:40]!r})")
    gen = index_dir / name
    if not gen.is_dir():
        raise IndexCorruptError(f"the published generation {gen} is missing")
    return gen


def find_indexes(folder: str | os.PathLike[str]) -> list[Path]:
    """The published indexes directly inside ``folder``, by name (see :func:`corpus.backend.find_indexes`)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / CURRENT).is_file())


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        text = (gen / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{gen / MANIFEST} is missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{gen / MANIFEST} cannot be read: {exc}") from exc
    return read_manifest_data(text, str(gen / MANIFEST))


@dataclass
class Index(Reader):
    """A published generation of an index folder opened for reading: the
    :data:`~corpus.backend.FOLDER_BACKEND` implementation of :class:`~corpus.backend.Reader`."""

    path: Path
    manifest: dict[str, Any]
    keyword: KeywordIndex
    vectors: VectorIndex
    store: Store
    model_path: str | None
    _embedder: Embedder | None = field(default=None, repr=False)

    @classmethod
    def open(cls, index_dir: str | os.PathLike[str], *, model: str | os.PathLike[str] | None = None) -> Index:
        index_dir = Path(index_dir)
        if not index_dir.exists():
            raise IndexNotFoundError(f"no index at {index_dir}; create one with `corpus build SOURCES --index {index_dir}`")
        gen = current_generation(index_dir)
        if gen is None:
            raise IndexNotFoundError(f"no index at {index_dir}; create one with `corpus build SOURCES --index {index_dir}`")
        manifest = read_manifest(gen)
        if backend_of(manifest) != FOLDER_BACKEND:
            raise IndexCorruptError(f"the index at {index_dir} is a {backend_of(manifest)!r} index, which this version cannot read")
        if manifest.get("keyword", {}).get("analyzer") != ANALYZER_ID:
            raise IndexCorruptError("the keyword index was built with another analyzer; rebuild it with `corpus build --rebuild`")
        model_path = resolve_model_path(manifest, model)
        keyword = KeywordIndex.open(gen / KEYWORD_DIR)
        vectors = VectorIndex.load(gen / VECTORS)
        store = Store(gen / STORE, readonly=True)
        index = cls(gen, manifest, keyword, vectors, store, model_path)
        index.check()
        return index

    def check(self) -> None:
        """Raise :class:`IndexCorruptError` unless the parts agree with each other and the manifest."""
        articles, paragraphs, pieces = self.store.counts()
        counts = self.manifest.get("counts", {})
        found = {
            "articles": (counts.get("articles"), articles),
            "paragraphs": (counts.get("paragraphs"), paragraphs, self.keyword.doc_count()),
            "pieces": (counts.get("pieces"), pieces, len(self.vectors)),
        }
        bad = {name: values for name, values in found.items() if len(set(values)) != 1}
        if bad:
            raise IndexCorruptError(
                f"index parts disagree on the number of {', '.join(bad)} {list(bad.values())}; rebuild with `corpus build --rebuild`"
            )
        if self.vectors.dim != self.manifest["model"]["dim"]:
            raise IndexCorruptError("vector dimension differs from the manifest's model; rebuild with `corpus build --rebuild`")

    @property
    def embedder(self) -> Embedder:
        """The model that built the index, loaded on first use."""
        if self._embedder is None:
            record = self.manifest.get("encoder", {})
            if record.get("file"):
                self._embedder = load_embedder(self.model_path, onnx_file=self.path / record["file"], onnx_sha256=record.get("sha256"))
            else:
                self._embedder = load_query_embedder(self.model_path)
        return self._embedder

    # -- the Reader interface ------------------------------------------------------
    @property
    def location(self) -> str:
        return str(self.path.parent)

    @property
    def generation(self) -> str:
        return self.path.name

    def parse(self, text: str) -> ParsedQuery:
        return self.keyword.parse(text)

    def admit(self, where: Where) -> Admitted:
        facets = self.store.article_facets()
        articles, undated = where.select(facets)
        if len(articles) == len(facets):  # every article passes: search as without a filter
            return Admitted(None, undated, None, matched=len(articles))
        return Admitted(articles, undated, np.array(self.store.pids_of_articles(sorted(articles)), dtype=np.int64))

    def article_list(self) -> list[str]:
        return [row[0] for row in self.store.article_facets()]

    def keyword_search(self, parsed: ParsedQuery, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        return self.keyword.search(parsed, limit, admitted.articles if admitted is not None else None)

    def vector_search(self, vector: np.ndarray, limit: int, admitted: Admitted | None = None) -> list[tuple[int, float]]:
        # the FAISS index holds window-sized pieces; a paragraph scores as its best piece
        pieces = self.vectors.search(vector.reshape(1, -1), limit, admitted.plan if admitted is not None else None)[0]
        head_of = self.store.heads([pid for pid, _ in pieces])
        best: dict[int, float] = {}
        for pid, score in pieces:
            head = head_of[pid]
            if head not in best:
                best[head] = score
        return list(best.items())

    def duplicate_keys(self, ids: Sequence[int]) -> dict[int, str]:
        keys = self.store.duplicate_keys(ids)
        return keys if keys is not None else super().duplicate_keys(ids)  # an older store: from the text

    def copies(self, keys: Iterable[str]) -> dict[str, list[str]]:
        return self.store.copies(keys)

    def paragraphs(self, ids: Sequence[int]) -> dict[int, ParagraphRecord]:
        return self.store.paragraphs(ids)

    def article_ids(self, ids: Sequence[int]) -> dict[int, str]:
        return self.store.article_ids(ids)

    def article(self, article_id: str) -> Article | None:
        return self.store.article(article_id)

    def article_paragraphs(self, article_id: str) -> list[ParagraphRecord]:
        return self.store.article_paragraphs(article_id)

    def counts(self) -> dict[str, int]:
        articles, paragraphs, pieces = self.store.counts()
        return {"articles": articles, "paragraphs": paragraphs, "pieces": pieces}

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def stems(self, text: str) -> set[str]:
        return self.keyword.stems(text)

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        return self.keyword.idf(terms)

    def highlight_spans(self, text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
        return self.keyword.highlight_spans(text, terms)

    def published(self) -> str | None:
        try:
            gen = current_generation(self.path.parent)
        except IndexCorruptError:
            return None
        return gen.name if gen is not None else None

    def close(self) -> None:
        self.keyword.close()
        self.store.close()
