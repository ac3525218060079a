"""The training data of the answer models: questions asked with their gold article left out."""

from __future__ import annotations

import pytest

from corpus.build import build
from qa import Library
from qa.eval.answers import GOLD_LEFT_OUT, Question, WithoutArticle
from qa.eval.train import collect_gold_left_out

QUESTION = "How much did the company's profits rise in the quarter?"


@pytest.fixture
def bbc_lib(bbc_sample, tmp_path, embedder):
    build([bbc_sample], tmp_path / "index")
    with Library.open(tmp_path / "index") as lib:
        yield lib


def _gold(lib: Library) -> tuple[str, str]:
    """The file (as a question file names it) of the best passage for QUESTION, and a phrase only it has."""
    top = lib.search(QUESTION, k=1)[0]
    words = top.text.split()
    for n in range(len(words) - 4):
        phrase = " ".join(words[n : n + 5])
        if not any(phrase in h.text for h in lib.search(phrase, k=20, mode="keyword") if h.article_id != top.article_id):
            return top.article_id.split("/", 1)[1], phrase
    pytest.fail("no phrase of the best passage is its own")


def test_the_gold_article_is_left_out_of_every_search(bbc_lib):
    gold, _ = _gold(bbc_lib)
    view = WithoutArticle(bbc_lib)
    view.article_id = gold
    hits = view.search(QUESTION, k=6)
    assert len(hits) == 6 and not any(h.article_id.endswith("/" + gold) for h in hits)
    assert any(h.article_id.endswith("/" + gold) for h in bbc_lib.search(QUESTION, k=6))
    assert view.stems("profits") == bbc_lib.stems("profits")  # the rest is the corpus's


def test_questions_without_their_gold_become_unanswerable_ones(bbc_lib):
    gold, phrase = _gold(bbc_lib)
    own = Question("q1", QUESTION, gold, (phrase,), group=gold)
    common = Question("q2", QUESTION, gold, ("said",), group=gold)  # other articles hold "said" too
    examples = collect_gold_left_out(bbc_lib, "bbc", [own, common])
    assert len(examples) == 1
    (example,) = examples
    assert example.question.kind == GOLD_LEFT_OUT and example.question.answers == () and example.question.group == gold
    assert example.analysis.sentences and not example.labels.any()
    assert not any(h.article_id.endswith("/" + gold) for h in example.analysis.retrieval.passages)
