"""corpus: reading sources, splitting paragraphs, and building the keyword and vector indexes."""

from __future__ import annotations

import logging

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
from .backend import default_index_dir
from .index import Index
from .sources import read_sources

logging.getLogger(__name__).addHandler(logging.NullHandler())

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
