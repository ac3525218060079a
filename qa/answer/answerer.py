"""The answerer: passages → sentences with features → the answering sentences, quoted, or a decline.

It never writes text of its own about the corpus: an answer is made of
sentences copied from the retrieved paragraphs (checked character by
character against the paragraph), or a plain statement that the corpus does
not answer the question, with the closest passages shown as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus.embed import TokenVectors

from ..hits import Hit
from ..query import clean_query
from .analysis import Analysis
from .cache import BatchCache
from .candidates import answer_span
from .entities import Tagger, default_tagger
from .features import analyse_retrieval, untimed
from .model import AnswerModel, load_model
from .passages import Passages
from .question import already_quoted, normalize, resolve_followup
from .render import declined, render_quotes
from .types import Answer, Quote, Retrieval, Source

#: Passages read for an answer. Six, not five: the paragraph that answers often ranks
#: below those that restate the question. Held out (400 SQuAD and 150 BBC questions), the
#: answer is in the passages for 0.936 / 0.945 / 0.973 of the BBC questions at 5 / 6 / 8
#: passages, and in the quotes for 0.736 at both 6 and 8; each passage's sentences are
#: embedded at question time, so 8 would cost a third more time than 6.
PASSAGES = 6
#: The paragraph after the best passage is read too when it is not among them: a news story
#: restates the question's matter in one paragraph and goes on with it in the next ("ISIS
#: quashed a rebellion …" / "The plot was spearheaded by an ISIS commander …"). Held out,
#: four draws of the folds, BBC answer in quotes / declined and SQuAD's: 0.809 / 0.631 and
#: 0.821 / 0.205 without it, 0.802 / 0.644 and 0.821 / 0.198 with it (it adds a paragraph to
#: 40 of the 150 BBC questions; a SQuAD article is one paragraph).
READ_ON = True
MAX_QUOTES = 3
#: A further sentence is quoted when its probability of holding the answer is at least this
#: much per word it adds: a sentence earns its length (20 words need 0.11, 40 need 0.22).
#: With a bound on the mean length of quotes, this is the knapsack's greedy rule; it
#: replaced "at least a tenth as likely as the best, 60 words in all", which quoted as many
#: words for less. Held out (2,400 SQuAD and the 150 BBC questions, at the shipped
#: threshold), answer in quotes / mean words: SQuAD 0.796 / 36.4 → 0.811 / 36.9, BBC
#: 0.791 / 37.4 → 0.800 / 37.4 (0.005 per word: 0.812 / 38.1 and 0.800 / 37.6; 0.006:
#: 0.806 / 36.2 and 0.800 / 35.8).
PER_WORD = 0.0055
#: ... and only while the quotes stay this short (words).
MAX_QUOTE_WORDS = 90
#: Texts whose embeddings the answerer keeps (a sentence's word-piece vectors are about
#: 30 KB in float16: some 250 MB at most; SQuAD's 646 paragraphs have about 4,000 sentences).
EMBEDDING_CACHE = 8192
#: A sentence opening with a pronoun names its subject in the sentence before ("Dave Winer
#: … He designed the format called RSS").
_OPENS_WITH_PRONOUN = re.compile(r"\W*(?:he|she|they|it|his|her|their|its)\b", re.IGNORECASE)
#: A sentence opening with a pronoun or a connective goes on from the one before it ("Another
#: role of the immune system is to identify tumors. This is called immune surveillance.").
_CONTINUES = re.compile(r"\W*(?:this|these|that|those|it|they|he|she|but|however|indeed|thus|so|instead|such)\b", re.IGNORECASE)


@dataclass
class Draft:
    """Everything an answer is made from, before the threshold decides."""

    question: str
    query: str
    passages: list[Hit]
    quotes: list[Quote]
    sources: list[Source]
    confidence: float
    notices: list[str]

    def answer(self, threshold: float) -> Answer:
        if not self.quotes or self.confidence < threshold:
            return declined(self.question, self.query, self.passages, self.confidence, self.notices)
        return Answer(
            question=self.question,
            answered=True,
            text=render_quotes(self.quotes),
            quotes=self.quotes,
            sources=self.sources,
            confidence=self.confidence,
            query=self.query,
            notices=self.notices,
        )


class Answerer:
    """Builds :class:`Answer` objects from a corpus (anything with the :class:`Passages` methods)."""

    def __init__(
        self,
        corpus: Passages,
        *,
        model: AnswerModel | None = None,
        threshold: float | None = None,
        passages: int = PASSAGES,
        read_on: bool = READ_ON,
        tagger: Tagger | None = None,
    ) -> None:
        self._corpus = corpus
        self._model = model
        self._threshold = threshold
        self.passages = passages
        self.read_on = read_on
        self._tagger = tagger
        self._embeddings = BatchCache(corpus.embed_tokens, EMBEDDING_CACHE)

    @property
    def model(self) -> AnswerModel:
        if self._model is None:
            self._model = load_model()
        return self._model

    @property
    def threshold(self) -> float:
        return self.model.threshold if self._threshold is None else self._threshold

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            self._tagger = default_tagger()
        return self._tagger

    def ask(self, question: str, history: Sequence[Any] | None = None, *, k: int | None = None, mode: str = "hybrid", where=None) -> Answer:
        return self.draft(question, history, k=k, mode=mode, where=where).answer(self.threshold)

    def draft(self, question: str, history: Sequence[Any] | None = None, *, k: int | None = None, mode: str = "hybrid", where=None, timer=untimed) -> Draft:
        """Everything an answer is made from, before the threshold decides (used by evaluations);
        ``timer(stage)``, a context manager, times each stage (see ``bench/run.py``)."""
        with timer("search"):
            retrieval = self.retrieve(question, history, k=k, mode=mode, where=where)
        return self.compose(retrieval, history, timer=timer)

    def retrieve(self, question: str, history: Sequence[Any] | None = None, *, k: int | None = None, mode: str = "hybrid", where=None) -> Retrieval:
        """The passages an answer will quote from (the first half of :meth:`draft`); ``where``
        filters them as :meth:`qa.Library.search` does."""
        text, notices = clean_query(question)
        query, _ = clean_query(resolve_followup(text, history or []))  # the conversation's text is user text too
        if mode != "keyword":
            # the question's word pieces, read by the answer, come with its vector from the same
            # pass of the model, and the encoder keeps it for the search (one pass, not two)
            self._embed([query, text] if text != query else [query])
        hits, prior = self._passages(query, text, k or self.passages, mode, where)
        return Retrieval(text, query, list(hits), prior, notices + hits.notices)

    def analyse(self, retrieval: Retrieval, timer=untimed) -> Analysis:
        """The passages' sentences, their candidates and features."""
        return analyse_retrieval(retrieval, self._corpus, self.tagger, self._embed, timer)

    def compose(self, retrieval: Retrieval, history: Sequence[Any] | None = None, *, timer=untimed) -> Draft:
        """Choose the quotes and the confidence (the second half of :meth:`draft`)."""
        analysis = self.analyse(retrieval, timer)
        model = self.model
        with timer("sentence and answerability models"):
            probabilities = model.sentence.predict(analysis.features)
            confidence = analysis.confidence(probabilities, model.answerable)
        with timer("choose the quotes"):
            return self._quoted(retrieval, analysis, probabilities, confidence, history)

    def _quoted(self, retrieval: Retrieval, analysis: Analysis, probabilities: np.ndarray, confidence: float, history) -> Draft:
        """The quotes and sources the probabilities choose (never one the conversation quoted already)."""
        said = already_quoted(history or [])
        hits = retrieval.passages
        if said:  # what the assistant already quoted is not quoted again
            for i, s in enumerate(analysis.sentences):
                if normalize(hits[s.hit_index].text[s.start : s.end]) in said:
                    probabilities[i] = -1.0
        quotes, sources = choose_quotes(analysis, probabilities)
        notices = list(retrieval.notices)
        if analysis.sentences and (reason := analysis.missing(int(np.argmax(probabilities)))):
            notices.append(reason)
        return Draft(retrieval.question, retrieval.query, hits, quotes, sources, confidence, notices)

    def _passages(self, query: str, question: str, k: int, mode: str, where=None):
        """The passages to quote from: the best for the (resolved) query, and for
        a follow-up also the best for the question as asked, from the same articles
        (a follow-up is about what the conversation has been reading), and the
        paragraph after the best one (see :data:`READ_ON`)."""
        hits = self._corpus.search(query, k=k, mode=mode, where=where)
        prior = {h.key: 1.0 - r / k for r, h in enumerate(hits)}
        if query != question:
            articles = {(h.collection, h.article_id) for h in hits}
            own = [h for h in self._corpus.search(question, k=4 * k, mode=mode, where=where) if (h.collection, h.article_id) in articles][:k]
            for r, h in enumerate(own):
                if h.key not in prior:
                    hits.append(h)
                prior[h.key] = max(prior.get(h.key, 0.0), 1.0 - r / k)
        if self.read_on and hits:
            best = hits[0]
            after = next((h for h in self._corpus.article_hits(best.article_id, best.collection) if h.paragraph == best.paragraph + 1), None)
            if after is not None and after.key not in prior:
                hits.append(after)
                prior[after.key] = 0.0
        return hits, [prior[h.key] for h in hits]

    def _embed(self, texts: list[str]) -> list[TokenVectors]:
        """Sentence embeddings and their word pieces' vectors, computed at question time with a bounded cache.

        Why not at build time: a question needs the sentences of six passages,
        a few dozen short sentences, while embedding every sentence of the corpus
        under its title would make the build about three times as long (BBC: 41,258
        sentences, about 240 s more than its 124 s; see docs/performance.md). The
        cache makes repeated passages free.
        """
        return self._embeddings(texts)


def choose_quotes(analysis: Analysis, probabilities: np.ndarray) -> tuple[list[Quote], list[Source]]:
    """The best sentence, and the next best while likely enough for their length;
    adjacent sentences of one paragraph are merged into one quote; the answer
    span is marked in the quote that holds it."""
    sentences = analysis.sentences
    hits = analysis.retrieval.passages
    order = [int(i) for i in np.argsort(-probabilities) if probabilities[i] >= 0]
    if not order:
        return [], []
    chosen = [order[0]]
    words = _words(analysis, order[0])
    top = sentences[order[0]]

    def quote_beside(j: int) -> None:  # a neighbour of the best joins it while the quotes stay short
        nonlocal words
        n = _words(analysis, j)
        if words + n <= MAX_QUOTE_WORDS:
            chosen.append(j)
            words += n

    if analysis.question.wants:
        # news often restates the question in one sentence and answers it in the next, and
        # opens a sentence with a pronoun for the one named before it: a neighbour holding a
        # candidate joins the quote when the best sentence holds none, or opens with a pronoun
        # (then the one before), or holds none of exactly the asked-for kind (then a neighbour
        # that does). Held out (2,400 SQuAD, 150 BBC questions): answer in quotes BBC
        # 0.782 → 0.800, SQuAD 0.783 → 0.783, 0.2 words more quoted.
        need_primary = False
        if not top.candidates:
            beside: tuple[int | None, ...] = (top.next, top.prev)
        elif _OPENS_WITH_PRONOUN.match(hits[top.hit_index].text, top.start):
            beside = (top.prev,)
        elif not top.primary:
            beside = (top.next, top.prev)
            need_primary = True
        else:
            beside = ()
        for j in beside:
            if j is not None and sentences[j].candidates and (sentences[j].primary or not need_primary) and probabilities[j] >= 0:
                quote_beside(j)
                break
    elif top.next is not None and sentences[top.next].hit_index == top.hit_index and probabilities[top.next] >= 0:
        # a question that names no kind of answer (what, why, how) is often answered by the
        # sentence that goes on from the one restating it: "… to identify and eliminate
        # tumors." "This is called immune surveillance." Held out (2,400 SQuAD, 150 BBC
        # questions): SQuAD answer in quotes 0.809 → 0.813 for 1.4 words more (a lower
        # price per word, 0.0045, bought 0.811 for 1.7 words); BBC unchanged.
        if _CONTINUES.match(hits[top.hit_index].text, sentences[top.next].start):
            quote_beside(top.next)
    for i in order[1:]:
        if len(chosen) == MAX_QUOTES:
            break
        n = _words(analysis, i)
        if i in chosen or probabilities[i] < PER_WORD * n or words + n > MAX_QUOTE_WORDS:
            continue
        chosen.append(i)
        words += n
    # merge sentences of one paragraph that are adjacent
    chosen.sort(key=lambda i: (sentences[i].hit_index, sentences[i].index))
    groups: list[list[int]] = []
    for i in chosen:
        last = groups[-1][-1] if groups else None
        if last is not None and sentences[last].hit_index == sentences[i].hit_index and sentences[last].index + 1 == sentences[i].index:
            groups[-1].append(i)
        else:
            groups.append([i])
    groups.sort(key=lambda g: -max(probabilities[i] for i in g))
    quotes: list[Quote] = []
    sources: list[Source] = []
    number_of: dict[tuple[str | None, str], int] = {}
    seen: set[str] = set()
    for group in groups:
        first, last = sentences[group[0]], sentences[group[-1]]
        hit = hits[first.hit_index]
        a, b = first.start, last.end
        text = hit.text[a:b]
        key = " ".join(text.lower().split())
        if key in seen:
            continue
        seen.add(key)
        if hit.key not in number_of:
            number_of[hit.key] = len(number_of) + 1
            sources.append(Source.of(number_of[hit.key], hit))
        span = None
        for i in sorted(group, key=lambda i: -probabilities[i]):
            found = answer_span(sentences[i], hit.highlights, hit.text)
            if found:
                span = (found[0] - a, found[1] - a)
                break
        quotes.append(Quote(text, number_of[hit.key], hit, hit.start + a, hit.start + b, float(max(probabilities[i] for i in group)), span))
    return quotes, sources


def _words(analysis: Analysis, i: int) -> int:
    s = analysis.sentences[i]
    return len(analysis.retrieval.passages[s.hit_index].text[s.start : s.end].split())
