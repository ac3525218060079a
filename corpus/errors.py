"""Typed errors. Every error a user can cause is a :class:`CorpusError`."""

from __future__ import annotations


class CorpusError(Exception):
    """Base class of the errors a user can cause and fix."""


class IndexNotFoundError(CorpusError):
    """No index exists at the given folder."""


class IndexCorruptError(CorpusError):
    """The index folder exists but cannot be read or is inconsistent."""


class ModelMismatchError(CorpusError):
    """The index was built with another embedding model (or the model is missing)."""


class SourceError(CorpusError):
    """A source path does not exist or holds nothing that can be indexed."""


class QueryError(CorpusError):
    """The query cannot be searched at all (for instance, it is empty)."""


class CollectionNotFoundError(QueryError):
    """A collection was asked for by a name that no open collection has."""


class BuildLockedError(CorpusError):
    """Another build is writing to the same index folder."""


class SettingMismatchError(CorpusError):
    """A build asked to change a setting that is fixed when an index is created."""
