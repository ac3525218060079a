"""The paragraph store: articles and paragraph records in SQLite, by stable id.

A paragraph's integer ``pid`` is also its id in the keyword and vector
indexes; ``AUTOINCREMENT`` guarantees a deleted pid is never handed out again.
Paragraph text is not stored twice: it is the article's text between the
paragraph's offsets.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .documents import Article, Paragraph
from .errors import IndexCorruptError

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
CREATE TABLE IF NOT EXISTS paragraphs (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id),
    number INTEGER NOT NULL,
    part INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    ekey TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS paragraphs_article ON paragraphs(article_id);
CREATE INDEX IF NOT EXISTS paragraphs_ekey ON paragraphs(ekey);
"""

_ROW = """
SELECT p.pid, p.article_id, p.number, p.part, p.start, p."end",
       substr(a.text, p.start + 1, p."end" - p.start),
       a.title, a.source, a.url, a.date
FROM paragraphs p JOIN articles a ON a.id = p.article_id
"""


@dataclass(frozen=True)
class ParagraphRecord:
    pid: int
    article_id: str
    number: int
    part: int
    start: int
    end: int
    text: str
    title: str
    source: str
    url: str | None
    date: str | None


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
                conn.execute("SELECT count(*) FROM paragraphs").fetchone()
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
    def counts(self) -> tuple[int, int]:
        conn = self._conn()
        (articles,) = conn.execute("SELECT count(*) FROM articles").fetchone()
        (paragraphs,) = conn.execute("SELECT count(*) FROM paragraphs").fetchone()
        return articles, paragraphs

    def article_hashes(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT id, hash FROM articles"))

    def pids_by_ekey(self, ekeys: Iterable[str]) -> dict[str, int]:
        """One paragraph id for each of ``ekeys`` that the store holds."""
        found: dict[str, int] = {}
        keys = list(set(ekeys))
        for lo in range(0, len(keys), 500):
            batch = keys[lo : lo + 500]
            marks = ",".join("?" * len(batch))
            for ekey, pid in self._conn().execute(f"SELECT ekey, min(pid) FROM paragraphs WHERE ekey IN ({marks}) GROUP BY ekey", batch):
                found[ekey] = pid
        return found

    def pids_of_articles(self, article_ids: Sequence[str]) -> list[int]:
        out: list[int] = []
        for lo in range(0, len(article_ids), 500):
            batch = list(article_ids[lo : lo + 500])
            marks = ",".join("?" * len(batch))
            out.extend(r[0] for r in self._conn().execute(f"SELECT pid FROM paragraphs WHERE article_id IN ({marks})", batch))
        return out

    def paragraphs(self, pids: Sequence[int]) -> dict[int, ParagraphRecord]:
        out: dict[int, ParagraphRecord] = {}
        for lo in range(0, len(pids), 500):
            batch = [int(p) for p in pids[lo : lo + 500]]
            marks = ",".join("?" * len(batch))
            for row in self._conn().execute(f"{_ROW} WHERE p.pid IN ({marks})", batch):
                out[row[0]] = ParagraphRecord(*row)
        return out

    def article_paragraphs(self, article_id: str) -> list[ParagraphRecord]:
        rows = self._conn().execute(f"{_ROW} WHERE p.article_id = ? ORDER BY p.number, p.part", (article_id,))
        return [ParagraphRecord(*row) for row in rows]

    def article(self, article_id: str) -> Article | None:
        row = self._conn().execute(
            "SELECT id, title, text, source, date, url, meta FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        if row is None:
            return None
        return Article(*row[:6], meta=json.loads(row[6]))

    def all_pids(self) -> list[int]:
        return [r[0] for r in self._conn().execute("SELECT pid FROM paragraphs ORDER BY pid")]

    # -- writing ----------------------------------------------------------------
    def delete_articles(self, article_ids: Sequence[str]) -> list[int]:
        """Remove articles and their paragraphs; return the removed paragraph ids."""
        pids = self.pids_of_articles(article_ids)
        conn = self._conn()
        for lo in range(0, len(article_ids), 500):
            batch = list(article_ids[lo : lo + 500])
            marks = ",".join("?" * len(batch))
            conn.execute(f"DELETE FROM paragraphs WHERE article_id IN ({marks})", batch)
            conn.execute(f"DELETE FROM articles WHERE id IN ({marks})", batch)
        return pids

    def add_article(self, article: Article, paragraphs: Sequence[Paragraph], ekeys: Sequence[str]) -> list[int]:
        """Insert an article and its paragraphs; return the new paragraph ids in order."""
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
        pids = []
        for p, ekey in zip(paragraphs, ekeys):
            cur = conn.execute(
                'INSERT INTO paragraphs (article_id, number, part, start, "end", ekey) VALUES (?, ?, ?, ?, ?, ?)',
                (article.id, p.number, p.part, p.start, p.end, ekey),
            )
            pids.append(int(cur.lastrowid))
        return pids

