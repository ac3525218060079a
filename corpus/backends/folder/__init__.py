"""The folder engine: an index is a folder of generations (see :mod:`.index` for the
layout), each holding a Whoosh keyword index (:mod:`.keyword`, written by
:mod:`.keyword_writer`), a FAISS vector index (:mod:`.vector`) and an SQLite store of
articles and paragraphs (:mod:`.store`); :mod:`.writer` builds and publishes them.
"""

from .index import CURRENT, Index, current_generation, find_indexes
from .writer import FolderBackend

#: what :mod:`corpus.backend`'s registry opens
Reader = Index
Backend = FolderBackend

__all__ = ["CURRENT", "Backend", "FolderBackend", "Index", "Reader", "current_generation", "find_indexes"]
