"""The keyword index: Whoosh, BM25F over title and text, English Snowball stemming.

Nothing outside this module imports Whoosh.

One document per paragraph (not per window-sized piece: BM25 over whole
paragraphs ranks better, 0.685 against 0.611 nDCG@10 on SciFact test), keyed by
the paragraph's head piece id. ``body`` holds the paragraph, ``title`` the
article's title, so every paragraph of an article gets the same title score:
an article-level prior, free of the length bias that folding the title into
each body gives (there the shortest paragraph wins on title-only matches).
Title boost 0.3 was best on SciFact train (nDCG@10 0.699; 0.5: 0.697,
1.0: 0.674, title folded into the body: 0.697).

Choices (measured on SciFact's train queries, see the README):
- ``LanguageAnalyzer("en")``: Snowball stemming (Whoosh's default Porter stemmer
  keeps doubled consonants, ``running -> runn``) and NLTK's 127-word English
  stop list, which covers question words (*what*, *how*, *do*) that the
  default 34-word list lets through.
- Questions are not Boolean queries: terms are OR-ed (``OrGroup.factory(0.9)``
  rewards documents that match more of them); AND grouping returns nothing for
  most natural-language questions.
- User text never reaches Whoosh as raw syntax: wildcards, field prefixes,
  ranges, boosts and ``*:*`` are switched off; quotes still make phrases, and
  AND/OR/NOT in capitals still work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import qparser, scoring
from whoosh.analysis import LanguageAnalyzer
from whoosh.fields import ID, TEXT, Schema
from whoosh.query import AndNot, Not
from whoosh.query.qcore import _NullQuery

from .errors import IndexCorruptError

log = logging.getLogger(__name__)

ANALYZER_ID = "whoosh-LanguageAnalyzer(en)/snowball/nltk-stop/v2-paragraphs"
TITLE_BOOST = 0.3
BM25_B = 0.75
BM25_K1 = 1.2
#: Words of a query kept for the keyword side (the rest of a huge query is ignored).
MAX_QUERY_TERMS = 64


def make_analyzer():
    return LanguageAnalyzer("en")


def make_schema() -> Schema:
    analyzer = make_analyzer()
    return Schema(
        pid=ID(stored=True, unique=True),
        article=ID(stored=False),
        title=TEXT(analyzer=analyzer, phrase=True),
        body=TEXT(analyzer=analyzer, phrase=True),
    )


@dataclass(frozen=True)
class ParsedQuery:
    """A user query as the keyword index understood it."""

    query: object | None  # a whoosh query, or None when nothing searchable remained
    terms: frozenset[str]  # the analysed (stemmed) terms, for highlighting

    @property
    def empty(self) -> bool:
        return self.query is None


class KeywordIndex:
    """A Whoosh index in a folder, with one searcher per thread."""

    def __init__(self, ix) -> None:
        self._ix = ix
        self._analyzer = make_analyzer()
        self._local = threading.local()
        self._searchers: list = []
        self._searchers_lock = threading.Lock()
        self._parser = _make_parser(ix.schema)

    # -- creating and opening -------------------------------------------------
    @classmethod
    def create(cls, path: Path) -> KeywordIndex:
        path.mkdir(parents=True, exist_ok=True)
        return cls(whoosh_index.create_in(str(path), make_schema()))

    @classmethod
    def open(cls, path: Path) -> KeywordIndex:
        try:
            ix = whoosh_index.open_dir(str(path))
        except Exception as exc:  # whoosh raises several unrelated types here
            raise IndexCorruptError(f"keyword index at {path} cannot be opened: {exc}") from exc
        return cls(ix)

    def close(self) -> None:
        with self._searchers_lock:
            for searcher in self._searchers:
                searcher.close()
            self._searchers.clear()
        self._local = threading.local()
        self._ix.close()

    def doc_count(self) -> int:
        return self._ix.doc_count()

    # -- writing ----------------------------------------------------------------
    def update(self, remove_articles: Iterable[str], add: Iterable[tuple[int, str, str, str]]) -> None:
        """Delete every paragraph of ``remove_articles``, then add ``(head, article, title, text)`` rows.

        One commit: Whoosh's writer either commits everything or cancels.
        """
        with self._ix.writer(limitmb=256) as writer:
            for article_id in remove_articles:
                writer.delete_by_term("article", article_id)
            for pid, article_id, title, text in add:
                writer.add_document(pid=str(pid), article=article_id, title=title, body=text)

    # -- searching --------------------------------------------------------------
    def parse(self, text: str) -> ParsedQuery:
        words = text.split()
        if len(words) > MAX_QUERY_TERMS:
            text = " ".join(words[:MAX_QUERY_TERMS])
        try:
            query = self._parser.parse(text)
        except Exception as exc:  # the parser is meant never to raise; be safe anyway
            log.warning("query could not be parsed (%s); keyword side skipped", exc)
            return ParsedQuery(None, frozenset())
        if query is None or isinstance(query, _NullQuery):
            return ParsedQuery(None, frozenset())
        terms = frozenset(
            t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t)
            for field, t in _positive_terms(query)
            if field in ("title", "body")
        )
        if not terms:
            return ParsedQuery(None, frozenset())
        return ParsedQuery(query, terms)

    def search(self, parsed: ParsedQuery, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` best paragraphs as ``(head pid, bm25f score)``, best first."""
        if parsed.empty or limit <= 0:
            return []
        searcher = self._searcher()
        results = searcher.search(parsed.query, limit=limit)
        return [(int(hit["pid"]), float(hit.score)) for hit in results]

    def highlight_spans(self, text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
        """Character spans of the words of ``text`` whose stems are among ``terms``."""
        if not terms:
            return []
        return [
            (tok.startchar, tok.endchar)
            for tok in self._analyzer(text, chars=True, mode="query")
            if tok.text in terms
        ]

    def stems(self, text: str) -> set[str]:
        """The analysed terms of ``text``."""
        return {tok.text for tok in self._analyzer(text, mode="query")}

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of each analysed term in paragraph bodies."""
        searcher = self._searcher()
        return {t: float(searcher.idf("body", t)) for t in terms}

    def _searcher(self):
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._ix.searcher(weighting=scoring.BM25F(B=BM25_B, K1=BM25_K1))
            self._local.searcher = searcher
            with self._searchers_lock:
                self._searchers.append(searcher)
        return searcher


def _positive_terms(query) -> Iterable[tuple[str, object]]:
    """The ``(field, text)`` terms a matching paragraph may contain: not those under NOT."""
    if isinstance(query, Not):
        return
    if isinstance(query, AndNot):
        yield from _positive_terms(query.a)
    elif query.is_leaf():
        yield from query.terms()
    else:
        for child in query.children():
            yield from _positive_terms(child)


def _make_parser(schema: Schema):
    parser = qparser.MultifieldParser(
        ["body", "title"],
        schema,
        fieldboosts={"title": TITLE_BOOST},
        group=qparser.OrGroup.factory(0.9),
    )
    for plugin in (
        qparser.WildcardPlugin,
        qparser.FieldsPlugin,
        qparser.RangePlugin,
        qparser.BoostPlugin,
        qparser.EveryPlugin,
    ):
        parser.remove_plugin_class(plugin)
    return parser

