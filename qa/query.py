"""User text made fit to search: control characters out, spaces folded, length bounded."""

from __future__ import annotations

import re
import unicodedata

from corpus.errors import QueryError

#: Longer queries are cut here (the embedder reads 256 word pieces, the keyword side 64 words).
MAX_QUERY_CHARS = 4000
# control characters, and lone surrogates (no encoding can write them)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_query(query: object) -> tuple[str, list[str]]:
    """Normalise user text for searching; raise :class:`QueryError` if nothing is left."""
    if not isinstance(query, str):
        raise QueryError(f"a query must be text, not {type(query).__name__}")
    notices = []
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", query))
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        cut = text.rfind(" ", 0, MAX_QUERY_CHARS)
        text = text[: cut if cut > 0 else MAX_QUERY_CHARS]
        notices.append(f"the query was cut to its first {len(text):,} characters")
    if not text:
        raise QueryError("the query is empty")
    return text, notices
