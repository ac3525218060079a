from __future__ import annotations

import codecs
import json

import pytest

from corpus import Article, Skipped, SourceError, read_sources
from corpus.sources import decode

from .conftest import SEED_FILE, SEEDS


def _read(*paths):
    items = list(read_sources(paths))
    return [i for i in items if isinstance(i, Article)], [i for i in items if isinstance(i, Skipped)]


def test_seed_article_title_and_body():
    articles, skipped = _read(SEEDS)
    assert not skipped
    (article,) = articles
    assert article.title.startswith("ISIS Quashes Mosul Rebellion")
    assert article.id == f"seeds/{SEED_FILE.name}"
    assert article.source == f"seeds/{SEED_FILE.name}"  # as named, not where this machine keeps it
    assert "58 people by drowning" in article.text
    assert not article.text.startswith("ISIS Quashes")


def test_markdown_heading_is_stripped_from_title(tmp_path):
    (tmp_path / "a.md").write_text("# My title\n\nFirst.\n\nSecond.\n")
    (article,), _ = _read(tmp_path / "a.md")
    assert article.title == "My title"
    assert article.text == "First.\n\nSecond."


def test_one_line_file_is_its_own_body(tmp_path):
    (tmp_path / "note.txt").write_text("Only a line\n")
    (article,), _ = _read(tmp_path)
    assert article.title == article.text == "Only a line"


def test_binary_empty_and_unsupported_files_are_skipped_with_reasons(tmp_path):
    (tmp_path / "good.txt").write_text("Title\n\nBody text.\n")
    (tmp_path / "blob.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    (tmp_path / "empty.txt").write_text("   \n\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("Hidden\n\nnot read")
    articles, skipped = _read(tmp_path)
    assert [a.title for a in articles] == ["Title"]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert reasons == {"blob.txt": "binary file", "empty.txt": "empty file", "image.png": "unsupported file type .png"}


def test_a_file_too_large_for_one_article_is_skipped_unread(tmp_path):
    from corpus.sources import MAX_FILE_BYTES

    with open(tmp_path / "dump.txt", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: never read
    articles, (skipped,) = _read(tmp_path)
    assert not articles and skipped.reason.startswith("too large for one article")


def test_links_to_folders_are_listed_not_followed(tmp_path):
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "a.txt").write_text("Title\n\nBody text.\n")
    (tmp_path / "news" / "loop").symlink_to("..")
    articles, (skipped,) = _read(tmp_path)
    assert [a.id for a in articles] == [f"{tmp_path.name}/news/a.txt"]
    assert skipped.path.endswith("news/loop") and "not followed" in skipped.reason


def test_legacy_encoding_is_decoded_with_a_note(tmp_path):
    (tmp_path / "pound.txt").write_bytes("Price\n\nIt cost £5 and caf\xe9 au lait.\n".encode("latin-1"))
    (article,), skipped = _read(tmp_path)
    assert not skipped
    assert "£5" in article.text and "café" in article.text
    assert article.meta == {"encoding": "cp1252"}
    assert decode(b"\xef\xbb\xbfhi\r\nthere") == ("hi\nthere", "utf-8")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_with_a_byte_order_mark_are_read(tmp_path, encoding):
    """Windows tools write UTF-16; its NUL bytes must not make a text look binary."""
    text = "Café society\r\n\r\nThe café on the quay serves crêpes. Prices in £.\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    (tmp_path / "windows.txt").write_bytes(data)
    (article,), skipped = _read(tmp_path)
    assert not skipped
    assert article.title == "Café society" and article.text == "The café on the quay serves crêpes. Prices in £."
    assert article.meta == {"encoding": encoding[:6]}


def test_missing_source_raises():
    with pytest.raises(SourceError, match="not found"):
        list(read_sources(["/no/such/folder"]))


def test_jsonl_beir_shape_and_bad_lines(tmp_path):
    lines = [
        json.dumps({"_id": "d1", "title": "First", "text": "Alpha text."}),
        "{not json",
        json.dumps({"id": 7, "title": "Second", "text": "Beta.\n\nGamma.", "url": "https://example.org/b", "date": "2020-01-01"}),
        json.dumps({"title": "No text"}),
        json.dumps({"text": "Untitled first line\n\nbody"}),
        json.dumps(["a", "list"]),
        json.dumps({"_id": "d1", "title": "Dup", "text": "again"}),
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    articles, skipped = _read(tmp_path / "c.jsonl")
    assert [a.id for a in articles] == ["d1", "7", "c.jsonl:5"]
    assert articles[1].url == "https://example.org/b" and articles[1].date == "2020-01-01"
    assert articles[2].title == "Untitled first line" and articles[2].text == "body"
    assert [s.reason.split(":")[0] for s in skipped] == ["invalid JSON", "no text", "not a JSON object", "duplicate id 'd1'"]
    assert skipped[0].path.endswith("c.jsonl:2")


def test_html_is_extracted_with_title_and_date(tmp_path):
    page = """<html><head><title>Page - Site</title><meta name="date" content="2021-03-04"></head>
    <body><nav>Home | About</nav><article><h1>River floods town</h1>
    <p>The river rose two metres overnight and flooded the lower town, officials said on Tuesday.</p>
    <p>Residents were moved to the school hall <script>alert(1)</script> while the water receded.</p>
    </article><footer>Copyright</footer></body></html>"""
    (tmp_path / "story.html").write_text(page)
    (article,), skipped = _read(tmp_path)
    assert not skipped
    assert article.title == "River floods town"
    assert article.date == "2021-03-04"
    assert "two metres overnight" in article.text
    assert "alert(1)" not in article.text
    assert "Home | About" not in article.text
