"""qa: hybrid retrieval over a corpus index, and the library facade.

    from qa import Library
    lib = Library.open("indexes/default")
    hits = lib.search("rebellion in Mosul", k=10, mode="hybrid")
"""

from __future__ import annotations

import logging

from corpus.errors import (
    CorpusError,
    IndexCorruptError,
    IndexNotFoundError,
    ModelMismatchError,
    QueryError,
)

from .answer import Answer, Quote, Source
from .collections import Collections
from .hits import Hit, Hits
from .library import Library

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Answer",
    "Collections",
    "CorpusError",
    "Hit",
    "Hits",
    "IndexCorruptError",
    "IndexNotFoundError",
    "Library",
    "ModelMismatchError",
    "QueryError",
    "Quote",
    "Source",
]
