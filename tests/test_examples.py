"""Example questions made from the corpus in front of the user, each checked to be answered."""

from __future__ import annotations

import pytest

from corpus import build
from qa import Library
from qa.examples import SEED_EXAMPLES, _parser, example_questions, subject_question


@pytest.mark.parametrize(
    "sentence, question",
    [
        (
            "Former WorldCom chief Bernie Ebbers has denied claims that he knew accountants were doctoring the books at the firm.",
            "Who has denied claims that he knew accountants were doctoring the books at the firm?",
        ),
        ("The soaring cost of oil has hit global economic growth, although the major economies should weather the storm.", "What has hit global economic growth?"),
        ("Circuit City Stores, the second-largest electronics retailer in the US, has received a $3.25bn (£1.7bn) takeover offer.", "Who has received a $3.25bn takeover offer?"),
        ("Three firefighters were injured in the blaze at the warehouse on Tuesday.", "How many firefighters were injured in the blaze at the warehouse on Tuesday?"),
        ("He said the plan would fail.", None),  # a pronoun: nothing to ask for
        ("The coach believes Idowu can take gold in Madrid.", "Who believes Idowu can take gold in Madrid?"),  # a coach is someone
        ("The report warns that prices will rise.", None),  # "What warns …?" asks for a person
        ("In 2004, the firm made a loss.", None),
    ],
)
def test_a_question_asks_for_the_subject_of_a_lead_sentence(sentence, question):
    nlp = _parser()
    if nlp is None:
        pytest.skip("spaCy's English pipeline is not installed")
    assert subject_question(nlp(sentence)) == question


def test_the_seed_keeps_its_hand_written_questions(seed_lib):
    assert example_questions(seed_lib) == list(SEED_EXAMPLES)


@pytest.fixture(scope="module")
def bbc_lib(tmp_path_factory, embedder):
    """Fifty BBC articles, ten of each section: a small corpus of one's own."""
    import shutil

    from .conftest import shared_data

    bbc = shared_data("bbc_news", "bbc")
    docs = tmp_path_factory.mktemp("bbc-examples")
    for category in ("business", "entertainment", "politics", "sport", "tech"):
        (docs / category).mkdir()
        for n in range(10, 101, 10):
            shutil.copy(bbc / category / f"{n:03d}.txt", docs / category)
    index = tmp_path_factory.mktemp("bbc-examples-index") / "index"
    build([docs], index)
    lib = Library.open(index)
    yield lib
    lib.close()


def test_a_corpus_of_ones_own_gets_examples_it_answers(bbc_lib, monkeypatch):
    examples = example_questions(bbc_lib)
    assert len(examples) == 4 and not set(examples) & set(SEED_EXAMPLES)
    for question in examples:
        assert bbc_lib.ask(question).answered, question
    # made once per generation: a restart reads them back without asking anything
    monkeypatch.setattr(type(bbc_lib), "ask", lambda *a, **k: pytest.fail("asked again"))
    assert example_questions(bbc_lib) == examples


OFF_TOPIC = [
    # general knowledge
    "What is the capital of France?",
    "Who wrote Hamlet?",
    "What is the boiling point of water?",
    "Who discovered penicillin?",
    "What is the speed of light?",
    # other places
    "Who is the president of Brazil?",
    "What is the population of Tokyo?",
    "What is the largest city in Canada?",
    "Who is the mayor of Paris?",
    "What language is spoken in Brazil?",
    "What is the currency of Japan?",
    # other topics
    "How many moons does Jupiter have?",
    "When did the Titanic sink?",
    "Who won the 2018 World Cup?",
    "Who painted the Mona Lisa?",
    "How many people died in the 2004 tsunami in Sri Lanka?",
    "Which team won the Super Bowl?",
]


@pytest.mark.slow
def test_off_topic_questions_are_declined_on_a_small_corpus(bbc_lib):
    answered = {q: bbc_lib.ask(q) for q in OFF_TOPIC}
    assert [(q, a.quotes[0].text) for q, a in answered.items() if a.answered] == []
