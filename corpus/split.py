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
    text = article.text
    spans = paragraph_spans(text)
    counts = count_tokens([text[a:b] for a, b in spans]) if spans else []
    out: list[Paragraph] = []
    for number, ((start, end), n_tokens) in enumerate(zip(spans, counts), start=1):
        if n_tokens <= max_tokens:
            pieces = [(start, end)]
        else:
            pieces = _pack(text, start, end, count_tokens, max_tokens)
        for part, (a, b) in enumerate(pieces):
            out.append(Paragraph(article.id, number, text[a:b], a, b, part))
    return out


def paragraph_extents(pieces: Sequence[Paragraph]) -> dict[int, tuple[int, int, int]]:
    """For each paragraph number: the index of its first piece, and the paragraph's start and end."""
    extents: dict[int, tuple[int, int, int]] = {}
    for i, p in enumerate(pieces):
        first, start, end = extents.get(p.number, (i, p.start, p.end))
        extents[p.number] = (first, min(start, p.start), max(end, p.end))
    return extents


def _pack(text: str, start: int, end: int, count_tokens: TokenCounter, max_tokens: int) -> list[tuple[int, int]]:
    """Greedily pack whole sentences into pieces of at most ``max_tokens``."""
    sentences = [(start + a, start + b) for a, b in sentence_spans(text[start:end])]
    lengths = count_tokens([text[a:b] for a, b in sentences])
    units: list[tuple[int, int, int]] = []
    for (a, b), n in zip(sentences, lengths):
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
