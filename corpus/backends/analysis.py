"""The text analysis both engines' keyword sides share, and the answerer reads terms with.

Whoosh's ``LanguageAnalyzer("en")``: Snowball stemming and NLTK's 127-word English stop
list (see :mod:`corpus.backends.folder.keyword` for why). The Milvus backend searches
with Milvus's own analyzer, and uses this one for the terms it reports (stems, idf,
highlights), so the answerer's features read the same words on either engine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from whoosh.analysis import LanguageAnalyzer
from whoosh.lang import stopwords_for_language

#: The weight of an article's title against its paragraph's text, in both engines' BM25
#: (0.3 best on SciFact train: nDCG@10 0.699; 0.5: 0.697, 1.0: 0.674).
TITLE_BOOST = 0.3


#: The stop words both engines drop (NLTK's English list, as Whoosh ships it).
STOP_WORDS = frozenset(stopwords_for_language("en"))


def make_analyzer():
    return LanguageAnalyzer("en")


#: Texts whose analysed terms a reader keeps: an answer stems every sentence, title and
#: paragraph of its passages, and passages recur across questions. Stemming was a fifth of
#: a warm answer's time (150 BBC questions asked again: 1.2 of 5.7 s).
TERMS_KEPT = 65_536


def terms_memo(analyzer) -> Callable[[str], frozenset[str]]:
    """The analysed terms of a text, remembered for the last :data:`TERMS_KEPT` texts."""

    @functools.lru_cache(maxsize=TERMS_KEPT)
    def terms(text: str) -> frozenset[str]:
        return frozenset(tok.text for tok in analyzer(text, mode="query"))

    return terms


#: How an index's manifest names the Milvus analyzer (its parameters are recorded beside it).
MILVUS_ANALYZER_NAME = f"Milvus: standard tokenizer, lower case, {len(STOP_WORDS)} English stop words (NLTK's), English Snowball stemmer"


def milvus_analyzer() -> dict:
    """Milvus's analyzer configured as close to :func:`make_analyzer` as Milvus allows: its
    standard tokenizer, lower case, the same stop words, the English Snowball stemmer."""
    return {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOP_WORDS)}, {"type": "stemmer", "language": "english"}]}
