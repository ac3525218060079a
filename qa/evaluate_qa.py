"""Answer quality on a SQuAD-format file (``data[].paragraphs[].context`` and ``qas``).

Every context becomes an article of its own; every question is asked once.
For answerable questions: is the gold paragraph among the top 1 / 5 passages,
do the quotes contain a gold answer string, how long are the quotes; for
unanswerable ones: is the question declined. Because the threshold only
decides whether a drafted answer is given, one pass yields the figures at
every threshold (the calibration curve).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import SourceError

from .answer import normalize
from .evaluate import build_cache
from .library import Library

#: Share of answerable questions that must stay answered when calibrating the threshold.
TARGET_ANSWERED = 0.90


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    article_id: str  # of the gold paragraph
    answers: tuple[str, ...]  # empty when unanswerable


@dataclass(frozen=True)
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the gold paragraph among the passages
    confidence: float
    in_quote: bool
    quote_words: int


def load_squad(path: str | os.PathLike[str]) -> tuple[list[dict], list[Question]]:
    """The contexts as BEIR-style records, and the questions."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        articles = data["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"not a SQuAD-format file: {path} ({exc})") from exc
    docs, questions = [], []
    for article in articles:
        title = article["title"].replace("_", " ")
        for i, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}/{i}"
            docs.append({"_id": doc_id, "title": title, "text": paragraph["context"]})
            for qa in paragraph["qas"]:
                answers = () if qa.get("is_impossible") else tuple(a["text"] for a in qa["answers"])
                questions.append(Question(qa["id"], qa["question"], doc_id, answers))
    if not questions:
        raise SourceError(f"no questions in {path}")
    return docs, questions


def ensure_index(docs: list[dict], cache: Path, *, progress=None) -> Path:
    """Write the contexts as JSON Lines beside the cache and build (or reuse) its index."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    corpus = cache.parent / f"{cache.name}.jsonl"
    payload = "\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n"
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != payload:
        corpus.write_text(payload, encoding="utf-8")
    return build_cache([corpus], cache, progress=progress)


def run(lib: Library, questions: Sequence[Question], *, on_progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    answerer = lib.answerer
    outcomes = []
    for n, q in enumerate(questions, start=1):
        draft = answerer.draft(q.text)
        rank = next((i for i, h in enumerate(draft.passages, start=1) if h.article_id == q.article_id), None)
        quoted = normalize(" ".join(x.text for x in draft.quotes))
        in_quote = bool(q.answers) and any(normalize(a) and f" {normalize(a)} " in f" {quoted} " for a in q.answers)
        words = sum(len(x.text.split()) for x in draft.quotes)
        outcomes.append(Outcome(q, rank, draft.confidence, in_quote, words))
        if on_progress and (n % 50 == 0 or n == len(questions)):
            on_progress(n, len(questions))
    return outcomes


def figures(outcomes: Sequence[Outcome], threshold: float) -> dict[str, float]:
    answerable = [o for o in outcomes if o.question.answers]
    impossible = [o for o in outcomes if not o.question.answers]
    answered = [o for o in answerable if o.confidence >= threshold]

    def share(items, total) -> float:
        return round(len(items) / len(total), 4) if total else 0.0

    return {
        "threshold": round(threshold, 4),
        "recall@1": share([o for o in answerable if o.rank == 1], answerable),
        "recall@5": share([o for o in answerable if o.rank is not None and o.rank <= 5], answerable),
        "answer_in_quote": share([o for o in answered if o.in_quote], answerable),
        "mean_quote_words": round(sum(o.quote_words for o in answered) / len(answered), 1) if answered else 0.0,
        "answered_rate": share(answered, answerable),
        "abstain_rate": share([o for o in impossible if o.confidence < threshold], impossible),
        "answerable": len(answerable),
        "unanswerable": len(impossible),
    }


def curve(outcomes: Sequence[Outcome], thresholds: Sequence[float]) -> list[dict[str, float]]:
    return [figures(outcomes, t) for t in thresholds]


def calibrate(outcomes: Sequence[Outcome], target: float = TARGET_ANSWERED) -> float:
    """The highest threshold that keeps at least ``target`` of the answerable questions answered."""
    confidences = sorted((o.confidence for o in outcomes if o.question.answers), reverse=True)
    if not confidences:
        return 0.0
    keep = max(1, int(target * len(confidences) + 0.999999))
    return confidences[keep - 1]


def held_out_check(outcomes: Sequence[Outcome], target: float = TARGET_ANSWERED) -> dict[str, float]:
    """Calibrate on every other article, report on the rest: how well the threshold carries over."""
    articles = sorted({o.question.article_id.rsplit("/", 1)[0] for o in outcomes})
    first = set(articles[::2])
    fit = [o for o in outcomes if o.question.article_id.rsplit("/", 1)[0] in first]
    held = [o for o in outcomes if o.question.article_id.rsplit("/", 1)[0] not in first]
    if not fit or not held:
        return {}
    return figures(held, calibrate(fit, target))
