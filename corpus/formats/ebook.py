"""EPUB books, read with ``ebooklib``: the chapters in reading order (the spine), each
chapter's headings, paragraphs, list items and quotations as paragraphs."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..documents import Article, Skipped

#: The elements whose text is one paragraph.
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "dt", "dd", "figcaption", "td")


def read_epub(path: Path, article_id: str) -> Article | Skipped:
    """The article an EPUB book holds, or why it was skipped (DRM-protected, damaged)."""
    import ebooklib
    from ebooklib import epub

    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    except (zipfile.BadZipFile, KeyError, ValueError, epub.EpubException) as exc:
        return Skipped(str(path), f"not a readable EPUB book ({_reason(exc)})")
    except Exception as exc:  # lxml's errors on a damaged chapter list
        return Skipped(str(path), f"not a readable EPUB book ({type(exc).__name__}: {_reason(exc)})")
    if any(item.get_name().endswith("encryption.xml") for item in book.get_items()):
        return Skipped(str(path), "an EPUB with DRM: its chapters are encrypted")
    paragraphs: list[str] = []
    documents = {item.get_id(): item for item in book.get_items_of_type(ebooklib.ITEM_DOCUMENT) if not _is_navigation(item)}
    order = [documents[i] for i, _ in book.spine if i in documents] or list(documents.values())
    for item in order:
        paragraphs += chapter_paragraphs(item.get_content())
    title = _first(book.get_metadata("DC", "title"))
    if not title and paragraphs:
        title, paragraphs = paragraphs[0], paragraphs[1:] or paragraphs
    elif paragraphs and paragraphs[0].casefold() == title.casefold() and len(paragraphs) > 1:
        paragraphs = paragraphs[1:]
    if not paragraphs:
        return Skipped(str(path), "no text found")
    date = _first(book.get_metadata("DC", "date"))[:10] or None
    return Article(id=article_id, title=title or path.stem, text="\n\n".join(paragraphs), source=article_id, date=date)


def chapter_paragraphs(content: bytes) -> list[str]:
    """The text of a chapter's block elements, in order (a block inside another counts once)."""
    import lxml.html

    try:
        root = lxml.html.fromstring(content)
    except (ValueError, lxml.etree.ParserError):
        return []
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    out = []
    for element in root.iter(*_BLOCKS):
        if any(parent.tag in _BLOCKS for parent in element.iterancestors()):
            continue
        text = " ".join(element.text_content().split())
        if text:
            out.append(text)
    return out


def _is_navigation(item) -> bool:
    """The book's table of contents (EPUB 3's ``nav`` document), which is not its text."""
    from ebooklib import epub

    return isinstance(item, epub.EpubNav) or "nav" in (getattr(item, "properties", None) or [])


def _first(values: list) -> str:
    return " ".join(str(values[0][0]).split()) if values and values[0] and values[0][0] else ""


def _reason(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
