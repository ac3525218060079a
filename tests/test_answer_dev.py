"""The answerer on the BBC News development questions: exact quotes, marked answers, the evaluation command."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from typer.testing import CliRunner

from corpus import build
from qa import Library
from qa.cli import app
from qa.eval.answers import contains_answer, load_jsonl_questions

from .conftest import shared_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """The 150 development questions over the articles they name plus 150 others and a story
    with its update (a fast build)."""
    bbc = shared_data("bbc_news", "bbc")
    questions = shared_data("bbc_news", "questions-dev.jsonl")
    root = tmp_path_factory.mktemp("bbc-dev")
    folder = root / "bbc"
    named = {json.loads(line)["file"] for line in questions.read_text().splitlines() if line.strip()} - {None}
    others = sorted(p.relative_to(bbc).as_posix() for p in bbc.glob("*/*.txt"))
    chosen = named | set(random.Random(3).sample(others, 150)) | {"business/007.txt", "business/253.txt"}  # a story and its update
    for rel in chosen:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bbc / rel, folder / rel)
    index = root / "index"
    build([folder], index)
    return questions, folder, index


def test_every_quote_of_the_dev_questions_is_exact_and_its_answer_span_inside_it(dev):
    questions_file, _, index = dev
    questions = load_jsonl_questions(questions_file)
    assert len(questions) == 150
    marked = found = answered = 0
    with Library.open(index) as lib:
        for q in questions:
            answer = lib.answerer.draft(q.text)
            for quote in answer.quotes:
                article = lib.article(quote.hit.article_id)
                assert article.text[quote.start : quote.end] == quote.text
                assert quote.hit.text[quote.start - quote.hit.start : quote.end - quote.hit.start] == quote.text
                if quote.answer is not None:
                    a, b = quote.answer
                    assert 0 <= a < b <= len(quote.text)
                    marked += 1
                    found += bool(q.answers) and contains_answer(quote.text[a:b], q.answers)
            answered += bool(answer.quotes)
    assert answered > 100
    assert marked > 60
    assert found > 25  # the marked span is the gold answer for a good share of the questions


def test_eval_qa_on_a_question_file_reports_the_figures_per_kind(dev, tmp_path):
    questions_file, folder, index = dev
    result = CliRunner().invoke(app, ["eval-qa", str(questions_file), "--index", str(index), "--json", "--details"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["answerable"], data["unanswerable"]) == (110, 40)
    assert set(data["by_kind"]) == {"keyword", "paraphrase", "unanswerable"}
    assert data["by_kind"]["unanswerable"]["answerable"] == 0
    # the floors of the whole corpus hold on this smaller one too (it has fewer distractors)
    assert data["recall@5"] >= 0.9
    assert data["answer_in_quote"] >= 0.6
    assert data["answered_rate"] >= 0.8
    assert data["abstain_rate"] >= 0.4
    assert len(data["questions"]) == 150
    item = next(q for q in data["questions"] if q["answer"])
    assert {"question", "gold", "rank", "answered", "in_quote", "quotes", "cited"} <= set(item)

    text = CliRunner().invoke(app, ["eval-qa", str(questions_file), "--sources", str(folder), "--cache", str(tmp_path / "c"), "--details", "--limit", "5"])
    assert text.exit_code == 0, text.output
    assert "d001" in text.output and "keyword" in text.output


def test_eval_qa_asks_the_answerable_questions_again_without_their_gold_article(dev):
    questions_file, _, index = dev
    args = ["eval-qa", str(questions_file), "--index", str(index), "--limit", "30", "--gold-left-out"]
    result = CliRunner().invoke(app, [*args, "--json", "--details"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    left = data["gold_left_out"]
    assert left["asked"] + left["skipped_answer_elsewhere"] == data["answerable"] > 15
    assert left["asked"] > 10 and 0 < left["abstain_rate"] <= 1
    assert [row["threshold"] for row in left["curve"]][:2] == [0.0, 0.05]
    file_of = {q.id: q.article_id for q in load_jsonl_questions(questions_file)}
    asked_again = [q for q in data["questions"] if q["kind"] == "gold left out"]
    assert len(asked_again) == left["asked"] and len(data["questions"]) == 30 + left["asked"]
    for item in asked_again:
        gold = file_of[item["id"].split("/")[0]]
        assert item["answer"] is None
        assert not any(cited.split(" ¶")[0].endswith("/" + gold) for cited in item["cited"])  # the gold article is never quoted
    assert sum(bool(item["cited"]) for item in asked_again) > 10
    # the main figures are those of the questions as asked
    plain = json.loads(CliRunner().invoke(app, [*args[:-1], "--json"]).output)
    assert {k: plain[k] for k in ("answer_in_quote", "abstain_rate")} == {k: data[k] for k in ("answer_in_quote", "abstain_rate")}
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0 and f"gold article left out: {left['asked']} questions, declined {left['abstain_rate']}" in text.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "need their corpus"),
        (["--index", "x", "--sources", "y"], "either --index or --sources"),
        (["--sources", "/nonexistent/folder"], "no such source folder"),
    ],
)
def test_eval_qa_question_file_needs_one_corpus(dev, args, message):
    questions_file, _, _ = dev
    result = CliRunner().invoke(app, ["eval-qa", str(questions_file), *args])
    assert result.exit_code == 1 and message in result.output


def test_a_broken_question_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Who?", "answer": "x"}\n')
    result = CliRunner().invoke(app, ["eval-qa", str(path), "--sources", str(tmp_path)])
    assert result.exit_code == 1 and "line 1" in result.output and "needs its file" in result.output


def test_no_two_hits_of_a_dev_question_are_the_same_text(dev):
    """BBC News repeats paragraphs word for word across files: a search shows each once."""
    import re

    questions_file, _, index = dev
    norm = lambda text: " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())  # noqa: E731
    with Library.open(index) as lib:
        for q in load_jsonl_questions(questions_file)[:100]:
            hits = lib.search(q.text, k=10)
            texts = [norm(h.text) for h in hits]
            assert len(texts) == len(set(texts)) == 10, q.text
        (hit,) = [h for h in lib.search("US firms added only 146,000 jobs in January", k=10) if "146,000" in h.text]
        assert {hit.article_id, *hit.also_in} == {"bbc/business/007.txt", "bbc/business/253.txt"}
