"""Word documents (``.docx``), read with ``python-docx``: paragraphs and table rows in the
order they appear, the title from the document's properties or its first heading."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..documents import Article, Skipped

#: Paragraph styles whose text is a title (Word's "Title", and headings of level 1).
_TITLE_STYLES = ("title", "heading 1")
#: A first paragraph at most this long is the title of a document whose properties name none.
MAX_TITLE_CHARS = 200


def read_docx(path: Path, article_id: str) -> Article | Skipped:
    """The article a ``.docx`` file holds, or why it was skipped."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        return Skipped(str(path), f"not a readable Word document ({_reason(exc)})")
    except Exception as exc:  # a damaged part inside the package: lxml's and zipfile's own errors
        return Skipped(str(path), f"not a readable Word document ({type(exc).__name__}: {_reason(exc)})")
    blocks: list[tuple[str, str]] = []  # (style, text)
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = list(dict.fromkeys(" ".join(cell.text.split()) for cell in row.cells))  # merged cells repeat
                text = " | ".join(c for c in cells if c)
                if text:
                    blocks.append(("table", text))
        else:
            text = " ".join(item.text.split())
            if text:
                blocks.append(((item.style.name if item.style is not None else "").lower(), text))
    properties = document.core_properties
    title = " ".join((properties.title or "").split())
    if blocks and len(blocks) > 1:
        first_style, first = blocks[0]
        if title and first.casefold() == title.casefold():
            blocks = blocks[1:]  # the title, written again as the first paragraph
        elif not title and (first_style.startswith(_TITLE_STYLES) or len(first) <= MAX_TITLE_CHARS):
            title, blocks = first, blocks[1:]  # as for a text file: the first line is the title
    if not blocks:
        return Skipped(str(path), "no text found")
    created = properties.created.date().isoformat() if properties.created else None
    return Article(id=article_id, title=title or path.stem, text="\n\n".join(text for _, text in blocks), source=article_id, date=created)


def _reason(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
