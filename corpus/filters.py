"""Filters on what a search may return: by source, by date, by metadata.

A :class:`Where` is data, never query syntax: patterns and values are compared
as they are. Backends turn it into the set of articles it admits and apply that
set inside each side's search, before the top-k cut, so a filtered search
returns ``k`` hits whenever ``k`` matching paragraphs exist.

- ``source``: glob patterns (``*``, ``?``, ``[…]``) on the source as the user
  named it (``bbc/sport/001.txt``); a pattern matches the whole source or any
  tail of it that starts at a folder, so ``sport/*`` selects ``bbc/sport/…``; a
  pattern ending in ``/`` is a folder (``sport/`` is ``sport/*``). Several
  patterns: any may match.
- ``since`` / ``until``: ISO dates (``2005``, ``2005-03``, ``2005-03-31``),
  inclusive, compared with an article's ``date`` (from ``.jsonl`` records or
  HTML metadata). An article without a date is left out by a date filter.
- ``meta``: ``key=value`` pairs that must all equal the record's ``metadata``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .errors import QueryError

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MAX_PATTERNS = 32
MAX_VALUE_CHARS = 500


@dataclass(frozen=True)
class Where:
    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    meta: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, value: Where | Mapping[str, Any] | Sequence[str] | str | None) -> Where | None:
        """A filter from what a caller gives: a :class:`Where`, a mapping (``{"source": "sport/*",
        "since": "2005-01", "section": "sport"}``), ``key=value`` clauses, or None.
        Raises :class:`QueryError` for a malformed one."""
        if value is None or isinstance(value, Where):
            return value if value is None or not value.empty else None
        if isinstance(value, str):
            value = [value]
        if isinstance(value, Mapping):
            pairs = list(value.items())
        elif isinstance(value, Sequence):
            pairs = [_clause(c) for c in value]
        else:
            raise QueryError(f"a filter is a mapping or key=value clauses, not {type(value).__name__}")
        sources: list[str] = []
        since = until = None
        meta: list[tuple[str, str]] = []
        for key, raw in pairs:
            if not isinstance(key, str):
                raise QueryError(f"a filter key must be text, not {type(key).__name__}")
            values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
            for v in values:
                if not isinstance(v, str) or not v.strip() or len(v) > MAX_VALUE_CHARS or "\x00" in v:
                    raise QueryError(f"the filter {key}= needs a value of text (at most {MAX_VALUE_CHARS} characters)")
            if key == "source":
                sources += [v.strip() for v in values]
            elif key in ("since", "until"):
                if len(values) != 1:
                    raise QueryError(f"the filter {key}= takes one date")
                date = _date(values[0].strip(), key)
                since, until = (date, until) if key == "since" else (since, date)
            elif _KEY.match(key):
                meta += [(key, v) for v in values]
            else:
                raise QueryError(f"not a filter key: {key!r} (source, since, until, or a metadata key of letters, digits, _ . -)")
        if len(sources) > MAX_PATTERNS:
            raise QueryError(f"at most {MAX_PATTERNS} source patterns")
        if since and until and _bound(since, low=True) > _bound(until, low=False):
            raise QueryError(f"since {since} is after until {until}")
        where = cls(tuple(sources), since, until, tuple(meta))
        return None if where.empty else where

    @property
    def empty(self) -> bool:
        return not (self.sources or self.since or self.until or self.meta)

    @property
    def dated(self) -> bool:
        return bool(self.since or self.until)

    def admits(self, source: str, date: str | None, meta: Mapping[str, Any] | None) -> bool:
        """Whether an article with this source, date and metadata passes."""
        if self.sources and not any(_source_matches(source, p) for p in self.sources):
            return False
        if self.dated:
            day = article_day(date)
            if day is None:
                return False
            if self.since and day < _bound(self.since, low=True):
                return False
            if self.until and day > _bound(self.until, low=False):
                return False
        for key, value in self.meta:
            if str((meta or {}).get(key, "")) != value:
                return False
        return True

    def select(self, facets: Iterable[tuple[str, str, str | None, Mapping[str, Any] | None]]) -> tuple[frozenset[str], int]:
        """The ids of the articles admitted among ``(id, source, date, metadata)`` rows, and how
        many of the others were left out only for having no date (a notice says so)."""
        undated_pass = replace(self, since=None, until=None) if self.dated else None
        admitted, undated = [], 0
        for article_id, source, date, meta in facets:
            if self.admits(source, date, meta):
                admitted.append(article_id)
            elif undated_pass is not None and article_day(date) is None and undated_pass.admits(source, date, meta):
                undated += 1
        return frozenset(admitted), undated

    def describe(self) -> str:
        parts = [f"source={p}" for p in self.sources]
        parts += [f"since {self.since}"] if self.since else []
        parts += [f"until {self.until}"] if self.until else []
        parts += [f"{k}={v}" for k, v in self.meta]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"source": list(self.sources), "since": self.since, "until": self.until, "meta": dict(self.meta)}


def _clause(clause: object) -> tuple[str, str]:
    if not isinstance(clause, str) or "=" not in clause:
        raise QueryError(f"a filter is key=value (source=sport/*, section=sport), not {str(clause)[:60]!r}")
    key, _, value = clause.partition("=")
    return key.strip(), value


def _date(text: str, key: str) -> str:
    m = _DATE.match(text)
    if not m or (m.group(2) and not 1 <= int(m.group(2)) <= 12) or (m.group(3) and not 1 <= int(m.group(3)) <= 31):
        raise QueryError(f"{key} wants a date as YYYY, YYYY-MM or YYYY-MM-DD, not {text[:40]!r}")
    return text


def _bound(date: str, *, low: bool) -> str:
    """A YYYY[-MM[-DD]] date as the first (``low``) or last day it covers, YYYY-MM-DD."""
    parts = date.split("-")
    month = parts[1] if len(parts) > 1 else ("01" if low else "12")
    day = parts[2] if len(parts) > 2 else ("01" if low else "31")
    return f"{parts[0]}-{month}-{day}"


def day_bounds(since: str | None, until: str | None) -> tuple[int, int]:
    """The first and last day (as YYYYMMDD numbers) a ``since``/``until`` pair admits: a
    missing end is open (from day 1, through 9999-12-31; 0 stands for no date)."""
    low = day_number(_bound(since, low=True)) if since else 1
    high = day_number(_bound(until, low=False)) if until else 99991231
    return low, high


def day_number(day: str) -> int:
    """A YYYY-MM-DD day as the number YYYYMMDD, which orders as the days do."""
    return int(day.replace("-", ""))


def article_day(date: str | None) -> str | None:
    """The YYYY-MM-DD an article's date starts with (ISO forms: a date or a timestamp)."""
    if not date:
        return None
    m = re.match(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", date.strip())
    if not m:
        return None
    return _bound("-".join(g for g in m.groups() if g), low=True)


def _source_matches(source: str, pattern: str) -> bool:
    if pattern.endswith("/"):
        pattern += "*"
    parts = source.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern) for i in range(len(parts)))
