"""PDF documents: paragraphs rebuilt from each page's lines, with the page each begins on.

PDFium (through ``pypdfium2``) gives every character with its box; measured on real PDFs
it extracts text 4 to 60 times as fast as ``pypdf`` and ``pdfminer.six`` with the same
words (``bench/documents/pdf_readers.py``, figures in docs/quality.md). What a PDF does not
hold, its paragraphs, is rebuilt here from the geometry of its lines:

- lines are read column by column: a page whose lines leave a vertical gutter free is
  read left column first, then right, band by band between lines that span both;
- running headers and footers (a line near the top or bottom edge that repeats on many
  pages, digits aside) and page numbers are dropped;
- a paragraph ends where the gap to the next line is wider than the line pitch, the
  font size changes, the next line is indented, or a line stops well short of the
  column's right edge; it goes on across a column or a page break otherwise;
- a word hyphenated at a line end is joined (PDFium marks such hyphens; a plain ``-``
  between lower-case letters counts too), ligatures are spelled out;
- the title is the document's metadata title, else its first heading.

A page is read, then closed, so memory stays bounded by one page and the text.
"""

from __future__ import annotations

import ctypes
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..documents import Article, Skipped

#: Below this many characters a page on average, a PDF has no text layer (a scan).
MIN_CHARS_PER_PAGE = 20
#: The top and bottom share of a page where running headers, footers and page numbers are looked for.
EDGE_ZONE = 0.2
#: A header or footer repeats, digits aside, on this many pages (on both of a two-page document).
REPEATED_PAGES = 3
#: The longest first heading taken as a title, in characters.
MAX_TITLE_CHARS = 200

_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})
_SOFT_HYPHENS = ("\x02", "\ufffe", "\xad")
_PAGE_NUMBER = re.compile(r"^[\W_]*(?:page\s*)?(?:\d{1,5}|[ivxlcdm]{1,7})(?:\s*(?:of|/)\s*\d{1,5})?[\W_]*$", re.I)
_BAD_TITLES = re.compile(r"^(?:untitled|microsoft word\b.*|.*\.(?:docx?|pdf|tex|dvi|odt|rtf|indd))$", re.I)


@dataclass
class Line:
    """One line of text on a page, in PDF units (y grows upward)."""

    page: int
    x0: float
    x1: float
    y0: float
    y1: float
    size: float
    chars: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.chars).split())

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


def read_pdf(path: Path, article_id: str, on_page: Callable[[], None] | None = None) -> Article | Skipped:
    """The article a PDF holds, or why it was skipped (encrypted, damaged, no text layer)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            return Skipped(str(path), "encrypted PDF: it cannot be read without its password")
        return Skipped(str(path), f"not a readable PDF (damaged or truncated: {_pdfium_reason(exc)})")
    try:
        pages: list[list[Line]] = []
        sizes: list[tuple[float, float]] = []
        for index in range(len(pdf)):
            try:
                page = pdf[index]
            except pdfium.PdfiumError:  # a damaged page: the others are still read
                pages.append([])
                sizes.append((0.0, 0.0))
                continue
            try:
                sizes.append(page.get_size())
                textpage = page.get_textpage()
                try:
                    pages.append(page_lines(textpage, index + 1))
                finally:
                    textpage.close()
            finally:
                page.close()
            if on_page is not None:
                on_page()
        metadata = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    if not pages:
        return Skipped(str(path), "a PDF without pages")
    if sum(len(line.text) for lines in pages for line in lines) < MIN_CHARS_PER_PAGE * len(pages):
        return Skipped(str(path), "no text layer (a scanned PDF?): run OCR on it first")
    body = [column_order(lines, width) for lines, (width, _) in zip(drop_running_lines(pages, sizes), sizes)]
    paragraphs = join_paragraphs([line for lines in body for line in lines])
    title, paragraphs = _title(metadata.get("Title", ""), paragraphs, path)
    text, starts = _text_and_pages(paragraphs, len(pages))
    if not text.strip():
        return Skipped(str(path), "no text found")
    return Article(id=article_id, title=title, text=text, source=article_id, date=_pdf_date(metadata.get("CreationDate", "")), pages=starts)


def page_lines(textpage, page: int) -> list[Line]:
    """The page's lines in PDFium's order: characters with their boxes, a new line wherever
    PDFium breaks one or the next character moves back to the left below the line."""
    import pypdfium2.raw as raw

    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    lines: list[Line] = []
    line: Line | None = None
    for i in range(raw.FPDFText_CountChars(textpage.raw)):
        code = raw.FPDFText_GetUnicode(textpage.raw, i)
        char = chr(code) if 0 < code < 0x110000 else ""
        if char in ("\r", "\n", ""):
            if char and line is not None:
                lines.append(line)
                line = None
            continue
        if raw.FPDFText_IsGenerated(textpage.raw, i) == 1 or char.isspace():
            if line is not None and line.chars and line.chars[-1] != " ":
                line.chars.append(" ")
            continue
        raw.FPDFText_GetCharBox(textpage.raw, i, ctypes.byref(left), ctypes.byref(right), ctypes.byref(bottom), ctypes.byref(top))
        x0, x1, y0, y1 = left.value, right.value, bottom.value, top.value
        if line is not None and not (line.y0 <= (y0 + y1) / 2 <= line.y1) and x0 < line.x1 - line.size:
            lines.append(line)  # moved back to the left on another line: a break PDFium did not mark
            line = None
        if line is None:
            size = raw.FPDFText_GetFontSize(textpage.raw, i) or (y1 - y0)
            line = Line(page, x0, x1, y0, y1, float(size))
        else:
            line.x0, line.x1 = min(line.x0, x0), max(line.x1, x1)
            line.y0, line.y1 = min(line.y0, y0), max(line.y1, y1)
        line.chars.append(char.translate(_LIGATURES))
    if line is not None:
        lines.append(line)
    return _same_line_joined([line for line in lines if line.text])


def _same_line_joined(lines: list[Line]) -> list[Line]:
    """Fragments PDFium broke off a line joined back to it: one that goes on to its right
    at the height of the line (a superscript, a formula, a word in another font)."""
    out: list[Line] = []
    for line in lines:
        prev = out[-1] if out else None
        if prev is not None and prev.page == line.page:
            overlap = min(prev.y1, line.y1) - max(prev.y0, line.y0)
            if overlap > 0.3 * min(prev.y1 - prev.y0, line.y1 - line.y0) and line.x0 >= prev.x1 - 1.0 and line.x0 - prev.x1 < 3 * prev.size:
                prev.chars += [" ", *line.chars] if line.x0 - prev.x1 > 0.15 * prev.size else line.chars
                prev.x1 = max(prev.x1, line.x1)
                prev.y0, prev.y1 = min(prev.y0, line.y0), max(prev.y1, line.y1)
                continue
        out.append(line)
    return out


def drop_running_lines(pages: list[list[Line]], sizes: list[tuple[float, float]]) -> list[list[Line]]:
    """The pages without their running headers, footers and page numbers: of the two lines
    nearest the top and the two nearest the bottom of a page, those in the edge zone that
    are page numbers or that repeat (digits aside) on many pages."""

    def key(line: Line) -> str:
        return re.sub(r"\d+", "#", line.text.lower())

    def edges(lines: list[Line], height: float) -> list[Line]:
        ordered = sorted(lines, key=lambda line: -line.y1)
        top = [line for line in ordered[:2] if line.y0 > height * (1 - EDGE_ZONE)]
        bottom = [line for line in ordered[-2:] if line.y1 < height * EDGE_ZONE]
        return top + [line for line in bottom if line not in top]

    def gap_below(line: Line, lines: list[Line]) -> float | None:
        """The space between a line and the nearest line under it that shares some of its width."""
        gaps = [line.y0 - other.y1 for other in lines if other is not line and other.y1 <= line.y0 + 0.5 and other.x0 < line.x1 and line.x0 < other.x1]
        return min(gaps) if gaps else None

    def gap_above(line: Line, lines: list[Line]) -> float | None:
        gaps = [other.y0 - line.y1 for other in lines if other is not line and other.y0 >= line.y1 - 0.5 and other.x0 < line.x1 and line.x0 < other.x1]
        return min(gaps) if gaps else None

    def apart(line: Line, lines: list[Line]) -> bool:
        """Set apart from the text by more than its usual leading, as running lines are."""
        usual = [gap for gap in (gap_below(other, lines) for other in lines) if gap is not None and gap > 0]
        leading = statistics.median(usual) if usual else 0.0
        gaps = [gap for gap in (gap_below(line, lines), gap_above(line, lines)) if gap is not None]
        return not gaps or min(gaps) > max(1.2 * (line.y1 - line.y0), 1.8 * leading)

    candidates = [edges(lines, height) if height > 0 else [] for lines, (_, height) in zip(pages, sizes)]
    seen = Counter(k for found in candidates for k in {key(line) for line in found})
    needed = min(REPEATED_PAGES, max(2, len(pages)))
    out = []
    for lines, found in zip(pages, candidates):
        running = [line for line in found if _PAGE_NUMBER.match(line.text) or (seen[key(line)] >= needed and apart(line, lines))]
        out.append([line for line in lines if not any(line is r for r in running)])
    return out


def column_order(lines: list[Line], width: float) -> list[Line]:
    """A page's lines in reading order: top to bottom, and on a two-column page the left
    column before the right one within each band between lines that span both."""
    if len(lines) < 6:
        return sorted(lines, key=lambda line: -line.y1)
    left_edge, right_edge = min(line.x0 for line in lines), max(line.x1 for line in lines)
    span = right_edge - left_edge
    best, covered = None, len(lines) + 1
    for step in range(31):  # the gutter is looked for in the middle 30-70% of the text's width
        x = left_edge + span * (0.3 + 0.4 * step / 30)
        n = sum(line.x0 < x < line.x1 for line in lines)
        if n < covered or (n == covered and best is not None and abs(x - (left_edge + span / 2)) < abs(best - (left_edge + span / 2))):
            best, covered = x, n
    left = [line for line in lines if line.x1 <= best]
    right = [line for line in lines if line.x0 >= best]
    if best is None or len(left) < 3 or len(right) < 3 or covered > 0.25 * len(lines):
        return sorted(lines, key=lambda line: -line.y1)
    ordered: list[Line] = []
    band: list[Line] = []
    for line in sorted(lines, key=lambda line: -line.y1):
        if line.x0 < best < line.x1:  # spans the gutter: the band above it is read first
            ordered += _columns(band, best) + [line]
            band = []
        else:
            band.append(line)
    return ordered + _columns(band, best)


def _columns(band: list[Line], gutter: float) -> list[Line]:
    return [line for line in band if line.x1 <= gutter] + [line for line in band if line.x1 > gutter]


@dataclass
class Paragraph:
    lines: list[Line]

    @property
    def page(self) -> int:
        return self.lines[0].page


def join_paragraphs(lines: list[Line]) -> list[Paragraph]:
    """Lines in reading order grouped into paragraphs (see the module's notes)."""
    if not lines:
        return []
    pitches = _line_pitches(lines)
    edges = _column_edges(lines)
    out: list[Paragraph] = []
    for prev, line in zip([None, *lines], lines):
        if prev is None or _breaks(prev, line, pitches.get(round(line.size), 1.25 * line.size), edges):
            out.append(Paragraph([line]))
        else:
            out[-1].lines.append(line)
    return out


def _line_pitches(lines: list[Line]) -> dict[int, float]:
    """Per font size (rounded): the usual distance between the baselines of consecutive
    lines of one column (a title is set wider apart than the text)."""
    gaps: dict[int, list[float]] = {}
    for a, b in zip(lines, lines[1:]):
        if a.page == b.page and round(a.size) == round(b.size) and 0 < a.y0 - b.y0 < 3 * max(a.size, 1.0) and abs(a.x0 - b.x0) < 4 * a.size:
            gaps.setdefault(round(a.size), []).append(a.y0 - b.y0)
    return {size: statistics.median(found) for size, found in gaps.items()}


def _column_edges(lines: list[Line]) -> dict[tuple[int, int], tuple[float, float]]:
    """Per page and column (by the line's left edge, rounded): the usual left and right edge."""
    groups: dict[tuple[int, int], list[Line]] = {}
    for line in lines:
        groups.setdefault((line.page, _column_of(line)), []).append(line)
    edges = {}
    for key, members in groups.items():
        lefts = sorted(line.x0 for line in members)
        rights = sorted(line.x1 for line in members)
        edges[key] = (lefts[len(lefts) // 10], rights[(len(rights) * 9) // 10])
    return edges


def _column_of(line: Line) -> int:
    return int(line.x0 // 150)  # columns of one page start well apart


def _breaks(prev: Line, line: Line, pitch: float, edges: dict[tuple[int, int], tuple[float, float]]) -> bool:
    """Whether ``line`` begins a new paragraph after ``prev``."""
    size = max(line.size, 1.0)
    if abs(line.size - prev.size) > 0.5:  # a heading, or a caption
        return True
    left, right = edges[(line.page, _column_of(line))]
    prev_left, prev_right = edges[(prev.page, _column_of(prev))]
    if prev.x1 < prev_right - 3 * size and not prev.text.endswith(("-", *_SOFT_HYPHENS)):
        return True  # the previous line stops short: its paragraph ends there
    if line.x0 - left > 0.8 * size and prev.x0 - prev_left < 0.5 * size:
        return True  # a first line indented
    same_column = line.page == prev.page and _column_of(line) == _column_of(prev) and line.y1 < prev.y1
    return same_column and prev.y0 - line.y0 > 1.4 * pitch


def _joined(lines: list[Line]) -> tuple[str, list[tuple[int, int]]]:
    """A paragraph's text, its lines joined (hyphenated words whole again), and where each
    line that starts a new page begins in it: ``(offset, page)``."""
    text = ""
    starts: list[tuple[int, int]] = []
    for i, line in enumerate(lines):
        piece = line.text
        if text:
            text = text[:-1] if _hyphenated(text, piece) else text + " "
        if i and lines[i - 1].page != line.page:
            starts.append((len(text), line.page))
        text += piece[:-1].replace("\x02", "").replace("\ufffe", "") + piece[-1]  # marks PDFium left inside a line
    return text.rstrip("".join(_SOFT_HYPHENS)), starts


def _hyphenated(text: str, following: str) -> bool:
    if text.endswith(_SOFT_HYPHENS):
        return True
    return len(text) > 1 and text.endswith("-") and text[-2].isalpha() and text[-2].islower() and following[:1].islower()


def _title(meta_title: str, paragraphs: list[Paragraph], path: Path) -> tuple[str, list[Paragraph]]:
    """The document's title and the paragraphs left for its body: the metadata's title, else
    the first paragraph of the largest type among the first of page one, if larger than the text."""
    meta_title = " ".join(meta_title.split())
    if meta_title and not _BAD_TITLES.match(meta_title):
        first = " ".join(line.text for line in paragraphs[0].lines) if paragraphs else ""
        same = first.casefold() == meta_title.casefold()
        return meta_title, paragraphs[1:] if same and len(paragraphs) > 1 else paragraphs
    if len(paragraphs) > 1:
        body_size = statistics.median(line.size for p in paragraphs for line in p.lines)
        opening = [(i, p) for i, p in enumerate(paragraphs[:6]) if p.page == paragraphs[0].page]
        i, heading = max(opening, key=lambda item: (item[1].lines[0].size, -item[0]))
        text = " ".join(line.text for line in heading.lines)
        if heading.lines[0].size > body_size + 0.5 and len(text) <= MAX_TITLE_CHARS:
            return text, paragraphs[:i] + paragraphs[i + 1 :]
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name, paragraphs


def _text_and_pages(paragraphs: list[Paragraph], n_pages: int) -> tuple[str, tuple[int, ...]]:
    """The body (paragraphs separated by blank lines) and where each page begins in it."""
    parts: list[str] = []
    begins: dict[int, int] = {}
    offset = 0
    for paragraph in paragraphs:
        text, inner = _joined(paragraph.lines)
        begins.setdefault(paragraph.page, offset)
        for at, page in inner:
            begins.setdefault(page, offset + at)
        parts.append(text)
        offset += len(text) + 2
    body = "\n\n".join(parts)
    starts: list[int | None] = [begins.get(page) for page in range(1, n_pages + 1)]
    following = len(body)
    for i in range(n_pages - 1, -1, -1):  # a page without text begins where the next text does
        if starts[i] is None:
            starts[i] = following
        following = starts[i]
    starts[0] = 0
    for i in range(1, n_pages):
        starts[i] = max(starts[i], starts[i - 1])
    return body, tuple(starts)


def _pdf_date(value: str) -> str | None:
    """``D:20161018093000+01'00'`` as ``2016-10-18``."""
    match = re.match(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?", value.strip())
    if not match:
        return None
    year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
    return f"{year}-{month}-{day}" if "1000" < year < "3000" else None


def _pdfium_reason(exc: Exception) -> str:
    text = str(exc)
    inner = re.search(r"\(PDFium: (.*?)\)", text)
    return (inner.group(1) if inner else text).rstrip(". ").lower() or "unknown error"
