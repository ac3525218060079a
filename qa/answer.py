"""Extractive answers: verbatim quotes from the best passages, each with a numbered citation.

The answerer never writes text of its own about the corpus: an answer is made
of sentences copied from the retrieved paragraphs (checked character by
character against the article), or a plain statement that the corpus does not
answer the question, with the closest passages shown as such.

How a sentence is chosen: the best hybrid passages are split into sentences,
and each sentence is scored by
- its cosine similarity to the question (the bundled embedder),
- the IDF-weighted share of the question's terms it contains (the keyword
  index's analyzer and statistics),
- the rank of its passage, and
- whether it holds the kind of token the question asks for (a number for
  "how many", a year for "when", ...).
The best sentence is quoted; the next ones join it when they score nearly as
well; adjacent sentences of one paragraph are merged into one quote.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from corpus.split import sentence_spans

from .hits import Hit

# Weights of the sentence score (set by hand, checked on SQuAD 2.0: answer_in_quote 0.84 with
# every question answered) and the abstention threshold, calibrated on SQuAD 2.0 with
# `corpus eval-qa ../shared/data/squad/cs224n-dev-v2.0.json --calibrate`: the highest threshold
# that keeps 90% of answerable questions answered is 0.5875 (declining 20.8% of unanswerable
# ones); chosen on half the articles, 0.585, it keeps 90.8% answered on the other half. 0.58
# leaves a margin. See the README for the whole curve and what limits it.
W_SEMANTIC = 0.6
W_LEXICAL = 0.25
W_PASSAGE = 0.15
W_TYPE = 0.05
#: Below this best-sentence relevance the corpus is taken not to answer.
THRESHOLD = 0.58
#: A further sentence is quoted only when it scores at least this close to the best one.
MARGIN = 0.05
MAX_QUOTES = 3
#: For a follow-up, the weight of the question as asked against the conversation in choosing sentences.
FOCUS = 0.8
PASSAGES = 5
MAX_SENTENCES_PER_PASSAGE = 80
#: Fragments shorter than this (captions, credits, datelines) are not quoted on their own.
MIN_SENTENCE_WORDS = 5

Message = dict[str, str]


@dataclass(frozen=True)
class Source:
    """A numbered source of an answer: one paragraph of one article."""

    number: int
    title: str
    paragraph: int
    source: str
    article_id: str
    hit_id: str
    url: str | None = None

    @classmethod
    def of(cls, number: int, hit: Hit) -> Source:
        return cls(number, hit.title, hit.paragraph, hit.source, hit.article_id, hit.id, hit.url)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Quote:
    """A verbatim span of a paragraph: ``article.text[start:end] == text``."""

    text: str
    citation: int
    hit: Hit
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citation": self.citation,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "hit": self.hit.to_dict(),
        }


@dataclass
class Answer:
    question: str
    answered: bool
    text: str
    quotes: list[Quote] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    closest: list[Hit] = field(default_factory=list)
    confidence: float = 0.0
    query: str = ""
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answered": self.answered,
            "text": self.text,
            "quotes": [q.to_dict() for q in self.quotes],
            "sources": [s.to_dict() for s in self.sources],
            "closest": [h.to_dict() for h in self.closest],
            "confidence": round(self.confidence, 4),
            "query": self.query,
            "notices": self.notices,
        }


NOT_IN_CORPUS = "The corpus does not answer this question."


@dataclass
class Retrieval:
    question: str
    query: str
    passages: list[Hit]
    prior: list[float]
    notices: list[str]


@dataclass
class Draft:
    question: str
    query: str
    passages: list[Hit]
    quotes: list[Quote]
    sources: list[Source]
    confidence: float
    notices: list[str]

    def answer(self, threshold: float) -> Answer:
        if not self.quotes or self.confidence < threshold:
            return _declined(self.question, self.query, self.passages, self.confidence, self.notices)
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


@dataclass(frozen=True)
class _Candidate:
    hit_index: int
    sentence_index: int
    start: int  # in the hit's text
    end: int
    score: float


class Answerer:
    """Builds :class:`Answer` objects from a :class:`qa.Library`."""

    def __init__(self, library, *, threshold: float = THRESHOLD, passages: int = PASSAGES) -> None:
        self._lib = library
        self.threshold = threshold
        self.passages = passages
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def ask(self, question: str, history: Sequence[Message] | None = None, *, k: int | None = None, mode: str = "hybrid") -> Answer:
        return self.draft(question, history, k=k, mode=mode).answer(self.threshold)

    def draft(self, question: str, history: Sequence[Message] | None = None, *, k: int | None = None, mode: str = "hybrid") -> Draft:
        """Everything an answer is made from, before the threshold decides (used by evaluations)."""
        return self.compose(self.retrieve(question, history, k=k, mode=mode), history)

    def retrieve(self, question: str, history: Sequence[Message] | None = None, *, k: int | None = None, mode: str = "hybrid") -> Retrieval:
        """The passages an answer will quote from (the first half of :meth:`draft`)."""
        from .library import clean_query

        text, notices = clean_query(question)
        query = resolve_followup(text, history or [])
        hits, prior = self._passages(query, text, k or self.passages, mode)
        return Retrieval(text, query, list(hits), prior, notices + hits.notices)

    def compose(self, retrieval: Retrieval, history: Sequence[Message] | None = None) -> Draft:
        """Score the passages' sentences and choose the quotes (the second half of :meth:`draft`)."""
        hits = retrieval.passages
        scored, confidence = self.score_sentences(retrieval.query, hits, focus=retrieval.question, prior=retrieval.prior)
        said = _already_quoted(history or [])
        scored = [c for c in scored if normalize(hits[c.hit_index].text[c.start : c.end]) not in said]
        quotes, sources = _quotes(scored, hits) if scored else ([], [])
        return Draft(retrieval.question, retrieval.query, hits, quotes, sources, confidence, retrieval.notices)

    def _passages(self, query: str, question: str, k: int, mode: str):
        """The passages to quote from: the best for the (resolved) query, and for
        a follow-up also the best for the question as asked, from the same articles
        (a follow-up is about what the conversation has been reading)."""
        hits = self._lib.search(query, k=k, mode=mode)
        prior = {h.id: 1.0 - r / k for r, h in enumerate(hits)}
        if query != question:
            articles = {h.article_id for h in hits}
            own = [h for h in self._lib.search(question, k=4 * k, mode=mode) if h.article_id in articles][:k]
            for r, h in enumerate(own):
                if h.id not in prior:
                    hits.append(h)
                prior[h.id] = max(prior.get(h.id, 0.0), 1.0 - r / k)
        return hits, [prior[h.id] for h in hits]

    # -- scoring --------------------------------------------------------------
    def score_sentences(
        self, query: str, hits: Sequence[Hit], focus: str | None = None, prior: Sequence[float] | None = None
    ) -> tuple[list[_Candidate], float]:
        """Every sentence of the passages, best first, and the answer's confidence.

        ``query`` is what was searched; ``focus`` the question as asked, when a
        follow-up was searched together with an earlier question. Then the
        conversation decides what is relevant (the confidence) while the
        question's own words weigh most in choosing the sentence: after "What
        happened to the rebellion in Mosul?", "Who led it?" should quote who
        led it, not the rebellion again.
        """
        spans = [
            [(a, b) for a, b in sentence_spans(h.text) if len(h.text[a:b].split()) >= MIN_SENTENCE_WORDS][:MAX_SENTENCES_PER_PASSAGE]
            for h in hits
        ]
        texts = [h.text[a:b] for h, ss in zip(hits, spans) for a, b in ss]
        if not texts:
            return [], 0.0
        focus = focus if focus and focus != query else None
        qvecs = self._embed([query, focus] if focus else [query])
        svecs = self._embed(texts)
        semantic = svecs @ qvecs[0]
        # a sentence is read in its article: the title's words count for its term overlap
        titled = [f"{h.title}\n{h.text[a:b]}" for h, ss in zip(hits, spans) for a, b in ss]
        lexical = np.array(self._lib.term_overlap(query, titled))
        wants = answer_type(focus or query)
        typed = np.array([1.0 if wants and wants.search(t) else 0.0 for t in texts])
        if prior is None:
            prior = [1.0 - i / max(1, len(hits)) for i in range(len(hits))]
        passage = np.concatenate([np.full(len(ss), prior[i]) for i, ss in enumerate(spans)])
        relevance = W_SEMANTIC * semantic + W_LEXICAL * lexical + W_PASSAGE * passage + W_TYPE * typed
        if focus:
            # The question's own meaning steers the choice, not its words: an elliptical
            # question has one or two content words, and one match would count as full overlap.
            semantic_focus = svecs @ qvecs[1]
            choice = (
                W_SEMANTIC * (FOCUS * semantic_focus + (1 - FOCUS) * semantic)
                + W_LEXICAL * (1 - FOCUS) * lexical
                + W_PASSAGE * passage
                + W_TYPE * typed
            )
        else:
            choice = relevance
        out = []
        i = 0
        for h_index, ss in enumerate(spans):
            for s_index, (a, b) in enumerate(ss):
                out.append(_Candidate(h_index, s_index, a, b, float(choice[i])))
                i += 1
        out.sort(key=lambda c: -c.score)
        return out, float(relevance.max())

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings, computed at question time with a bounded cache.

        Why not at build time: a question needs the sentences of 5 passages,
        about 20-40 short sentences, which encode in tens of milliseconds,
        while embedding every sentence of the corpus at build time would
        roughly double the build (the embedder is the build's cost) and the
        index size. The cache makes repeated passages free.
        """
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vecs = self._lib.embed(missing)
            with self._cache_lock:
                for t, v in zip(missing, vecs):
                    self._cache[t] = v
                while len(self._cache) > 50_000:
                    self._cache.popitem(last=False)
        with self._cache_lock:
            return np.stack([self._cache[t] for t in texts])


def _quotes(scored: list[_Candidate], hits: Sequence[Hit]) -> tuple[list[Quote], list[Source]]:
    best = scored[0].score
    chosen = [c for c in scored if c.score >= best - MARGIN][: MAX_QUOTES * 2]
    # merge sentences of one paragraph that are adjacent
    chosen.sort(key=lambda c: (c.hit_index, c.sentence_index))
    groups: list[list[_Candidate]] = []
    for c in chosen:
        if groups and groups[-1][-1].hit_index == c.hit_index and groups[-1][-1].sentence_index + 1 == c.sentence_index:
            groups[-1].append(c)
        else:
            groups.append([c])
    groups.sort(key=lambda g: -max(c.score for c in g))
    quotes: list[Quote] = []
    sources: list[Source] = []
    number_of: dict[str, int] = {}
    seen: set[str] = set()
    for group in groups:
        if len(quotes) == MAX_QUOTES:
            break
        hit = hits[group[0].hit_index]
        a, b = group[0].start, group[-1].end
        text = hit.text[a:b]
        key = " ".join(text.lower().split())
        if key in seen:
            continue
        seen.add(key)
        if hit.id not in number_of:
            number_of[hit.id] = len(number_of) + 1
            sources.append(Source.of(number_of[hit.id], hit))
        quotes.append(Quote(text, number_of[hit.id], hit, hit.start + a, hit.start + b, max(c.score for c in group)))
    return quotes, sources


def _declined(question: str, query: str, hits: Sequence[Hit], confidence: float, notices: list[str]) -> Answer:
    closest = list(hits[:3])
    lines = [NOT_IN_CORPUS]
    if closest:
        lines += ["", "Closest passages (not an answer):"]
        lines += [f"- {md_escape(_snippet(h.text))} [{n}]" for n, h in enumerate(closest, start=1)]
    sources = [Source.of(n, h) for n, h in enumerate(closest, start=1)]
    return Answer(question, False, "\n".join(lines), [], sources, closest, confidence, query, notices)


def render_quotes(quotes: Sequence[Quote]) -> str:
    """Markdown: one block quote per quote, followed by its citation number."""
    return "\n\n".join(f"> “{md_escape(q.text)}” [{q.citation}]" for q in quotes)


# Inside a quote no line starts with corpus text, so list and heading markers need no escape.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def md_escape(text: str) -> str:
    """Corpus text made inert in Markdown and HTML: entities for <, >, &; backslashes for Markdown."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())


def _snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit] + " …"


# -- follow-up questions --------------------------------------------------------------

_ANAPHORA = frozenset(
    "it its it's he him his she her hers they them their theirs this that these those there then one ones such the same former latter".split()
)
_WORD = re.compile(r"[\w'’]+", re.UNICODE)
_FILLER = frozenset(
    "what who whom whose which when where why how is are was were do does did and or but so about with for of to in on at by from a an the "
    "tell me more else also too".split()
)


def resolve_followup(question: str, history: Sequence[Any]) -> str:
    """The search query for ``question`` in a conversation.

    An elliptical follow-up ("Who led it?", "and when?") is searched together
    with the user's previous question; a self-contained one is searched alone.
    ``history`` is in the chat messages format (``{"role", "content"}``);
    ``(user, assistant)`` pairs are accepted too.
    """
    previous = _previous_user_turns(history)
    if not previous:
        return question
    words = [w.lower() for w in _WORD.findall(question)]
    content = [w for w in words if w not in _FILLER and w not in _ANAPHORA]
    elliptical = any(w in _ANAPHORA for w in words) or len(content) <= 2
    if not elliptical:
        return question
    return f"{previous[-1]} {question}"


def conversation_turns(history: Sequence[Any]) -> list[dict[str, str]]:
    """The text turns of a chat history, as ``{"role", "content"}`` messages.

    Accepts the chat messages format and ``(user, assistant)`` pairs; turns that
    are not text (files, components) are left out.
    """
    turns: list[dict[str, str]] = []
    for item in history:
        if isinstance(item, dict):
            if item.get("role") in ("user", "assistant") and isinstance(item.get("content"), str):
                turns.append({"role": item["role"], "content": item["content"]})
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            for role, content in zip(("user", "assistant"), item):
                if isinstance(content, str):
                    turns.append({"role": role, "content": content})
    return turns


def _already_quoted(history: Sequence[Any]) -> set[str]:
    """The normalised text of the assistant's earlier turns, split at quote marks."""
    said: set[str] = set()
    for turn in conversation_turns(history):
        if turn["role"] == "assistant":
            said.update(n for n in (normalize(part) for part in re.split(r"[“”]", turn["content"])) if n)
    return said


def normalize(text: str) -> str:
    """Lower case, words only, single spaces: for comparing texts regardless of punctuation."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _previous_user_turns(history: Sequence[Any]) -> list[str]:
    turns = (" ".join(t["content"].split()) for t in conversation_turns(history) if t["role"] == "user")
    return [t for t in turns if t]


# -- what a question asks for -------------------------------------------------------------

_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozens?)\b", re.I)
_YEAR_OR_DATE = re.compile(r"\b(1\d{3}|20\d{2})\b|\b(January|February|March|April|May|June|July|August|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|century|decade)\b", re.I)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")


def answer_type(question: str) -> re.Pattern[str] | None:
    """A pattern for the kind of token a question asks for, if it says."""
    q = question.lower()
    if re.search(r"\bhow (many|much|long|old|far|large|big|high|often)\b|\bwhat (percentage|number|amount)\b", q):
        return _NUMBER
    if re.search(r"\bwhen\b|\bwhat (year|date|day|month|century|time)\b|\bwhich year\b", q):
        return _YEAR_OR_DATE
    if re.search(r"\bwho\b|\bwhom\b|\bwhose\b", q):
        return _NAME
    return None
