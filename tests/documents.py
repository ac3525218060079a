"""Documents made for the tests with real writers: PDFs (fpdf2), Word files (python-docx) and
EPUB books (ebooklib), holding the seed article's text."""

from __future__ import annotations

import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = next((ROOT / "seeds").glob("*.txt"))

_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "..."})


def seed_article() -> tuple[str, list[str]]:
    """The seed article's title and paragraphs."""
    title, _, body = SEED.read_text(encoding="utf-8").partition("\n")
    return title.strip(), [p.strip() for p in body.split("\n\n") if p.strip()]


def latin1(text: str) -> str:
    """Text the PDF core fonts can write (curly quotes made straight)."""
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _hyphenable(text: str) -> str:
    """Long words given a soft hyphen in the middle, so that lines may break inside them."""
    return re.sub(r"\b([a-z]{4,})([a-z]{4,})\b", lambda m: f"{m.group(1)}\u00ad{m.group(2)}", text)


def make_pdf(path: Path, title: str, paragraphs: list[str], *, columns: int = 1, running: str | None = None,
             numbers: bool = True, hyphenate: bool = False, metadata_title: bool = True, font_size: float = 11,
             page_each: bool = False) -> Path:
    """A PDF of the paragraphs under a heading: in one column or two, with a running header
    (``running``) and page numbers in the footer on every page, words hyphenated at line ends;
    ``page_each`` starts every paragraph on a page of its own."""
    from fpdf import FPDF

    class Document(FPDF):
        def header(self) -> None:
            if running:
                self.set_font("Helvetica", size=8)
                self.cell(0, 8, latin1(running), align="C")
                self.ln(12)

        def footer(self) -> None:
            if numbers:
                self.set_y(-15)
                self.set_font("Helvetica", size=8)
                self.cell(0, 10, str(self.page_no()), align="C")

    pdf = Document(format="A4")
    if metadata_title:
        pdf.set_title(latin1(title))
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 8, latin1(title))
    pdf.ln(4)
    pdf.set_font("Helvetica", size=font_size)
    for chunk in [[p] for p in paragraphs] if page_each else [paragraphs]:
        if page_each and pdf.get_y() > 40:
            pdf.add_page()
        with pdf.text_columns(ncols=columns, gutter=8, text_align="J", line_height=1.6) as cols:
            for text in chunk:
                text = latin1(text)
                cols.write(text=_hyphenable(text) if hyphenate else text)
                cols.ln()
                cols.ln()
    pdf.output(str(path))
    return path


def make_image_pdf(path: Path) -> Path:
    """A PDF whose only page is a picture (as a scan is): no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(image).text((40, 40), "A scanned page: these words are pixels", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.image(buffer, x=10, y=10, w=180)
    pdf.output(str(path))
    return path


def make_encrypted_pdf(path: Path, title: str, paragraphs: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, latin1("\n\n".join([title, *paragraphs])))
    pdf.output(str(path))
    return path


def make_docx(path: Path, title: str, paragraphs: list[str], *, table: list[list[str]] | None = None) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table):
            for cell, value in zip(row.cells, values):
                cell.text = value
    document.save(str(path))
    return path


def make_epub(path: Path, title: str, paragraphs: list[str], *, chapters: int = 2) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("seed-article")
    book.set_title(title)
    book.set_language("en")
    per = -(-len(paragraphs) // chapters)
    items = []
    for n in range(chapters):
        chunk = paragraphs[n * per : (n + 1) * per]
        body = "".join(f"<p>{_escape(p)}</p>" for p in chunk)
        item = epub.EpubHtml(title=f"Part {n + 1}", file_name=f"part{n + 1}.xhtml", lang="en")
        item.content = f"<html><body><h2>Part {n + 1}</h2>{body}</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
