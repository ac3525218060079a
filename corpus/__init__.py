"""corpus: reading sources, splitting paragraphs, and building the keyword and vector indexes."""

from __future__ import annotations

import logging

from .threads import share_cores

share_cores()  # before PyTorch or FAISS start their OpenMP threads

from .backend import default_index_dir
from .build import BuildReport, build
from .documents import Article, Paragraph, Skipped
from .errors import (
    BuildLockedError,
    CorpusError,
    IndexCorruptError,
    IndexNotFoundError,
    ModelMismatchError,
    QueryError,
    SettingMismatchError,
    SourceError,
)
from .sources import read_sources

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    if name == "Index":  # the folder engine's reader, imported when asked for (it loads Whoosh and FAISS)
        from .backends.folder import Index

        return Index
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Article",
    "BuildLockedError",
    "BuildReport",
    "CorpusError",
    "Index",
    "IndexCorruptError",
    "IndexNotFoundError",
    "ModelMismatchError",
    "Paragraph",
    "QueryError",
    "SettingMismatchError",
    "Skipped",
    "SourceError",
    "build",
    "default_index_dir",
    "read_sources",
]
