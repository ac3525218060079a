"""Several indexes searched as one: a newsroom's archive beside a project's papers.

Each index is a *collection* with a name (its folder's name unless given).
A search ranks every collection's paragraphs on each side (keyword and
vector) by that side's own scores, merges each side across collections, and
fuses the two merged rankings as :class:`qa.Library` does for one index: so
a collection that says nothing on a question gives nothing to the answer,
where interleaving each collection's best results would put its best guess
beside the others' answers. Paragraphs that are copies of one another fold
together across collections too. Every hit and source names its collection,
and an answer may quote from several.

Scores are merged as they are: cosine similarities of one embedding model
are comparable across indexes; BM25 scores are close to comparable over
corpora of one language (each index weighs terms by its own statistics).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from corpus.backend import find_indexes  # noqa: F401  (re-exported)
from corpus.documents import Article
from corpus.embed import TokenVectors
from corpus.errors import CollectionNotFoundError

from .answer import Answer, Answerer
from .hits import Hit, Hits
from .search import DEPTH, search_libraries

if TYPE_CHECKING:
    from .library import Library


def member(library: Library | Collections, name: str | None) -> Library | Collections:
    """The collection of that name in a library or collections (all of them for none);
    :class:`CollectionNotFoundError` for a name that is not there."""
    if not name:
        return library
    if isinstance(library, Collections):
        return library[name]
    if name != library.name:
        raise CollectionNotFoundError(f"no collection named {name!r}; there is {library.name!r}")
    return library


def collection_names(library: Library | Collections) -> list[str]:
    """The names of the collections a library or collections hold (one, for a library)."""
    return list(library.names) if isinstance(library, Collections) else [library.name]


class Collections:
    """Named libraries opened together; the same calls as :class:`qa.Library`, plus ``collection=``
    to read one of them. Open with :meth:`qa.Library.open` given several indexes."""

    def __init__(self, libraries: Iterable[Library], *, fusion_method: str | None = None, weights: Sequence[float] | None = None) -> None:
        self._members: dict[str, Library] = {}
        for lib in libraries:
            if lib.name in self._members:
                raise ValueError(f"two collections are named {lib.name!r}; name them apart with NAME=INDEX")
            self._members[lib.name] = lib
        if not self._members:
            raise ValueError("no collections to open")
        first = next(iter(self._members.values()))
        self.fusion_method = fusion_method or first.fusion_method
        self.weights = tuple(weights) if weights is not None else first.weights
        self._answerer_instance: Answerer | None = None

    # -- the collections ----------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self._members)

    def __getitem__(self, name: str) -> Library:
        try:
            return self._members[name]
        except KeyError:
            raise CollectionNotFoundError(f"no collection named {name!r}; there are {', '.join(self._members)}") from None

    def __iter__(self) -> Iterator[Library]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def close(self) -> None:
        for lib in self._members.values():
            lib.close()

    def __enter__(self) -> Collections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> dict[str, Any]:
        """Totals over the collections, and each one's :meth:`qa.Library.info` under ``collections``."""
        each = {name: lib.info() for name, lib in self._members.items()}
        models = sorted({i["model"] for i in each.values()})
        return {
            "collections": each,
            "articles": sum(i["articles"] for i in each.values()),
            "paragraphs": sum(i["paragraphs"] for i in each.values()),
            "model": ", ".join(models),
            "built_at": max(i["built_at"] for i in each.values()),
        }

    # -- reading ------------------------------------------------------------------
    def article(self, article_id: str, collection: str | None = None) -> Article | None:
        """The article with this id in ``collection`` (default: the first collection holding one)."""
        for lib in self._chosen(collection):
            found = lib.article(article_id)
            if found is not None:
                return found
        return None

    def article_hits(self, article_id: str, collection: str | None = None) -> list[Hit]:
        """Every paragraph of an article (see :meth:`article` for ``collection``)."""
        for lib in self._chosen(collection):
            found = lib.article_hits(article_id)
            if found:
                return found
        return []

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        *,
        fusion_method: str | None = None,
        weights: Sequence[float] | None = None,
        depth: int = DEPTH,
        where=None,
        collection: str | None = None,
    ) -> Hits:
        """The ``k`` best paragraphs of all collections (or of ``collection``), as
        :meth:`qa.Library.search` finds them in one."""
        method = fusion_method or self.fusion_method
        return search_libraries(self._chosen(collection), query, k, mode, method, self.weights if weights is None else weights, depth, where)

    def ask(self, question: str, history=None, *, k: int | None = None, mode: str = "hybrid", where=None, collection: str | None = None) -> Answer:
        """An answer quoted from all collections (or from ``collection``); see :meth:`qa.Library.ask`."""
        if collection is not None:
            return self[collection].ask(question, history, k=k, mode=mode, where=where)
        return self.answerer.ask(question, history, k=k, mode=mode, where=where)

    @property
    def answerer(self) -> Answerer:
        """The answerer over all collections (one collection's is ``collections[name].answerer``)."""
        if self._answerer_instance is None:
            self._answerer_instance = Answerer(self)
        return self._answerer_instance

    # what answering needs besides search: the first collection's model and analyser
    # (sentences are compared with the question by one model, whichever collection they are from)
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._first.embed(texts)

    def embed_tokens(self, texts: Sequence[str]) -> list[TokenVectors]:
        return self._first.embed_tokens(texts)

    def stems(self, text: str) -> set[str]:
        return self._first.stems(text)

    def query_terms(self, query: str) -> dict[str, float]:
        """The query's terms, each with its inverse document frequency averaged over the collections."""
        each = [lib.query_terms(query) for lib in self._members.values()]
        terms = {t for found in each for t in found}
        return {t: float(np.mean([found.get(t, 0.0) for found in each if t in found])) for t in terms}

    @property
    def _first(self) -> Library:
        return next(iter(self._members.values()))

    def _chosen(self, collection: str | None) -> list[Library]:
        return list(self._members.values()) if collection is None else [self[collection]]
