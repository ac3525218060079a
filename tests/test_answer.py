from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qa import Answer, Library, QueryError
from qa.answer import NOT_IN_CORPUS, Answerer, md_escape, resolve_followup
from qa.cli import app

from .conftest import shared_data

MOSUL = "What happened to the rebellion in Mosul?"


def _check_verbatim(lib: Library, answer: Answer) -> None:
    for quote in answer.quotes:
        article = lib.article(quote.hit.article_id)
        assert article.text[quote.start : quote.end] == quote.text
        assert quote.text in quote.hit.text
        source = answer.sources[quote.citation - 1]
        assert (source.number, source.article_id, source.paragraph) == (quote.citation, quote.hit.article_id, quote.hit.paragraph)


def test_how_many_executed_quotes_the_58(seed_lib):
    answer = seed_lib.ask("How many people did ISIS execute?")
    assert answer.answered
    assert "58" in answer.quotes[0].text
    assert answer.sources[0].paragraph == 2
    assert "[1]" in answer.text and "58" in answer.text
    _check_verbatim(seed_lib, answer)


@pytest.mark.parametrize(
    ("question", "paragraphs"),
    [
        ("How many people did ISIS execute?", {2}),
        ("Who led the rebellion?", {3, 4}),
        ("Where were the weapons stored?", {5}),
        ("What did Abadi say in his radio broadcast?", {8, 9}),
        ("How did they find out about the plot?", {5}),
    ],
)
def test_the_chats_examples_are_answered_from_the_right_paragraph(seed_lib, question, paragraphs):
    answer = seed_lib.ask(question)
    assert answer.answered, answer.text
    assert answer.quotes[0].hit.paragraph in paragraphs, [(q.hit.paragraph, q.text) for q in answer.quotes]
    _check_verbatim(seed_lib, answer)


def test_chat_examples_are_the_ones_tested(seed_lib):
    from qa.examples import SEED_EXAMPLES, example_questions

    assert set(SEED_EXAMPLES) <= {
        "How many people did ISIS execute?",
        "Who led the rebellion?",
        "Where were the weapons stored?",
        "What did Abadi say in his radio broadcast?",
    }
    assert example_questions(seed_lib) == list(SEED_EXAMPLES)


def test_the_answer_span_is_marked_inside_the_quote(seed_lib):
    answer = seed_lib.ask("How many people did ISIS execute?")
    quote = answer.quotes[0]
    assert quote.answer is not None and quote.answer_text == "58"
    assert "**58**" in answer.text


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Who won the 2018 World Cup?",
        "When did Real Madrid win the 2005 cup final?",
        # no word of it is in the article (the models, trained on questions that always share
        # some, gave it 0.73 on the seed alone)
        "How many visitors were expected at the harbour festival?",
    ],
)
def test_off_topic_questions_are_declined_with_closest_passages(seed_lib, question):
    answer = seed_lib.ask(question)
    assert not answer.answered
    assert answer.text.startswith(NOT_IN_CORPUS)
    assert not answer.quotes
    assert answer.closest and "Closest passages" in answer.text


def test_an_ordinal_the_article_does_not_hold_is_a_decline(seed_lib):
    """The article tells of one rebellion: a question about a second one is about something
    it does not report, however well its other words match."""
    answer = seed_lib.ask("How many people did ISIS execute after the second rebellion in Mosul?")
    assert not answer.answered and not answer.quotes
    assert "the passages do not mention “second”" in answer.notices
    assert seed_lib.ask("How many people did ISIS execute after the rebellion in Mosul?").answered


@pytest.mark.parametrize(
    ("question", "notice"),
    [
        ("How much did ISIS pay for the weapons stored in Mosul?", "the passages mention no sum of money"),
        ("What percentage of Mosul's residents will need assistance?", "the passages mention no percentage"),
    ],
)
def test_a_sum_or_a_share_the_passages_do_not_hold_is_a_decline(seed_lib, question, notice):
    """The article gives counts (58 executed, 700,000 needing help) but no sum of money and
    no percentage: the counts are not what these questions ask for."""
    answer = seed_lib.ask(question)
    assert not answer.answered and not answer.quotes
    assert notice in answer.notices


def test_follow_up_resolves_against_the_conversation(seed_lib):
    first = seed_lib.ask(MOSUL)
    history = [{"role": "user", "content": MOSUL}, {"role": "assistant", "content": first.text}]
    answer = seed_lib.ask("Who led it?", history=history)
    assert answer.answered
    assert answer.query.startswith(MOSUL)
    assert any("key aide" in q.text for q in answer.quotes)
    assert 4 in {s.paragraph for s in answer.sources}
    _check_verbatim(seed_lib, answer)
    # pairs, as older chat components give them, work too
    pairs = seed_lib.ask("Who led it?", history=[(MOSUL, first.text)])
    assert 4 in {s.paragraph for s in pairs.sources}


def test_resolve_followup():
    history = [{"role": "user", "content": MOSUL}, {"role": "assistant", "content": "…"}]
    assert resolve_followup("Who led it?", history) == f"{MOSUL} Who led it?"
    assert resolve_followup("and when?", history) == f"{MOSUL} and when?"
    assert resolve_followup("How many residents need help in Mosul?", history) == "How many residents need help in Mosul?"
    assert resolve_followup("Who led it?", []) == "Who led it?"


def test_quotes_are_distinct_few_and_cited_in_order(seed_lib):
    for question in ["Who was the commander?", "Where were the weapons stored?", "What did Abadi say in his radio broadcast?", MOSUL]:
        answer = seed_lib.answerer.draft(question)  # the quotes, whether or not the threshold lets them through
        assert 1 <= len(answer.quotes) <= 3
        texts = [" ".join(q.text.split()).lower() for q in answer.quotes]
        assert len(set(texts)) == len(texts)
        assert [s.number for s in answer.sources] == list(range(1, len(answer.sources) + 1))
        _check_verbatim(seed_lib, answer)


def _one_article_library(tmp_path, name: str, text: str) -> Library:
    """A library built over one article (``name``, ``text``) in ``tmp_path``."""
    from corpus import build

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / name).write_text(text)
    build([docs], tmp_path / "index")
    return Library.open(tmp_path / "index")


def test_adjacent_sentences_of_a_paragraph_merge_into_one_quote(tmp_path):
    text = (
        "Bees of the valley\n\n"
        "The valley's honey bees collect nectar from clover fields. The valley's honey bees collect nectar from lavender fields. "
        "Farmers sell wool at the market.\n\nThe weather was cold in March.\n"
    )
    with _one_article_library(tmp_path, "bees.txt", text) as lib:
        answer = lib.ask("What do the valley's honey bees collect nectar from?")
        assert answer.answered
        assert answer.quotes[0].text.startswith("The valley's honey bees collect nectar from clover fields. The valley's")
        assert "lavender fields." in answer.quotes[0].text
        _check_verbatim(lib, answer)


def test_the_paragraph_after_the_best_passage_is_read_too(tmp_path):
    text = (
        "Ferry strike ends\n\n"
        "The harbour ferry strike ended on Tuesday after nine days.\n\n"
        "Talks were led by the dockers' negotiator Mary Flett, who met the owners twice.\n\n"
        "Timetables return to normal next week.\n"
    )
    with _one_article_library(tmp_path, "ferry.txt", text) as lib:
        question = "When did the harbour ferry strike end?"
        plain = Answerer(lib, read_on=False).retrieve(question, k=1)
        assert [h.paragraph for h in plain.passages] == [1]
        read_on = lib.answerer.retrieve(question, k=1)
        assert [h.paragraph for h in read_on.passages] == [1, 2]
        assert read_on.prior == [1.0, 0.0]  # read on, not ranked
        last = lib.answerer.retrieve("When do timetables return to normal?", k=1)
        assert [h.paragraph for h in last.passages] == [3]  # nothing comes after the last paragraph
        article = read_on.passages[0].article_id
        assert len(lib.article_hits(article, collection=lib.name)) == 3
        assert lib.article_hits(article, collection="elsewhere") == []


@pytest.mark.parametrize("question", ["?!.", "…", "Какова столица Франции?", "東京の人口は?", "x" * 100_000, "Mosul " * 20_000])
def test_odd_questions_get_an_answer_or_a_decline(seed_lib, question):
    answer = seed_lib.ask(question)
    assert isinstance(answer.answered, bool)
    if not answer.answered:
        assert answer.text.startswith(NOT_IN_CORPUS)
    json.dumps(answer.to_dict())


@pytest.mark.parametrize("question", ["", "   ", "\x00"])
def test_empty_question_is_a_query_error(seed_lib, question):
    with pytest.raises(QueryError):
        seed_lib.ask(question)


@pytest.mark.parametrize("history", [5, True, "Who led it?", {"role": "user", "content": "Mosul"}, object()])
def test_a_history_that_is_not_a_list_is_a_query_error(seed_lib, history):
    with pytest.raises(QueryError, match="history must be a list"):
        seed_lib.ask("Who led it?", history)


def test_history_turns_are_cleaned_like_questions(seed_lib):
    """A follow-up is searched with the previous question: its odd characters and length are bounded too."""
    history = [{"role": "user", "content": "What happened to the rebellion in Mosul? \ud800\x00" + " Mosul" * 20_000}, {"role": "assistant", "content": "…"}]
    answer = seed_lib.ask("Who led it?", history)
    assert isinstance(answer.answered, bool) and "\ud800" not in answer.query and len(answer.query) <= 4000


def test_markdown_of_corpus_text_is_inert():
    hostile = 'Click <a href="javascript:alert(1)">here</a> <img src=x onerror=alert(1)> *bold* [x](javascript:y) `code`'
    escaped = md_escape(hostile)
    assert "<" not in escaped and ">" not in escaped
    assert "\\[x\\]" in escaped and "\\*bold\\*" in escaped and "\\`code\\`" in escaped


def test_ask_cli_json_and_history(seed_index):
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "How many people did ISIS execute?", "--json", "--index", str(seed_index)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answered"] and data["quotes"][0]["start"] < data["quotes"][0]["end"]
    assert data["quotes"][0]["answer_text"] == "58"
    a, b = data["quotes"][0]["answer"]
    assert data["quotes"][0]["text"][a:b] == "58"
    assert {"title", "paragraph", "source", "number"} <= set(data["sources"][0])

    result = runner.invoke(app, ["ask", "Who led it?", "--history", MOSUL, "--index", str(seed_index)])
    assert result.exit_code == 0 and "key aide" in result.output and "paragraph 4" in result.output

    result = runner.invoke(app, ["ask", "Who won the 2018 World Cup?", "--index", str(seed_index)])
    assert result.exit_code == 0 and "does not answer" in result.output and "Closest passages" in result.output

    result = runner.invoke(app, ["ask", "", "--index", str(seed_index)])
    assert result.exit_code == 1 and result.output.strip() == "error: the query is empty"


def test_verbatim_over_many_squad_questions(tmp_path):
    """Every quote of 150 real questions is an exact substring at its recorded offsets."""
    from corpus import build

    squad = json.loads(shared_data("squad", "cs224n-dev-v2.0.json").read_text())
    docs, questions = [], []
    for article in squad["data"][:2]:
        for i, paragraph in enumerate(article["paragraphs"][:12]):
            docs.append({"_id": f"{article['title']}-{i}", "title": article["title"].replace("_", " "), "text": paragraph["context"]})
            questions += [qa["question"] for qa in paragraph["qas"][:3]]
    (tmp_path / "squad.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    build([tmp_path / "squad.jsonl"], tmp_path / "index")
    with Library.open(tmp_path / "index") as lib:
        answered = 0
        for question in questions[:150]:
            answer = lib.ask(question)
            answered += answer.answered
            _check_verbatim(lib, answer)
        assert answered > 50


def test_eval_qa_reports_the_figures_and_the_curve(tmp_path):
    squad = json.loads(shared_data("squad", "cs224n-dev-v2.0.json").read_text())
    small = {"version": squad.get("version"), "data": [{**a, "paragraphs": a["paragraphs"][:10]} for a in squad["data"][:2]]}
    path = tmp_path / "small-squad.json"
    path.write_text(json.dumps(small))
    result = CliRunner().invoke(app, ["eval-qa", str(path), "--json", "--calibrate", "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("recall@1", "recall@5", "answer_in_quote", "mean_quote_words", "answered_rate", "abstain_rate"):
        assert 0 <= data[key] <= (1 if key != "mean_quote_words" else 200), key
    assert data["answerable"] > 20 and data["unanswerable"] > 20
    assert data["recall@5"] >= 0.9 and data["answer_in_quote"] >= 0.5
    rates = [row["answered_rate"] for row in data["curve"]]
    assert rates == sorted(rates, reverse=True)  # a higher threshold never answers more
    assert data["at_calibrated_threshold"]["answered_rate"] >= 0.9


def test_eval_qa_rejects_a_file_that_is_not_squad(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"nothing": 1}')
    result = CliRunner().invoke(app, ["eval-qa", str(path)])
    assert result.exit_code == 1 and "not a SQuAD-format file" in result.output


@pytest.mark.parametrize(
    "text, question, bold",
    [
        (
            "Viking sword found by detectorist\n\nA Viking sword that was forged in about 950 AD was found in June by a metal detectorist "
            "in a field near York, the museum said.\n",
            "When was the Viking sword forged?",
            "950 AD",
        ),
        (
            "Gardener wins indoor title\n\nJason Gardener won the 60m title in Birmingham this season with a time of 6.51 seconds, "
            "the fastest by a British sprinter indoors.\n",
            "What was Jason Gardener's winning time in Birmingham?",
            "6.51 seconds",
        ),
        (
            "Station opens in Dunmore\n\nThe new railway station in Dunmore opened on Monday. The station cost 2.4m pounds, "
            "paid for by the council and a government grant.\n",
            "How much did the station cost?",
            "2.4m pounds",
        ),
        (
            "Airline results\n\nThe airline said its deal with the bank was worth $3.36bn, the largest in its history.\n",
            "How much was the airline's deal with the bank worth?",
            "$3.36bn",
        ),
    ],
)
def test_the_bold_span_is_the_precise_answer_with_its_unit(tmp_path, text, question, bold):
    with _one_article_library(tmp_path, "story.txt", text) as lib:
        answer = lib.ask(question)
    assert answer.answered, answer.text
    assert answer.quotes[0].answer_text is not None and bold in answer.quotes[0].answer_text, answer.quotes[0].answer_text
