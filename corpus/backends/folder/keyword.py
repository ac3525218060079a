"""The keyword index: Whoosh, BM25F over title and text, English Snowball stemming.

Nothing outside the backends imports Whoosh (the analysis is shared with Milvus: :mod:`corpus.backends.analysis`).

One document per paragraph (not per window-sized piece: BM25 over whole
paragraphs ranks better, 0.685 against 0.611 nDCG@10 on SciFact test), keyed by
the paragraph's head piece id. ``body`` holds the paragraph, ``title`` the
article's title, so every paragraph of an article gets the same title score:
an article-level prior, free of the length bias that folding the title into
each body gives (there the shortest paragraph wins on title-only matches).
Title boost 0.3 was best on SciFact train (nDCG@10 0.699; 0.5: 0.697,
1.0: 0.674, title folded into the body: 0.697).

Choices (measured on SciFact's train queries, see docs/quality.md):
- ``LanguageAnalyzer("en")``: Snowball stemming (Whoosh's default Porter stemmer
  keeps doubled consonants, ``running -> runn``) and NLTK's 127-word English
  stop list, which covers question words (*what*, *how*, *do*) that the
  default 34-word list lets through.
- Lucene's BM25 idf, ``log(1 + (N - n + 0.5) / (n + 0.5))``, instead of Whoosh's
  ``log(N / (n + 1)) + 1``, whose ``+ 1`` keeps a term found in every paragraph
  at a third of the weight of one found in a tenth of them (Lucene's: next to
  nothing against 2.3): on SciFact train,
  keyword nDCG@10 0.698 -> 0.700 and hybrid 0.7414 -> 0.7451 (both halves of
  the queries gained). Both the fast path and Whoosh's matchers use it.
- Questions are not Boolean queries: terms are OR-ed; AND grouping returns
  nothing for most natural-language questions. A plain sum of the terms' scores
  (``OrGroup``) scored as well as Whoosh's coordination factor
  (``OrGroup.factory(0.9)``) on SciFact train (keyword nDCG@10 0.698 against
  0.699, hybrid 0.7414 against 0.7415), and it is what :class:`_TermAtATime`
  computes fast.
- User text never reaches Whoosh as raw syntax: wildcards, field prefixes,
  ranges, boosts and ``*:*`` are switched off; quotes still make phrases, and
  AND/OR/NOT in capitals still work.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh import qparser, scoring
from whoosh.fields import ID, TEXT, Schema
from whoosh.query import AndNot, Not, Or, Phrase, Term
from whoosh.query.qcore import _NullQuery

from ...backend import ParsedQuery
from ...errors import IndexCorruptError
from ..analysis import TITLE_BOOST, make_analyzer, terms_memo

log = logging.getLogger(__name__)

ANALYZER_ID = "whoosh-LanguageAnalyzer(en)/snowball/nltk-stop/v2-paragraphs"
BM25_B = 0.75
BM25_K1 = 1.2


class BM25(scoring.BM25F):
    """Whoosh's BM25F with the idf of Lucene's BM25 (Robertson-Sparck Jones, kept
    positive by the ``1 +``); the searcher caches it per term."""

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        n = parent.doc_frequency(fieldname, text)
        total = parent.doc_count_all()
        return math.log(1 + (total - n + 0.5) / (n + 0.5))


#: Words of a query kept for the keyword side (the rest of a huge query is ignored).
MAX_QUERY_TERMS = 64
#: Queries whose parse a keyword index keeps.
PARSED_KEPT = 1024
#: Bytes of scored postings (document numbers and BM25F parts, 16 bytes a posting) a keyword
#: index keeps for the terms searched lately: reading a term's posting blocks through Whoosh's
#: codec was two fifths of a warm answer's time under load, and questions share their words.
POSTINGS_KEPT_BYTES = 64 << 20


def make_schema() -> Schema:
    analyzer = make_analyzer()
    return Schema(
        pid=ID(stored=True, unique=True),
        article=ID(stored=False),
        title=TEXT(analyzer=analyzer, phrase=True),
        body=TEXT(analyzer=analyzer, phrase=True),
    )


class KeywordIndex:
    """A Whoosh index in a folder, with one searcher per thread."""

    def __init__(self, ix) -> None:
        self._ix = ix
        self._analyzer = make_analyzer()
        self._local = threading.local()
        self._searchers: list = []
        self._searchers_lock = threading.Lock()
        self._parser = _make_parser(ix.schema)
        self._terms = terms_memo(self._analyzer)
        # a question's search and its answer's features parse it alike (Whoosh's parser takes
        # about 3 ms a question), and questions are asked again
        self._parsed = functools.lru_cache(maxsize=PARSED_KEPT)(self._parse)
        self._scored = _ScoredPostings(POSTINGS_KEPT_BYTES)  # shared by every thread's searcher
        self._pids: dict[int, int] = {}  # Whoosh document number -> paragraph id (stored fields are slow to read)

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
        # Separate segment files, not one compound file: Whoosh reads a compound segment by
        # copying each part into memory, for every reader (616 MB per searcher at 1M paragraphs).
        with self._ix.writer(limitmb=256, compound=False) as writer:
            for article_id in remove_articles:
                writer.delete_by_term("article", article_id)
            for pid, article_id, title, text in add:
                writer.add_document(pid=str(pid), article=article_id, title=title, body=text)

    # -- searching --------------------------------------------------------------
    def parse(self, text: str) -> ParsedQuery:
        return self._parsed(text)

    def _parse(self, text: str) -> ParsedQuery:
        words = text.split()
        if len(words) > MAX_QUERY_TERMS:
            text = " ".join(words[:MAX_QUERY_TERMS])
        try:
            query = self._parser.parse(text)
        except Exception as exc:  # the parser is meant never to raise; be safe anyway
            log.warning("query could not be parsed (%s); keyword side skipped", exc)
            return ParsedQuery(frozenset())
        if query is None or isinstance(query, _NullQuery):
            return ParsedQuery(frozenset())
        terms = frozenset(
            t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t)
            for field, t in _positive_terms(query)
            if field in ("title", "body")
        )
        if not terms:
            return ParsedQuery(frozenset())
        return ParsedQuery(terms, query)

    def search(self, parsed: ParsedQuery, limit: int, articles: frozenset[str] | None = None) -> list[tuple[int, float]]:
        """The ``limit`` best paragraphs as ``(head pid, bm25f score)``, best first; only
        paragraphs of ``articles`` when given (applied before the cut).

        A query of plain words is scored term at a time (see :class:`_TermAtATime`);
        phrases, AND and NOT go through Whoosh's own matchers."""
        if parsed.empty or limit <= 0 or (articles is not None and not articles):
            return []
        searcher = self._searcher()
        allowed = None
        if articles is not None:
            allowed = set(searcher.docs_for_query(Or([Term("article", a) for a in sorted(articles)])))
        terms = _plain_terms(parsed.plan)
        if terms is not None:
            fast = self._local.fast
            if fast is not None:
                return [(self._pid(searcher, doc), score) for doc, score in fast.top(terms, limit, allowed)]
        results = searcher.search(parsed.plan, limit=limit, filter=allowed)
        return [(int(hit["pid"]), float(hit.score)) for hit in results]

    def _pid(self, searcher, doc: int) -> int:
        """The paragraph id of a Whoosh document number (read from its stored fields once)."""
        pid = self._pids.get(doc)
        if pid is None:
            pid = self._pids[doc] = int(searcher.stored_fields(doc)["pid"])
        return pid

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
        return set(self._terms(text))

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of each analysed term in paragraph bodies."""
        searcher = self._searcher()
        return {t: float(searcher.idf("body", t)) for t in terms}

    def _searcher(self):
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._ix.searcher(weighting=BM25(B=BM25_B, K1=BM25_K1))
            self._local.searcher = searcher
            self._local.fast = _TermAtATime.over(searcher, self._scored)
            with self._searchers_lock:
                self._searchers.append(searcher)
        return searcher


def _plain_terms(query) -> list[tuple[str, str, float]] | None:
    """``(field, text, boost)`` of a query that is an OR of single terms (nested ORs
    included, as the multifield parser makes them), or None for anything else."""
    out: list[tuple[str, str, float]] = []

    def walk(q, boost: float) -> bool:
        if isinstance(q, Term):
            out.append((q.fieldname, q.text, boost * q.boost))
            return True
        if type(q) is Or and not q.minmatch and q.scale is None:
            return all(walk(child, boost * q.boost) for child in q.subqueries)
        return False

    return out if walk(query, 1.0) and out else None


class _TermAtATime:
    """BM25F over Whoosh's postings, a term at a time, with numpy.

    Whoosh scores an OR query a document at a time through a tree of Python
    matchers: profiled over 1M paragraphs, its time went to the matchers'
    ``is_active``/``id``/``next``/``max_quality`` calls, about 30 us per candidate
    document, and a question's terms match tens of thousands of paragraphs there.
    Block-quality skipping did not help (BM25F's block bounds are loose), and
    dropping frequent terms cost accuracy (SciFact train keyword nDCG@10 0.699 ->
    0.677 when terms in over 10% of paragraphs were dropped) for little time.

    This reads each term's posting blocks (document numbers and frequencies) and
    the per-document field lengths Whoosh stores, and computes the very formula
    of ``whoosh.scoring.BM25F`` with the searcher's own idf (:class:`BM25`'s) and average lengths, so
    scores equal Whoosh's (a test compares them); only the time differs. It reads
    Whoosh's on-disk structures through attributes of whoosh-reloaded 2.7's codec;
    if they are not there, searches go through Whoosh's matchers as before.
    """

    def __init__(self, searcher, segments, scored: _ScoredPostings | None = None) -> None:
        self._searcher = searcher
        self._segments = segments  # (reader, first docnum, doc count, deleted mask or None)
        self._total = searcher.doc_count_all()
        self._lengths: dict[tuple[int, str], np.ndarray] = {}
        self._avg: dict[str, float] = {}
        self._scored = scored if scored is not None else _ScoredPostings(0)

    @classmethod
    def over(cls, searcher, scored: _ScoredPostings | None = None) -> _TermAtATime | None:
        try:
            segments = []
            for reader, offset in searcher.reader().leaf_readers():
                deleted = None
                if reader.has_deletions():
                    deleted = np.zeros(reader.doc_count_all(), dtype=bool)
                    deleted[list(reader.deleted_docs_set)] = True
                segments.append((reader, offset, reader.doc_count_all(), deleted))
            from whoosh.codec.whoosh3 import W3LeafMatcher

            for name in ("_read_ids", "_read_weights", "_next_block"):
                getattr(W3LeafMatcher, name)
            return cls(searcher, segments, scored)
        except Exception as exc:  # another Whoosh codec: use its matchers
            log.info("term-at-a-time scoring unavailable (%s); using Whoosh's matchers", exc)
            return None

    def top(self, terms: list[tuple[str, str, float]], limit: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """The ``limit`` best ``(docnum, score)``, ordered as Whoosh orders them; only
        documents in ``allowed`` when given."""
        docs, scores = [], []
        for field, text, boost in terms:
            if not self._searcher.schema[field].scorable:
                continue
            found = self._scored.get((field, text))
            if found is None:
                found = self._scored.put((field, text), self._term(field, text))
            ids, part = found
            if len(ids):
                docs.append(ids)
                scores.append(boost * part)
        if not docs:
            return []
        docs_all = np.concatenate(docs)
        totals = np.bincount(docs_all, weights=np.concatenate(scores), minlength=self._total)
        if allowed is not None:
            mask = np.zeros(len(totals), dtype=bool)
            mask[np.fromiter(allowed, dtype=np.int64, count=len(allowed))] = True
            totals[~mask] = 0.0
        hit = np.flatnonzero(totals)  # every matched document scores above 0 (idf > 0)
        best = hit
        if len(hit) > limit:  # the limit best; of equal scores at the cut, the first documents, as Whoosh keeps them
            scores_hit = totals[hit]
            cut = np.partition(scores_hit, len(hit) - limit)[len(hit) - limit]
            above = hit[scores_hit > cut]
            best = np.concatenate([above, hit[scores_hit == cut][: limit - len(above)]])
        order = np.lexsort((best, -totals[best]))  # score descending, then document number
        return [(int(d), float(totals[d])) for d in best[order]]

    def _term(self, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's documents (numbered across segments) and their BM25F parts before the boost."""
        idf = self._searcher.idf(field, text)
        avg = self._avg.get(field)
        if avg is None:
            avg = self._avg[field] = self._searcher.avg_field_length(field) or 1
        docs, parts = [], []
        for n, (reader, offset, count, deleted) in enumerate(self._segments):
            if (field, text) not in reader:
                continue
            ids, tf = _postings(reader.postings(field, text))
            if deleted is not None:
                keep = ~deleted[ids]
                ids, tf = ids[keep], tf[keep]
            length = self._field_lengths(n, reader, field, count)[ids]
            docs.append(ids + offset)
            parts.append(idf * ((tf * (BM25_K1 + 1)) / (tf + BM25_K1 * ((1 - BM25_B) + BM25_B * length / avg))))
        if not docs:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        return np.concatenate(docs), np.concatenate(parts)

    def _field_lengths(self, n: int, reader, field: str, count: int) -> np.ndarray:
        key = (n, field)
        lengths = self._lengths.get(key)
        if lengths is None:
            lengths = self._lengths[key] = _field_lengths(reader, field, count)
        return lengths


class _ScoredPostings:
    """Terms' scored postings, the most recently searched first, up to a number of bytes;
    safe across threads. A keyword index's segments never change, so neither do these."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._bytes = 0
        self._items: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], value: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        size = value[0].nbytes + value[1].nbytes
        if size > self._max // 4:  # a term in most documents: read each time rather than crowd out the rest
            return value
        for array in value:
            array.flags.writeable = False  # shared by every search from now on
        with self._lock:
            if key not in self._items:
                self._items[key] = value
                self._bytes += size
                while self._bytes > self._max:
                    _, (ids, part) = self._items.popitem(last=False)
                    self._bytes -= ids.nbytes + part.nbytes
        return value


_BYTE_TO_LENGTH: np.ndarray | None = None


def _field_lengths(reader, field: str, count: int) -> np.ndarray:
    """Every document's length of ``field`` as BM25F sees it (Whoosh's one-byte approximation)."""
    global _BYTE_TO_LENGTH
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
    from whoosh.util.numeric import byte_to_length

    if _BYTE_TO_LENGTH is None:
        _BYTE_TO_LENGTH = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)
    column = reader._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
    out = np.zeros(count, dtype=np.uint8)
    if column is not None:
        raw = np.frombuffer(column._dbfile.get(column._basepos, column._count), dtype=np.uint8)
        out[: len(raw)] = raw[:count]
    lengths = _BYTE_TO_LENGTH[out]
    lengths[out == 0] = 1  # Whoosh's default for a document without the field
    return lengths


def _postings(matcher) -> tuple[np.ndarray, np.ndarray]:
    """All document numbers and term frequencies of one term in one segment."""
    from whoosh.codec.whoosh3 import W3LeafMatcher

    while hasattr(matcher, "child") and not isinstance(matcher, W3LeafMatcher):
        matcher = matcher.child  # deletions are masked by the caller
    ids: list = []
    weights: list = []
    if isinstance(matcher, W3LeafMatcher):
        while not matcher._atend:
            matcher._read_ids()
            matcher._read_weights()
            ids.append(np.asarray(matcher._ids, dtype=np.int64))
            weights.append(np.asarray(matcher._weights, dtype=np.float64))
            matcher._next_block()
    else:  # postings inlined in the term's entry: a handful
        one_ids, one_weights = [], []
        while matcher.is_active():
            one_ids.append(matcher.id())
            one_weights.append(matcher.weight())
            matcher.next()
        ids.append(np.asarray(one_ids, dtype=np.int64))
        weights.append(np.asarray(one_weights, dtype=np.float64))
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return np.concatenate(ids), np.concatenate(weights)


def _positive_terms(query) -> Iterable[tuple[str, object]]:
    """The ``(field, text)`` terms a matching paragraph may contain: not those under NOT."""
    if isinstance(query, Not):
        return
    if isinstance(query, Phrase):  # its words are not reported by terms()
        yield from ((query.fieldname, word) for word in query.words)
    elif isinstance(query, AndNot):
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
        group=qparser.OrGroup,
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

