"""Answer quality on a question file: SQuAD-format JSON, or JSON Lines questions over a corpus.

Two shapes of question file:

- **SQuAD** (``data[].paragraphs[].context`` and ``qas``): every context becomes
  an article of its own, indexed from the file itself.
- **JSON Lines** (the shape of BBC News' ``questions-dev.jsonl``): one question
  per line with ``question``, ``kind``, ``file`` and 1-based ``paragraph`` of
  the gold paragraph, and the ``answer`` string (``null`` when no article
  answers it), asked of an index built over the corpus's folder.

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
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import SourceError

from ..answer import Answerer, normalize
from ..answer.types import Retrieval
from ..library import Library
from .retrieval import build_cache

#: Share of answerable questions that must stay answered when calibrating the threshold.
TARGET_ANSWERED = 0.90


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    article_id: str | None  # of the gold paragraph (None when unanswerable)
    answers: tuple[str, ...]  # empty when unanswerable
    paragraph: int | None = None  # 1-based number of the gold paragraph; None: any paragraph of the article
    kind: str = ""
    group: str = ""  # what held-out checks split by: the source article (SQuAD) or file


@dataclass(frozen=True)
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the gold paragraph among the passages
    confidence: float
    in_quote: bool
    quote_words: int
    quotes: tuple[str, ...] = ()
    cited: tuple[str, ...] = field(default=())  # "article ¶n" of each quote
    bold: tuple[str, ...] = ()  # the answer spans shown in bold, quote by quote
    in_bold: bool = False  # a gold answer is inside one of them

    def detail(self, threshold: float) -> dict:
        q = self.question
        return {
            "id": q.id,
            "kind": q.kind,
            "question": q.text,
            "gold": f"{q.article_id} ¶{q.paragraph}" if q.article_id and q.paragraph else q.article_id,
            "answer": q.answers[0] if q.answers else None,
            "rank": self.rank,
            "confidence": round(self.confidence, 4),
            "answered": self.confidence >= threshold,
            "in_quote": self.in_quote,
            "quotes": list(self.quotes),
            "cited": list(self.cited),
            "bold": list(self.bold),
            "in_bold": self.in_bold,
        }


def load_questions(path: str | os.PathLike[str]) -> tuple[list[dict] | None, list[Question]]:
    """A question file of either shape: SQuAD JSON gives its contexts as records, JSON Lines gives none."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        return None, load_jsonl_questions(path)
    return load_squad(path)


def load_squad(path: str | os.PathLike[str]) -> tuple[list[dict], list[Question]]:
    """The contexts as BEIR-style records, and the questions."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        articles = data["data"]
        docs, questions = [], []
        for article in articles:
            title = article["title"].replace("_", " ")
            for i, paragraph in enumerate(article["paragraphs"]):
                doc_id = f"{article['title']}/{i}"
                docs.append({"_id": doc_id, "title": title, "text": paragraph["context"]})
                for qa in paragraph["qas"]:
                    answers = () if qa.get("is_impossible") else tuple(a["text"] for a in qa["answers"])
                    kind = "answerable" if answers else "unanswerable"
                    questions.append(Question(qa["id"], qa["question"], doc_id, answers, kind=kind, group=article["title"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"not a SQuAD-format file: {path} ({exc})") from exc
    if not questions:
        raise SourceError(f"no questions in {path}")
    return docs, questions


def load_jsonl_questions(path: str | os.PathLike[str]) -> list[Question]:
    """Questions in JSON Lines: ``question``, ``kind``, ``file``, ``paragraph``, ``answer`` (null: unanswerable)."""
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read the question file {path}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = record["question"]
            answer = record.get("answer")
            if not isinstance(text, str) or not text.strip() or (answer is not None and not isinstance(answer, str)):
                raise ValueError("question and answer must be text")
            paragraph = record.get("paragraph")
            answers = (answer,) if answer else ()
            file = record.get("file") if answers else None
            if answers and not file:
                raise ValueError("an answerable question needs its file")
            questions.append(
                Question(
                    str(record.get("id", n)),
                    text,
                    file,
                    answers,
                    int(paragraph) if answers and paragraph is not None else None,
                    record.get("kind") or ("answerable" if answers else "unanswerable"),
                    file or str(record.get("id", n)),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SourceError(f"{path}, line {n}: not a question record ({exc})") from None
    if not questions:
        raise SourceError(f"no questions in {path}")
    return questions


def ensure_index(docs: list[dict], cache: Path, *, progress=None) -> Path:
    """Write the contexts as JSON Lines beside the cache and build (or reuse) its index."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    corpus = cache.parent / f"{cache.name}.jsonl"
    payload = "\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n"
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != payload:
        corpus.write_text(payload, encoding="utf-8")
    return build_cache([corpus], cache, progress=progress)


def same_article(article_id: str, gold: str | None) -> bool:
    """Article ids are paths under the folder given to the build (``bbc/sport/1.txt``);
    a question file names the file under that folder (``sport/1.txt``)."""
    return gold is not None and (article_id == gold or article_id.endswith("/" + gold.lstrip("/")))


def _is_gold(question: Question, article_id: str, paragraph: int) -> bool:
    if not same_article(article_id, question.article_id):
        return False
    return question.paragraph is None or paragraph == question.paragraph


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """Whether a gold answer occurs in ``text``, as whole words, ignoring case and punctuation."""
    padded = f" {normalize(text)} "
    return any(normalize(a) and f" {normalize(a)} " in padded for a in answers)


def outcome(question: Question, draft) -> Outcome:
    """How one drafted answer fares against its question's gold paragraph and answers."""
    rank = next((i for i, h in enumerate(draft.passages, start=1) if _is_gold(question, h.article_id, h.paragraph)), None)
    quoted = " ".join(x.text for x in draft.quotes)
    in_quote = bool(question.answers) and contains_answer(quoted, question.answers)
    words = sum(len(x.text.split()) for x in draft.quotes)
    bold = tuple(" ".join(x.answer_text.split()) for x in draft.quotes if x.answer_text)
    return Outcome(
        question,
        rank,
        draft.confidence,
        in_quote,
        words,
        tuple(" ".join(x.text.split()) for x in draft.quotes),
        tuple(f"{x.hit.article_id} ¶{x.hit.paragraph}" for x in draft.quotes),
        bold,
        bool(question.answers) and any(contains_answer(b, question.answers) for b in bold),
    )


def run(lib: Library, questions: Sequence[Question], *, on_progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    answerer = lib.answerer
    outcomes = []
    for n, q in enumerate(questions, start=1):
        outcomes.append(outcome(q, answerer.draft(q.text)))
        if on_progress and (n % 10 == 0 or n == len(questions)):
            on_progress(n, len(questions))
    return outcomes


#: The kind of the unanswerable questions made by asking an answerable one without its gold article.
GOLD_LEFT_OUT = "gold left out"


class WithoutArticle:
    """A corpus whose searches leave one article out (``article_id``); everything else is the corpus's."""

    def __init__(self, corpus) -> None:
        self._corpus = corpus
        self.article_id: str | None = None

    def search(self, query: str, k: int = 10, mode: str = "hybrid", *, where=None):
        hits = self._corpus.search(query, k=3 * k, mode=mode, where=where)
        hits[:] = [h for h in hits if not same_article(h.article_id, self.article_id)][:k]
        return hits

    def __getattr__(self, name: str):
        return getattr(self._corpus, name)


def retrieve_without_gold(answerer: Answerer, view: WithoutArticle, question: Question) -> tuple[Question, Retrieval] | None:
    """An answerable question asked of ``view`` (the corpus ``answerer`` reads) with its gold
    article left out: an unanswerable question whose topic the corpus holds, as users' near
    misses are. ``None`` when another passage still holds the answer (a copy of the article)."""
    view.article_id = question.article_id
    retrieval = answerer.retrieve(question.text)
    if any(contains_answer(h.text, question.answers) for h in retrieval.passages):
        return None
    return Question(f"{question.id}/{GOLD_LEFT_OUT}", question.text, None, (), kind=GOLD_LEFT_OUT, group=question.group), retrieval


def run_gold_left_out(
    lib: Library, questions: Sequence[Question], *, on_progress: Callable[[int, int], None] | None = None
) -> tuple[list[Outcome], int]:
    """Every answerable question asked again with its gold article left out; returns their
    outcomes (all unanswerable: a good answerer declines them) and how many were skipped
    because another article still holds the answer."""
    view = WithoutArticle(lib)
    answerer = Answerer(view, model=lib.answerer.model, threshold=lib.answerer.threshold, tagger=lib.answerer.tagger)
    answerable = [q for q in questions if q.answers and q.article_id]
    outcomes: list[Outcome] = []
    for n, q in enumerate(answerable, start=1):
        found = retrieve_without_gold(answerer, view, q)
        if found is not None:
            outcomes.append(outcome(found[0], answerer.compose(found[1])))
        if on_progress and (n % 10 == 0 or n == len(answerable)):
            on_progress(n, len(answerable))
    return outcomes, len(answerable) - len(outcomes)


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
        # of the answered questions, those whose answer span in bold holds the gold answer
        "answer_in_bold": share([o for o in answered if o.in_bold], answered),
        "mean_quote_words": round(sum(o.quote_words for o in answered) / len(answered), 1) if answered else 0.0,
        "answered_rate": share(answered, answerable),
        "abstain_rate": share([o for o in impossible if o.confidence < threshold], impossible),
        "answerable": len(answerable),
        "unanswerable": len(impossible),
    }


def by_kind(outcomes: Sequence[Outcome], threshold: float) -> dict[str, dict[str, float]]:
    """The figures of each kind of question (``keyword``, ``paraphrase``, ``unanswerable``…)."""
    kinds = sorted({o.question.kind for o in outcomes})
    return {k: figures([o for o in outcomes if o.question.kind == k], threshold) for k in kinds}


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
    groups = sorted({o.question.group for o in outcomes})
    first = set(groups[::2])
    fit = [o for o in outcomes if o.question.group in first]
    held = [o for o in outcomes if o.question.group not in first]
    if not fit or not held:
        return {}
    return figures(held, calibrate(fit, target))
