"""Embedding inputs: articles split into pieces that fit the model's window, each piece
prefixed with its article's title cut short."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .documents import Article, Paragraph
from .embed import Tokenizer
from .split import split_many

#: Called as ``progress(stage, done, total)``; ``total`` is None while unknown.
Progress = Callable[[str, int, "int | None"], None]

#: At most this many word pieces of the title are prefixed to each paragraph's embedding input.
TITLE_TOKENS = 32
#: Word pieces of one embedding input (title + piece of paragraph), capped at the model's window.
#: all-MiniLM-L6-v2 was fine-tuned on inputs of at most 128 word pieces, and embeds them best:
#: on SciFact train, vector nDCG@10 was 0.680 with 256, 0.693 with 128, 0.696 with 96 (which
#: makes 3.2x as many pieces as 256 and builds 1.7x slower than 128), hybrid 0.734 / 0.742 / 0.742.
DEFAULT_PIECE_TOKENS = 128
#: Articles split per batch of tokenizer calls.
SPLIT_CHUNK = 1024


def embed_input(title: str, text: str) -> str:
    """What the embedder sees for a paragraph: its (shortened) title, then its text."""
    return f"{title}\n{text}" if title else text


def split_articles(
    articles: Sequence[Article], tokenizer: Tokenizer, progress: Progress, piece_tokens: int = DEFAULT_PIECE_TOKENS
) -> list[tuple[Article, str, list[Paragraph]]]:
    """Each article with its shortened title and its pieces, as a build splits them.

    Articles go to the splitter in chunks, so that the tokenizer counts many texts per call."""
    max_tokens = min(piece_tokens, tokenizer.max_tokens) - 2  # [CLS] and [SEP]
    out = []
    for lo in range(0, len(articles), SPLIT_CHUNK):
        chunk = articles[lo : lo + SPLIT_CHUNK]
        titles = shorten_titles([a.title for a in chunk], tokenizer)
        budgets = [max(24, max_tokens - (n + 1 if title else 0)) for title, n in titles]
        for article, (title, _), pieces in zip(chunk, titles, split_many(chunk, tokenizer.count_tokens, budgets)):
            out.append((article, title, pieces))
        progress("split", lo + len(chunk), len(articles))
    return out


def shorten_titles(titles: Sequence[str], tokenizer: Tokenizer) -> list[tuple[str, int]]:
    """Each title cut to at most TITLE_TOKENS word pieces, and its word pieces."""
    joined = [" ".join(t.split()) for t in titles]
    out = []
    for title, n in zip(joined, tokenizer.count_tokens(joined)):
        words = title.split()
        while words and n > TITLE_TOKENS:
            words = words[: max(1, len(words) * 3 // 4)] if len(words) > 1 else []
            n = tokenizer.count_tokens([" ".join(words)])[0] if words else 0
        out.append((" ".join(words), n) if words else ("", 0))
    return out
