from __future__ import annotations

from corpus import Article
from corpus.split import paragraph_spans, sentence_spans, split_article, split_many


def test_paragraph_spans_keep_offsets():
    text = "  First para\nline two.\n\n\n Second.  \n \t\nThird"
    spans = paragraph_spans(text)
    assert [text[a:b] for a, b in spans] == ["First para\nline two.", "Second.", "Third"]


def test_sentence_spans_on_news_text():
    text = 'The U.S.-led coalition struck. "We will win," he said. It ended.'
    assert [text[a:b] for a, b in sentence_spans(text)] == ['The U.S.-led coalition struck.', '"We will win," he said.', "It ended."]


def test_long_paragraphs_are_cut_at_sentences_within_the_window(embedder):
    sentence = "The committee discussed the budget for the new library building in great detail. "
    long_para = (sentence * 40).strip()
    text = f"Short opening paragraph.\n\n{long_para}\n\nClosing words."
    article = Article(id="a", title="T", text=text, source="mem")
    paragraphs = split_article(article, embedder.count_tokens, max_tokens=100)
    assert [p.number for p in paragraphs][0] == 1 and paragraphs[-1].number == 3
    middle = [p for p in paragraphs if p.number == 2]
    assert len(middle) > 3
    assert [p.part for p in middle] == list(range(len(middle)))
    for p in paragraphs:
        assert text[p.start : p.end] == p.text
        assert embedder.count_tokens([p.text])[0] <= 100
    assert all(p.text.endswith("detail.") for p in middle)
    assert middle[1].id == "a#2.1" and paragraphs[0].id == "a#1"


def test_a_sentence_longer_than_the_window_is_cut_between_words(embedder):
    words = " ".join(f"word{i}" for i in range(600))
    article = Article(id="a", title="T", text=words, source="mem")
    pieces = split_article(article, embedder.count_tokens, max_tokens=50)
    assert len(pieces) > 5
    assert " ".join(p.text for p in pieces) == words
    assert all(embedder.count_tokens([p.text])[0] <= 50 for p in pieces)


def test_many_articles_split_as_each_alone(embedder):
    sentence = "Rain fell on the old stone bridge over the river for many hours. "
    articles = [
        Article(id=f"a{i}", title="T", text=f"Opening {i}.\n\n{(sentence * (i * 6)).strip()}\n\nEnd {i}.", source="mem")
        for i in range(4)
    ]
    budgets = [40, 60, 80, 100]
    together = split_many(articles, embedder.count_tokens, budgets)
    assert together == [split_article(a, embedder.count_tokens, b) for a, b in zip(articles, budgets)]
    assert len(together[3]) > len(together[0])


def test_word_pieces_are_counted_as_the_models_own_tokenizer_counts(embedder):
    from corpus.embed import load_tokenizer

    texts = ["", "Plain words.", "naïve café ﬁnance Ελληνικά 日本語 e\u0301 \u00a0 tabs\tand\nlines", "x" * 3000, "ISIS's 58 men, drowned."]
    hf = embedder._words.hf  # the transformers tokenizer the model encodes with
    expected = [len(ids) for ids in hf(texts, add_special_tokens=False)["input_ids"]]
    assert load_tokenizer().count_tokens(texts) == expected
    assert embedder.count_tokens(texts) == expected
