"""Splitting articles into paragraphs, and long paragraphs into window-sized pieces.

Offsets are kept everywhere: ``article.text[p.start:p.end] == p.text`` for every
paragraph or piece, so citations and highlights point at the exact text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .documents import Article, Paragraph

#: Counts the model's word pieces of each text (no special tokens).
TokenCounter = Callable[[Sequence[str]], list[int]]

_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the blank-line separated, non-empty blocks of ``text``."""
    spans = []
    pos = 0
    for match in _BLANK_LINES.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [s for s in (_strip_span(text, a, b) for a, b in spans) if s[0] < s[1]]


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (blingfire's rule-based splitter).

    The sentences are found in the text by position. blingfire's own offsets come
    from a Python loop over every character, which made a third of a build's
    splitting time."""
    if not text.strip():
        return []
    import blingfire

    spans = []
    pos = 0
    for sentence in blingfire.text_to_sentences(text).split("\n"):
        sentence = sentence.strip()
        if not sentence:
            continue
        start = text.find(sentence, pos)
        if start < 0:  # the splitter changed the text (it may normalise spaces): use its offsets
            return _sentence_spans_by_offsets(text)
        spans.append((start, start + len(sentence)))
        pos = start + len(sentence)
    return spans or [_strip_span(text, 0, len(text))]


def _sentence_spans_by_offsets(text: str) -> list[tuple[int, int]]:
    import blingfire

    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    spans = [_strip_span(text, a, b) for a, b in offsets]
    spans = [s for s in spans if s[0] < s[1]]
    return spans or [_strip_span(text, 0, len(text))]


def split_article(article: Article, count_tokens: TokenCounter, max_tokens: int) -> list[Paragraph]:
    """Split an article into paragraphs, cutting any longer than ``max_tokens``."""
    return split_many([article], count_tokens, [max_tokens])[0]


def split_many(articles: Sequence[Article], count_tokens: TokenCounter, budgets: Sequence[int]) -> list[list[Paragraph]]:
    """Split each article as :func:`split_article` does, with its own budget of word pieces.

    Word pieces are counted in two calls for all the articles: every paragraph,
    then every sentence of the paragraphs that are too long. A fast tokenizer
    releases the GIL for a whole call, so a build's model loads in another
    thread meanwhile; thousands of small calls would each wait for the GIL."""
    spans = [paragraph_spans(a.text) for a in articles]
    counts = iter(count_tokens([a.text[s:e] for a, article_spans in zip(articles, spans) for s, e in article_spans]))
    long: list[tuple[int, int, int, list[tuple[int, int]]]] = []  # article, paragraph, budget, sentences
    cuts: list[list[list[tuple[int, int]] | None]] = []
    for i, (article, article_spans, budget) in enumerate(zip(articles, spans, budgets)):
        cuts.append([None] * len(article_spans))
        for j, (start, end) in enumerate(article_spans):
            if next(counts) > budget:
                sentences = [(start + a, start + b) for a, b in sentence_spans(article.text[start:end])]
                long.append((i, j, budget, sentences))
    lengths = iter(count_tokens([articles[i].text[a:b] for i, _, _, sentences in long for a, b in sentences]))
    for i, j, budget, sentences in long:
        cuts[i][j] = _pack(articles[i].text, [(a, b, next(lengths)) for a, b in sentences], count_tokens, budget)
    out = []
    for article, article_spans, article_cuts in zip(articles, spans, cuts):
        paragraphs: list[Paragraph] = []
        for number, ((start, end), pieces) in enumerate(zip(article_spans, article_cuts), start=1):
            for part, (a, b) in enumerate(pieces or [(start, end)]):
                paragraphs.append(Paragraph(article.id, number, article.text[a:b], a, b, part))
        out.append(paragraphs)
    return out


def paragraph_extents(pieces: Sequence[Paragraph]) -> dict[int, tuple[int, int, int]]:
    """For each paragraph number: the index of its first piece, and the paragraph's start and end."""
    extents: dict[int, tuple[int, int, int]] = {}
    for i, p in enumerate(pieces):
        first, start, end = extents.get(p.number, (i, p.start, p.end))
        extents[p.number] = (first, min(start, p.start), max(end, p.end))
    return extents


def _pack(text: str, sentences: Sequence[tuple[int, int, int]], count_tokens: TokenCounter, max_tokens: int) -> list[tuple[int, int]]:
    """Greedily pack whole sentences ``(start, end, word pieces)`` into pieces of at most ``max_tokens``."""
    units: list[tuple[int, int, int]] = []
    for a, b, n in sentences:
        if n <= max_tokens:
            units.append((a, b, n))
        else:  # one sentence longer than the window: cut it between words
            units.extend(_cut_words(text, a, b, count_tokens, max_tokens))
    pieces: list[tuple[int, int]] = []
    cur_start, cur_end, cur_n = units[0]
    for a, b, n in units[1:]:
        # joining sentences costs at most a token or so for the gap; keep a margin
        if cur_n + n + 1 <= max_tokens:
            cur_end, cur_n = b, cur_n + n + 1
        else:
            pieces.append((cur_start, cur_end))
            cur_start, cur_end, cur_n = a, b, n
    pieces.append((cur_start, cur_end))
    return pieces


def _cut_words(text: str, start: int, end: int, count_tokens: TokenCounter, max_tokens: int) -> list[tuple[int, int, int]]:
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    word_tokens = count_tokens([text[a:b] for a, b in words])
    units = []
    i = 0
    while i < len(words):
        j, n = i, 0
        while j < len(words) and (n + word_tokens[j] <= max_tokens or j == i):
            n += word_tokens[j]
            j += 1
        units.append((words[i][0], words[j - 1][1], n))
        i = j
    return units
