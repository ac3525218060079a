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


def _as_the_page_sends(history: list[dict]) -> list[dict]:
    """A history as Gradio's Chatbot hands it to a handler: shown on the page, then sent back."""
    import gradio as gr

    chatbot = gr.Chatbot()
    return chatbot.preprocess(chatbot.postprocess(history))


def test_the_handler_reads_the_history_as_the_real_chatbot_sends_it(seed_lib):
    history: list[dict] = []
    expected = [("Who led the rebellion?", "spearheaded", 3), ("When did that happen?", "days before", 2), ("How did they find out about it?", "discovering a message", 5)]
    for question, words, paragraph in expected:
        sent = _as_the_page_sends(history)
        assert all(isinstance(m["content"], list) for m in sent)  # lists of parts, not strings
        last = list(respond(seed_lib, question, sent))[-1]
        assert last.answer.answered and words in last.answer.quotes[0].text, (question, last.markdown)
        assert last.answer.sources[0].paragraph == paragraph
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": last.markdown}]


def test_files_in_the_history_are_left_out(seed_lib, tmp_path):
    from qa.answer import conversation_turns

    picture = tmp_path / "map.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    history = [
        {"role": "user", "content": "Who led the rebellion?"},
        {"role": "user", "content": [{"type": "file", "file": {"path": str(picture)}}]},
        {"role": "user", "content": [{"type": "text", "text": "and a caption"}, {"type": "file", "file": {"path": str(picture)}}]},
        ("a pair", (str(picture), "alt")),
    ]
    assert conversation_turns(history) == [
        {"role": "user", "content": "Who led the rebellion?"},
        {"role": "user", "content": "and a caption"},
        {"role": "user", "content": "a pair"},
    ]
    sent = _as_the_page_sends([{"role": "user", "content": "Who led the rebellion?"}, {"role": "user", "content": {"path": str(picture)}}])
    assert conversation_turns(sent) == [{"role": "user", "content": "Who led the rebellion?"}]
