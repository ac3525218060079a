"""Answer candidates: the words of a sentence of the asked-for kind that the question does not
already name, and the one of them shown in bold."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .entities import Span
from .question import QuestionInfo, word_set

if TYPE_CHECKING:
    from .analysis import Sentence

_STOP_CANDIDATE_WORDS = frozenset("the a an of and in on at to for by mr mrs ms dr".split())


def _words(text: str) -> set[str]:
    return {w for w in word_set(text) if w not in _STOP_CANDIDATE_WORDS}


def is_new(text: str, info: QuestionInfo) -> bool:
    """A candidate is new information when it has a word the question does not."""
    words = _words(text)
    return bool(words) and not words <= info.words and text not in info.numbers


EXACT_KINDS = {"MONEY": "sum of money", "PERCENT": "percentage"}
_NAMES = frozenset({"PERSON", "ORG", "NORP", "GPE", "LOC", "FAC", "PRODUCT", "WORK_OF_ART", "EVENT", "LAW", "LANGUAGE", "NAME"})
_NUMBERS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})


def _kind(labels: frozenset[str]) -> frozenset[str]:
    """The labels a candidate may carry for an asked-for type: the tagger confuses
    persons with organisations and amounts with plain numbers, so the kind is broad
    (names, numbers, or dates) and the exact label is a feature of its own."""
    kind: set[str] = set()
    if labels & _NAMES:
        kind |= _NAMES
    if "PERSON" in labels:
        kind.add("PERSON_NOUN")
    if labels & _NUMBERS:
        kind |= _NUMBERS
    if labels & {"DATE", "TIME"}:
        kind |= {"DATE", "TIME"}
    return frozenset(kind)


def new_candidates(text: str, spans: Sequence[Span], a: int, b: int, info: QuestionInfo) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]]:
    """The new candidates of the asked-for kind in ``text[a:b]``, exact labels first, and their labels."""
    if not info.wants:
        return (), ()
    kind = _kind(info.wants)
    found = [(s, e, label) for s, e, label in spans if a <= s and e <= b and label in kind and is_new(text[s:e], info)]
    found.sort(key=lambda c: (c[2] not in info.wants, c[0]))
    return tuple((s, e) for s, e, _ in found), tuple(label for _, _, label in found)


def any_new_entity(text: str, spans: Sequence[Span], a: int, b: int, info: QuestionInfo) -> bool:
    return any(a <= s and e <= b and label not in ("ORDINAL",) and is_new(text[s:e], info) for s, e, label in spans)


def answer_span(sentence: Sentence, highlights: Sequence[tuple[int, int]] = (), text: str = "") -> tuple[int, int] | None:
    """The candidate of a sentence most likely to be the answer, in the hit's text: of the
    dates and times the most precise (a year or a day before a month alone, a time in
    figures before "this season"; ``text`` is the hit's text), then the one nearest the
    question's words in it (its hit's highlights), then the first."""
    if not sentence.candidates:
        return None
    marks = [(x + y) / 2 for x, y in highlights if sentence.start <= x < sentence.end]
    labels = sentence.labels or ("",) * len(sentence.candidates)

    def rank(i: int) -> tuple:
        a, b = sentence.candidates[i]
        distance = min((abs((a + b) / 2 - m) for m in marks), default=0.0)
        precision = _precision(text[a:b]) if text and labels[i] in ("DATE", "TIME") else 2
        return (-precision, distance, i)

    return sentence.candidates[min(range(len(sentence.candidates)), key=rank)]


_MONTH_NAME = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.I)


def _precision(candidate: str) -> int:
    """How precisely a candidate states its answer: figures (a year, a day, 7.96 seconds) 2,
    a month named 1, words alone ("this season", "Sunday") 0."""
    if any(c.isdigit() for c in candidate):
        return 2
    return 1 if _MONTH_NAME.search(candidate) else 0
