"""Reading sources: folders, text and Markdown files, HTML pages, JSON Lines, and PDF, Word and
EPUB documents (read by :mod:`corpus.formats`).

Every reader yields :class:`Article` records, or :class:`Skipped` records for
what could not be read; nothing here raises for a bad file, so one broken file
never stops a build.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .documents import Article, Skipped
from .errors import SourceError
from .read_cache import KnownArticle, ReadCache

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
JSONL_SUFFIXES = frozenset({".jsonl"})
#: Documents read by a library of their own: a file is one article.
DOCUMENT_SUFFIXES = frozenset({".pdf", ".docx", ".epub"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | DOCUMENT_SUFFIXES

#: A text, Markdown or HTML file is one article; above this size (far beyond a book) it is
#: skipped, not read into memory: such a file is a collection to split, or to give as .jsonl.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: A PDF, Word or EPUB file above this size is skipped (a PDF is read a page at a time, so a
#: big one costs time, not memory).
MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024
#: One line of a .jsonl file above this size is skipped.
MAX_JSONL_LINE_BYTES = 16 * 1024 * 1024

_BINARY_SNIFF = 8192
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")


def read_sources(
    paths: Iterable[str | os.PathLike[str]], on_page: Callable[[], None] | None = None, cache: ReadCache | None = None
) -> Iterator[Article | KnownArticle | Skipped]:
    """Yield the articles of every source path, in a stable order.

    A folder is read recursively (hidden entries are ignored); a file is read by
    its suffix. A path that does not exist raises :class:`SourceError`.
    ``on_page`` is called after each page of a PDF is read (a long one takes seconds).
    With a ``cache`` (see :mod:`corpus.read_cache`), a file unchanged since the build it
    remembers is not read: its articles come as :class:`KnownArticle` (id and hash).
    """
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SourceError(f"source not found: {raw}")
        if path.is_dir():
            root = path.resolve()
            for file in _walk(root):
                if isinstance(file, Skipped):
                    yield file
                else:
                    yield from _read_cached(*file, on_page, cache)
        else:
            resolved = path.resolve()
            yield from _read_cached(str(resolved), resolved.name, on_page, cache)


def _read_cached(path: str, file_id: str, on_page: Callable[[], None] | None, cache: ReadCache | None) -> Iterator[Article | KnownArticle | Skipped]:
    if cache is None:
        yield from read_file(Path(path), file_id, on_page)
        return
    stat = cache.stat(path)
    known = cache.known(path, file_id, stat)
    if known is not None:
        yield from known
        return
    items = list(read_file(Path(path), file_id, on_page))
    cache.remember(path, file_id, stat, items)
    yield from items


def _walk(root: Path) -> Iterator[tuple[str, str] | Skipped]:
    """Each file under ``root`` as (path, article id: the path under the folder, its name
    first), in a stable order; links to folders are reported, not followed. Strings, not
    paths: a folder of a hundred thousand files is walked at every build."""
    top, prefix = str(root), root.name + "/"
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):  # os.walk does not follow it
                yield Skipped(os.path.join(dirpath, name), "a link to a folder: not followed (links can loop)")
        under = prefix + dirpath[len(top) + 1 :].replace(os.sep, "/") + "/" if dirpath != top else prefix
        for name in sorted(filenames):
            if not name.startswith("."):
                yield os.path.join(dirpath, name), under + name


def read_file(path: Path, article_id: str, on_page: Callable[[], None] | None = None) -> Iterator[Article | Skipped]:
    """Yield the article(s) of one file, or a :class:`Skipped` record."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        yield Skipped(str(path), f"unsupported file type {suffix or '(none)'}")
        return
    if suffix in DOCUMENT_SUFFIXES:
        yield _read_document(path, article_id, suffix, on_page)
        return
    try:
        if suffix in JSONL_SUFFIXES:
            yield from _read_jsonl(path, article_id)
            return
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            yield Skipped(str(path), f"too large for one article ({size:,} bytes > {MAX_FILE_BYTES:,}); split it, or give its parts as .jsonl records")
            return
        data = path.read_bytes()
    except OSError as exc:
        yield Skipped(str(path), f"unreadable: {exc.strerror or exc}")
        return
    unicode = _decode_bom(data)  # UTF-16 and UTF-32 hold NULs: read them before the sniff for binary files
    problem = _binary_or_empty(unicode[0].encode("utf-8") if unicode else data)
    if problem:
        yield Skipped(str(path), problem)
        return
    text, encoding = unicode or decode(data)
    if encoding != "utf-8":
        log.info("%s: not valid UTF-8, decoded as %s", path, encoding)
    meta = {} if encoding == "utf-8" else {"encoding": encoding}
    if suffix in HTML_SUFFIXES:
        article = _html_article(text, path, article_id, meta)
    else:
        article = _text_article(text, path, article_id, meta, markdown=suffix in {".md", ".markdown"})
    if article is None:
        yield Skipped(str(path), "no text found")
    else:
        yield article


def _read_document(path: Path, article_id: str, suffix: str, on_page: Callable[[], None] | None) -> Article | Skipped:
    """A PDF, Word or EPUB file through its reader; never raises for a bad file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Skipped(str(path), f"unreadable: {exc.strerror or exc}")
    if size == 0:
        return Skipped(str(path), "empty file")
    if size > MAX_DOCUMENT_BYTES:
        return Skipped(str(path), f"too large ({size:,} bytes > {MAX_DOCUMENT_BYTES:,})")
    try:
        if suffix == ".pdf":
            from .formats.pdf import read_pdf

            return read_pdf(path, article_id, on_page)
        if suffix == ".docx":
            from .formats.word import read_docx

            return read_docx(path, article_id)
        from .formats.ebook import read_epub

        return read_epub(path, article_id)
    except ImportError as exc:  # the optional readers are dependencies; say which one is missing
        return Skipped(str(path), f"cannot read {suffix} files: {exc.name or exc} is not installed")
    except OSError as exc:
        return Skipped(str(path), f"unreadable: {exc.strerror or exc}")
    except Exception as exc:  # a reader library failing on a malformed file must not stop the build
        log.info("%s could not be read: %r", path, exc)
        return Skipped(str(path), f"cannot be read ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})")


def _binary_or_empty(data: bytes) -> str | None:
    if not data.strip():
        return "empty file"
    if b"\x00" in data[:_BINARY_SNIFF]:
        return "binary file"
    return None


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_bom(data: bytes) -> tuple[str, str] | None:
    """A text that starts with a UTF-16 or UTF-32 byte order mark, decoded; else None."""
    for bom, encoding in _BOMS:  # UTF-32 first: its LE mark begins with UTF-16's
        if data.startswith(bom):
            try:
                return normalise_newlines(data.decode(encoding)), encoding
            except UnicodeDecodeError:
                return None
    return None


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8, else as Windows-1252, else as Latin-1 (never fails).

    Returns the text with newlines normalised to ``\\n`` and the encoding used.
    """
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        name = "utf-8" if encoding == "utf-8-sig" else encoding
        return normalise_newlines(text), name
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text_article(text: str, path: Path, article_id: str, meta: dict, *, markdown: bool) -> Article | None:
    title, body = split_title(text, markdown=markdown)
    if not title:
        return None
    return Article(id=article_id, title=title, text=body, source=article_id, meta=meta)


def split_title(text: str, *, markdown: bool = False) -> tuple[str, str]:
    """Split a text into its title (first non-empty line) and body.

    A text of one line is its own body, so that it can still be found.
    """
    stripped = text.lstrip("\n\ufeff")
    first, _, rest = stripped.partition("\n")
    title = first.strip()
    if markdown:
        title = _MD_HEADING.sub("", title).strip()
    body = rest.strip("\n")
    if not body.strip():
        body = title
    return " ".join(title.split()), body


def _html_article(html: str, path: Path, article_id: str, meta: dict) -> Article | None:
    import trafilatura  # imported late: it is slow to import and only HTML needs it

    doc = trafilatura.bare_extraction(html, with_metadata=True, favor_recall=True)
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        return None
    text = normalise_newlines(text)
    title = (getattr(doc, "title", None) or "").strip()
    lines = text.split("\n")
    if title and lines and lines[0].strip() == title:
        text = "\n".join(lines[1:]).strip("\n") or title
    if not title:
        title, text = split_title(text)
    # trafilatura puts one paragraph per line; blank lines make that explicit
    body = "\n\n".join(line.strip() for line in text.split("\n") if line.strip())
    return Article(
        id=article_id,
        title=" ".join(title.split()),
        text=body,
        source=article_id,
        date=getattr(doc, "date", None) or None,
        url=getattr(doc, "url", None) or None,
        meta=meta,
    )


def _read_jsonl(path: Path, file_id: str) -> Iterator[Article | Skipped]:
    seen: set[str] = set()
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            where = f"{path}:{lineno}"
            if len(raw) > MAX_JSONL_LINE_BYTES:
                yield Skipped(where, f"line too large ({len(raw):,} bytes)")
                continue
            if not raw.strip():
                continue
            line, _ = decode(raw)
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Skipped(where, f"invalid JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield Skipped(where, "not a JSON object")
                continue
            article = _jsonl_article(record, path, file_id, lineno)
            if isinstance(article, Skipped):
                yield Skipped(where, article.reason)
            elif article.id in seen:
                yield Skipped(where, f"duplicate id {article.id!r}")
            else:
                seen.add(article.id)
                yield article


def _jsonl_article(record: dict, path: Path, file_id: str, lineno: int) -> Article | Skipped:
    text = record.get("text")
    title = record.get("title")
    if not isinstance(text, str) or not text.strip():
        return Skipped(str(path), "no text")
    text = normalise_newlines(text).strip("\n")
    title = " ".join(title.split()) if isinstance(title, str) else ""
    if not title:
        title, text = split_title(text)
    raw_id = record.get("_id", record.get("id"))
    article_id = str(raw_id) if raw_id not in (None, "") else f"{file_id}:{lineno}"
    meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    return Article(
        id=article_id,
        title=title,
        text=text,
        source=file_id,
        date=_optional_str(record.get("date")),
        url=_optional_str(record.get("url")),
        meta=meta,
    )


def _optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
