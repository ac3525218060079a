"""The paragraph store: articles, paragraphs and their pieces in SQLite, by stable id.

Each row of ``pieces`` is one window-sized piece of a paragraph (most
paragraphs are a single piece); its integer ``pid`` is its id in the vector
index, and ``AUTOINCREMENT`` guarantees a deleted pid is never handed out
again. A paragraph is named by the pid of its first piece, its ``head``: that
is its id in the keyword index and in fused rankings. Text is not stored
twice: a piece or paragraph is the article's text between its offsets.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ... import nearcopies
from ...documents import Article, Paragraph, ParagraphRecord, duplicate_key, page_at
from ...errors import IndexCorruptError
from ...split import paragraph_extents

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    date TEXT,
    url TEXT,
    meta TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pieces (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    head INTEGER NOT NULL,
    article_id TEXT NOT NULL REFERENCES articles(id),
    number INTEGER NOT NULL,
    part INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    pstart INTEGER NOT NULL,
    pend INTEGER NOT NULL,
    ekey TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pieces_article ON pieces(article_id);
CREATE INDEX IF NOT EXISTS pieces_ekey ON pieces(ekey);
CREATE TABLE IF NOT EXISTS copies (
    head INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL,
    dkey TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS copies_dkey ON copies(dkey);
CREATE INDEX IF NOT EXISTS copies_article ON copies(article_id);
CREATE TABLE IF NOT EXISTS bands (
    band INTEGER NOT NULL,
    head INTEGER NOT NULL,
    PRIMARY KEY (band, head)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bands_head ON bands(head);
CREATE TABLE IF NOT EXISTS pages (
    article_id TEXT PRIMARY KEY,
    starts TEXT NOT NULL
);
"""

# one row per paragraph: its head piece, with the paragraph's span and text
_PARAGRAPH = """
SELECT p.pid, p.article_id, p.number, p.pstart, p.pend,
       substr(a.text, p.pstart + 1, p.pend - p.pstart),
       a.title, a.source, a.url, a.date
FROM pieces p JOIN articles a ON a.id = p.article_id
WHERE p.part = 0
"""


class Store:
    """Writable when created or copied for a build; read-only (and immutable) once published."""

    def __init__(self, path: Path, *, readonly: bool) -> None:
        self.path = path
        self._readonly = readonly
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn()  # fail early on a bad file

    @classmethod
    def create(cls, path: Path) -> Store:
        return cls(path, readonly=False)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self._readonly:
                    if not self.path.is_file():
                        raise IndexCorruptError(f"paragraph store missing: {self.path}")
                    conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
                else:
                    conn = sqlite3.connect(str(self.path), check_same_thread=False)
                    conn.executescript(_SCHEMA)
                    _fill_copies(conn)
                conn.execute("SELECT count(*) FROM pieces").fetchone()
            except sqlite3.DatabaseError as exc:
                raise IndexCorruptError(f"paragraph store {self.path} cannot be read: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    def commit(self) -> None:
        self._conn().commit()

    # -- reading ----------------------------------------------------------------
    def counts(self) -> tuple[int, int, int]:
        """Numbers of articles, paragraphs and pieces."""
        conn = self._conn()
        (articles,) = conn.execute("SELECT count(*) FROM articles").fetchone()
        paragraphs, pieces = conn.execute("SELECT count(*) FILTER (WHERE part = 0), count(*) FROM pieces").fetchone()
        return articles, paragraphs, pieces

    def article_hashes(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT id, hash FROM articles"))

    def _in(self, sql: str, values: Iterable) -> Iterator[tuple]:
        """Rows of ``sql`` (with one ``IN ({marks})``) for all ``values``, in batches of 500."""
        values = list(values)
        for lo in range(0, len(values), 500):
            batch = values[lo : lo + 500]
            yield from self._conn().execute(sql.format(marks=",".join("?" * len(batch))), batch)

    def pids_by_ekey(self, ekeys: Iterable[str]) -> dict[str, int]:
        """One piece id for each of ``ekeys`` that the store holds."""
        return dict(self._in("SELECT ekey, min(pid) FROM pieces WHERE ekey IN ({marks}) GROUP BY ekey", set(ekeys)))

    def article_facets(self) -> list[tuple[str, str, str | None, dict]]:
        """``(id, source, date, metadata)`` of every article, for filters (kept once read:
        a published store never changes)."""
        facets = getattr(self, "_facets", None)
        if facets is None:
            rows = self._conn().execute("SELECT id, source, date, meta FROM articles ORDER BY id")
            facets = [(i, source, date, json.loads(meta)) for i, source, date, meta in rows]
            if self._readonly:
                self._facets = facets
        return facets

    def duplicate_keys(self, heads: Sequence[int]) -> dict[int, str] | None:
        """The copy key (:func:`corpus.documents.duplicate_key`) of each of these paragraphs
        that has one; None for a store written before keys were kept."""
        try:
            return dict(self._in("SELECT head, dkey FROM copies WHERE head IN ({marks})", map(int, heads)))
        except sqlite3.OperationalError:  # no such table
            return None

    def copies(self, keys: Iterable[str], limit: int = 50) -> dict[str, list[str]]:
        """For each copy key, the first ``limit`` articles holding a paragraph with it (a line
        every story repeats is in thousands)."""
        out: dict[str, list[str]] = {}
        try:
            for key in sorted(set(keys)):
                rows = self._conn().execute("SELECT DISTINCT article_id FROM copies WHERE dkey = ? ORDER BY article_id LIMIT ?", (key, limit))
                out[key] = [r[0] for r in rows]
        except sqlite3.OperationalError:  # no such table
            return {}
        return out

    def pids_of_articles(self, article_ids: Sequence[str]) -> list[int]:
        return [r[0] for r in self._in("SELECT pid FROM pieces WHERE article_id IN ({marks})", article_ids)]

    def heads(self, pids: Sequence[int]) -> dict[int, int]:
        """The head (paragraph id) of each piece id."""
        return dict(self._in("SELECT pid, head FROM pieces WHERE pid IN ({marks})", map(int, pids)))

    def article_ids(self, heads: Sequence[int]) -> dict[int, str]:
        """The article of each of these paragraphs (without reading their text)."""
        return dict(self._in("SELECT pid, article_id FROM pieces WHERE part = 0 AND pid IN ({marks})", map(int, heads)))

    def paragraphs(self, heads: Sequence[int]) -> dict[int, ParagraphRecord]:
        """Whole paragraphs by their head ids."""
        records = self._paged([ParagraphRecord(*row) for row in self._in(_PARAGRAPH + " AND p.pid IN ({marks})", map(int, heads))])
        return {r.pid: r for r in records}

    def article_paragraphs(self, article_id: str) -> list[ParagraphRecord]:
        rows = self._conn().execute(f"{_PARAGRAPH} AND p.article_id = ? ORDER BY p.number", (article_id,))
        return self._paged([ParagraphRecord(*row) for row in rows])

    def page_starts(self, article_ids: Iterable[str]) -> dict[str, tuple[int, ...]]:
        """Where each page begins, for the paged articles among these (a store written
        before pages were kept has none)."""
        try:
            rows = self._in("SELECT article_id, starts FROM pages WHERE article_id IN ({marks})", sorted(set(article_ids)))
            return {article_id: tuple(json.loads(starts)) for article_id, starts in rows}
        except sqlite3.OperationalError:  # no such table
            return {}

    def _paged(self, records: list[ParagraphRecord]) -> list[ParagraphRecord]:
        """The records with the page each begins on, where their article has pages."""
        starts = self.page_starts(r.article_id for r in records)
        if not starts:
            return records
        return [replace(r, page=page_at(starts[r.article_id], r.start)) if r.article_id in starts else r for r in records]

    def paragraph_rows(self, *, from_pid: int = 0) -> Iterator[tuple[int, str, str, str]]:
        """``(head id, article id, title, text)`` of every paragraph whose head id is at
        least ``from_pid``, in id order: the keyword index's rows, streamed."""
        for row in self._conn().execute(f"{_PARAGRAPH} AND p.pid >= ? ORDER BY p.pid", (int(from_pid),)):
            yield row[0], row[1], row[6], row[5]

    def article(self, article_id: str) -> Article | None:
        row = self._conn().execute(
            "SELECT id, title, text, source, date, url, meta FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        if row is None:
            return None
        return Article(*row[:6], meta=json.loads(row[6]), pages=self.page_starts([article_id]).get(article_id, ()))

    # -- writing ----------------------------------------------------------------
    def delete_articles(self, article_ids: Sequence[str]) -> list[int]:
        """Remove articles and their pieces; return the removed piece ids."""
        pids = self.pids_of_articles(article_ids)
        list(self._in("DELETE FROM copies WHERE article_id IN ({marks})", article_ids))
        list(self._in("DELETE FROM bands WHERE head IN ({marks})", pids))
        list(self._in("DELETE FROM pieces WHERE article_id IN ({marks})", article_ids))
        list(self._in("DELETE FROM pages WHERE article_id IN ({marks})", article_ids))
        list(self._in("DELETE FROM articles WHERE id IN ({marks})", article_ids))
        return pids

    def add_article(self, article: Article, pieces: Sequence[Paragraph], ekeys: Sequence[str]) -> list[int]:
        """Insert an article and its paragraph pieces (in order); return the new piece ids."""
        conn = self._conn()
        conn.execute(
            "INSERT INTO articles (id, title, text, source, date, url, meta, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.title,
                article.text,
                article.source,
                article.date,
                article.url,
                json.dumps(article.meta, ensure_ascii=False, default=str),
                article.content_hash(),
            ),
        )
        if article.pages:
            conn.execute("INSERT INTO pages (article_id, starts) VALUES (?, ?)", (article.id, json.dumps(list(article.pages))))
        extents = paragraph_extents(pieces)
        pids: list[int] = []
        head = 0
        for p, ekey in zip(pieces, ekeys):
            _, pstart, pend = extents[p.number]
            cur = conn.execute(
                'INSERT INTO pieces (head, article_id, number, part, start, "end", pstart, pend, ekey) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                (head, article.id, p.number, p.part, p.start, p.end, pstart, pend, ekey),
            )
            pid = int(cur.lastrowid)
            if p.part == 0:
                head = pid
                conn.execute("UPDATE pieces SET head = ? WHERE pid = ?", (pid, pid))
                _key_paragraph(conn, pid, article.id, article.text[pstart:pend])
            pids.append(pid)
        return pids


def _key_paragraph(conn: sqlite3.Connection, head: int, article_id: str, text: str) -> None:
    """File a new paragraph among the copies: the key of the group of paragraphs it nearly
    copies (:mod:`corpus.nearcopies`; the closest one's), else its own words' key
    (:func:`corpus.documents.duplicate_key`), and its band hashes for later paragraphs."""
    key = duplicate_key(text)
    if key is None:
        return
    shingle_set = nearcopies.shingles(text)
    if shingle_set is not None:
        bands = nearcopies.band_hashes(shingle_set)
        marks = ",".join("?" * len(bands))
        candidates = [h for (h,) in conn.execute(f"SELECT DISTINCT head FROM bands WHERE band IN ({marks}) LIMIT ?", (*bands, nearcopies.MAX_CANDIDATES))]
        best, best_key = nearcopies.THRESHOLD, None
        if candidates:
            found = conn.execute(
                f"SELECT c.dkey, substr(a.text, p.pstart + 1, p.pend - p.pstart) FROM pieces p JOIN articles a ON a.id = p.article_id "
                f"JOIN copies c ON c.head = p.pid WHERE p.pid IN ({','.join('?' * len(candidates))})",
                candidates,
            )
            for other_key, other_text in found:
                other = nearcopies.shingles(other_text)
                score = nearcopies.resemblance(shingle_set, other) if other is not None else 0.0
                if score >= best:
                    best, best_key = score, other_key
        key = best_key or key
        conn.executemany("INSERT OR IGNORE INTO bands (band, head) VALUES (?, ?)", [(band, head) for band in bands])
    conn.execute("INSERT INTO copies (head, article_id, dkey) VALUES (?, ?, ?)", (head, article_id, key))


#: ``PRAGMA user_version`` of a store whose paragraphs are keyed as :func:`_key_paragraph` does.
KEYED = 2


def _fill_copies(conn: sqlite3.Connection) -> None:
    """Key every paragraph of a store written before copies (or near-copies) were kept, once."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= KEYED and conn.execute("SELECT 1 FROM copies LIMIT 1").fetchone():
        return
    if not conn.execute("SELECT 1 FROM pieces LIMIT 1").fetchone():  # a new store keys paragraphs as they come
        conn.execute(f"PRAGMA user_version = {KEYED}")
        return
    conn.execute("DELETE FROM copies")
    conn.execute("DELETE FROM bands")
    for pid, article_id, _, _, _, text, *_ in conn.execute(f"{_PARAGRAPH} ORDER BY p.pid").fetchall():
        _key_paragraph(conn, pid, article_id, text)
    conn.execute(f"PRAGMA user_version = {KEYED}")
    conn.commit()
