"""PDF, Word and EPUB sources, made by real writers (fpdf2, python-docx, ebooklib), read into
articles whose paragraphs and pages are those of the document."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from corpus.documents import Article, Skipped
from corpus.sources import read_file, read_sources

from .documents import latin1, make_docx, make_encrypted_pdf, make_epub, make_image_pdf, make_pdf, seed_article

pytest.importorskip("fpdf", reason="fpdf2 makes the test PDFs (the test extra)")

TITLE, PARAGRAPHS = seed_article()


def _one(path) -> Article | Skipped:
    (item,) = list(read_file(path, path.name))
    return item


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def two_column(tmp_path_factory):
    return make_pdf(tmp_path_factory.mktemp("pdf") / "two-column.pdf", TITLE, PARAGRAPHS, columns=2, running="Newsweek | World", hyphenate=True)


def test_a_two_column_pdf_reads_as_its_paragraphs_in_order(two_column):
    article = _one(two_column)
    assert isinstance(article, Article)
    assert article.title == latin1(TITLE)
    paragraphs = article.text.split("\n\n")
    # each paragraph whole and in order: columns read left then right, lines joined, words
    # hyphenated at a line end made whole, the running header and page numbers gone
    assert [_words(p) for p in paragraphs] == [_words(latin1(p)) for p in PARAGRAPHS] or _words(article.text) == _words(latin1(" ".join(PARAGRAPHS)))
    assert "spearheaded" in article.text and "Newsweek | World" not in article.text
    assert not any(p.strip().isdigit() for p in paragraphs)


def test_a_pdf_keeps_where_each_page_begins(two_column):
    article = _one(two_column)
    assert len(article.pages) >= 2 and article.pages[0] == 0
    assert list(article.pages) == sorted(article.pages) and article.pages[-1] < len(article.text)
    assert article.page_at(0) == 1 and article.page_at(len(article.text) - 1) == len(article.pages)


def test_the_title_comes_from_the_largest_heading_when_the_metadata_has_none(tmp_path):
    article = _one(make_pdf(tmp_path / "report.pdf", TITLE, PARAGRAPHS, metadata_title=False, running="Newsweek"))
    assert len(article.pages) >= 2  # so that the running header repeats, and goes
    assert article.title == latin1(TITLE)
    assert _words(article.text).startswith(_words(latin1(PARAGRAPHS[0])))


def test_unreadable_pdfs_are_skipped_with_their_reason(tmp_path):
    scan = _one(make_image_pdf(tmp_path / "scan.pdf"))
    locked = _one(make_encrypted_pdf(tmp_path / "locked.pdf", TITLE, PARAGRAPHS[:2]))
    whole = make_pdf(tmp_path / "whole.pdf", TITLE, PARAGRAPHS)
    (tmp_path / "cut.pdf").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    cut = _one(tmp_path / "cut.pdf")
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.7\nthis is no PDF at all\n")
    assert isinstance(scan, Skipped) and "no text layer" in scan.reason
    assert isinstance(locked, Skipped) and "encrypted" in locked.reason
    assert isinstance(cut, Skipped) and "damaged or truncated" in cut.reason
    assert _one(tmp_path / "empty.pdf").reason == "empty file"
    assert "not a readable PDF" in _one(tmp_path / "fake.pdf").reason


def test_a_long_pdf_is_read_page_by_page(tmp_path):
    """500 pages: every page reported as read (the build's progress bar moves), all the text kept."""
    import pypdfium2 as pdfium

    # the seed's paragraphs over and over, but for its one-line last one: a line repeated at
    # the top of many pages, set apart, is what a running header is
    paragraphs = [f"Section {n}. " + latin1(PARAGRAPHS[n % (len(PARAGRAPHS) - 1)]) for n in range(560)]
    path = make_pdf(tmp_path / "book.pdf", "A long report", paragraphs, page_each=True)
    pdf = pdfium.PdfDocument(str(path))
    pages = len(pdf)
    where = {n: next(i + 1 for i in range(pages) if f"Section {n}." in pdf[i].get_textpage().get_text_range()) for n in (3, 250, 559)}
    pdf.close()
    read = []
    (article,) = list(read_sources([path], on_page=lambda: read.append(1)))
    assert len(read) == len(article.pages) == pages >= 500
    assert article.text.count("Section ") == 560
    assert {n: article.page_at(article.text.index(f"Section {n}.")) for n in where} == where


def test_a_word_document_reads_its_paragraphs_and_tables(tmp_path):
    article = _one(make_docx(tmp_path / "seed.docx", TITLE, PARAGRAPHS, table=[["Place", "Fighters"], ["Mosul", "5,000"]]))
    assert article.title == TITLE
    paragraphs = article.text.split("\n\n")
    assert paragraphs[: len(PARAGRAPHS)] == [_words(p) for p in PARAGRAPHS]
    assert paragraphs[-2:] == ["Place | Fighters", "Mosul | 5,000"]
    assert article.pages == ()


def test_an_epub_reads_its_chapters_in_order_without_its_table_of_contents(tmp_path):
    article = _one(make_epub(tmp_path / "seed.epub", TITLE, PARAGRAPHS, chapters=3))
    assert article.title == TITLE
    paragraphs = [p for p in article.text.split("\n\n") if not p.startswith("Part ")]
    assert paragraphs == [_words(p) for p in PARAGRAPHS]
    assert article.text.count("Part 1") == 1  # the chapter's heading, not the contents' entry too


def test_broken_word_and_epub_files_are_skipped(tmp_path):
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "broken.epub").write_bytes(b"\x00\x01\x02")
    whole = make_docx(tmp_path / "whole.docx", TITLE, PARAGRAPHS)
    (tmp_path / "cut.docx").write_bytes(whole.read_bytes()[:2000])
    for name in ("broken.docx", "broken.epub", "cut.docx"):
        item = _one(tmp_path / name)
        assert isinstance(item, Skipped) and "not a readable" in item.reason, (name, item)


@pytest.fixture(scope="module")
def documents(tmp_path_factory, embedder, two_column):
    """A folder holding the seed's text as a two-column PDF, a Word file and an EPUB book, built."""
    from corpus import build

    folder = tmp_path_factory.mktemp("documents") / "papers"
    folder.mkdir()
    (folder / "seed.pdf").write_bytes(two_column.read_bytes())
    make_docx(folder / "seed.docx", TITLE, PARAGRAPHS)
    make_epub(folder / "seed.epub", TITLE, PARAGRAPHS)
    make_image_pdf(folder / "scan.pdf")
    index = folder.parent / "index"
    report = build([folder], index)
    assert report.articles == 3 and [s.path.rsplit("/", 1)[-1] for s in report.skipped] == ["scan.pdf"]
    return index


def test_every_document_answers_with_the_same_sentence_and_the_pdf_names_its_page(documents):
    from qa import Library

    with Library.open(documents) as lib:
        answer = lib.ask("How many people did ISIS execute?")
        assert answer.answered and "executed 58 people" in answer.quotes[0].text
        cited = {answer.sources[0].source, *answer.sources[0].also_in}
        assert cited >= {"papers/seed.pdf", "papers/seed.docx", "papers/seed.epub"}  # copies folded, each named
        for kind in ("pdf", "docx", "epub"):
            one = lib.ask("How many people did ISIS execute?", where=[f"source=*.{kind}"])
            assert one.answered and "executed 58 people" in one.quotes[0].text, kind
            source = one.sources[0]
            assert source.source == f"papers/seed.{kind}"
            assert (source.page is not None) == (kind == "pdf")
        pdf_source = lib.ask("How many people did ISIS execute?", where=["source=*.pdf"]).sources[0]
        assert pdf_source.page == 1 and pdf_source.place.endswith(", p. 1")
        hits = lib.search("raise the flag of Iraq in the center of Mosul", where=["source=*.pdf"], k=1)
        article = lib.article(hits[0].article_id)
        assert hits[0].page == article.page_at(hits[0].start) == 2  # the speech is on the second page
        assert hits[0].to_dict()["page"] == 2 and article.to_dict()["pages"] == list(article.pages)


def test_the_command_line_shows_the_page_of_a_pdf(documents):
    corpus = [sys.executable, "-c", "from qa.cli import main; main()"]
    out = subprocess.run([*corpus, "ask", "How many people did ISIS execute?", "--index", str(documents), "--where", "source=*.pdf"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "executed 58 people" in out.stdout and "paragraph 3, p. 1 — papers/seed.pdf" in out.stdout  # the caption's heading is paragraph 1
    search = subprocess.run([*corpus, "search", "flag of Iraq", "--index", str(documents), "--where", "source=*.pdf", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["hits"][0]["page"] == 2
