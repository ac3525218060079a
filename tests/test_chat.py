from __future__ import annotations

from qa.answer import NOT_IN_CORPUS
from qa.chat import EMPTY_QUESTION, render, respond

MOSUL = "What happened to the rebellion in Mosul?"


def test_streams_the_passages_then_the_answer(seed_lib):
    replies = list(respond(seed_lib, "How many people did ISIS execute?", []))
    assert len(replies) == 2
    first, last = replies
    assert not first.final and first.answer is None and first.passages
    assert "Reading" in first.markdown and "paragraph 2" in first.markdown
    assert last.final and last.answer.answered
    assert "**58** people" in last.markdown and "[1]" in last.markdown and "**Sources**" in last.markdown


def test_citations_link_where_the_ui_says(seed_lib):
    link = lambda source: f"/article?id={source.article_id}#p{source.paragraph}"  # noqa: E731
    last = list(respond(seed_lib, "How many people did ISIS execute?", [], link=link))[-1]
    assert "(/article?id=seeds/" in last.markdown and "#p2)" in last.markdown


def test_a_decline_is_shown_distinctly(seed_lib):
    last = list(respond(seed_lib, "Who won the 2018 World Cup?", []))[-1]
    assert not last.answer.answered
    assert last.markdown.startswith(f"**{NOT_IN_CORPUS}**")
    assert "**Closest passages**" in last.markdown and "**Sources**" not in last.markdown


def test_a_decline_says_why_when_the_answerer_knows(seed_lib):
    last = list(respond(seed_lib, "How much did ISIS pay for the weapons stored in Mosul?", []))[-1]
    assert not last.answer.answered
    assert last.markdown.startswith(f"**{NOT_IN_CORPUS}**\n\n*Note: the passages mention no sum of money.*\n\n")
    assert "*Note:" not in list(respond(seed_lib, "How many people did ISIS execute?", []))[-1].markdown


def test_follow_up_through_the_chat_history(seed_lib):
    first = list(respond(seed_lib, MOSUL, []))[-1]
    history = [{"role": "user", "content": MOSUL}, {"role": "assistant", "content": first.markdown}]
    last = list(respond(seed_lib, "Who led it?", history))[-1]
    assert 4 in {s.paragraph for s in last.answer.sources}
    # the quote of the first answer is not repeated
    assert first.answer.quotes[0].text not in {q.text for q in last.answer.quotes}


def test_empty_or_odd_messages_never_raise(seed_lib):
    assert [r.markdown for r in respond(seed_lib, "   ", [])] == [EMPTY_QUESTION]
    for message in ["<script>alert(1)</script>", "?!", "x" * 100_000]:
        replies = list(respond(seed_lib, message, [{"role": "user", "content": [{"file": "x.png"}]}]))
        assert replies[-1].final
        assert "<script>" not in replies[-1].markdown


def test_render_escapes_titles(seed_lib):
    answer = seed_lib.ask("How many people did ISIS execute?")
    hostile = type(answer.sources[0])(1, "<img src=x onerror=alert(1)> *title*", 2, "s", "a", "a#2")
    answer.sources = [hostile]
    text = render(answer)
    assert "<img" not in text and "&lt;img" in text and "\\*title\\*" in text
