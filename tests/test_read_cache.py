"""An incremental build reads again only the source files that changed (corpus.read_cache),
and never trusts what it cannot check: a file changed in place behind the same size and time,
a file modified just before it was read, another generation, a damaged cache."""

from __future__ import annotations

import os
import time

import pytest

from corpus import build, sources
from corpus.read_cache import ReadCache
from qa import Library

from .conftest import SEED_FILE


@pytest.fixture
def opened(monkeypatch):
    """The source files the builds of a test open (their paths, in order)."""
    seen: list[str] = []
    real = sources.read_file

    def counting(path, article_id, on_page=None):
        seen.append(path.name)
        return real(path, article_id, on_page)

    monkeypatch.setattr(sources, "read_file", counting)
    return seen


def _aged(path, seconds: float = 60.0) -> None:
    """Date a file's modification ``seconds`` back: not one written just now (see RACY_NS)."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def _docs(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in winter.\n")
    (docs / "b.md").write_text("# Lighthouses\n\nThe lighthouse guards the rocky cape of Zennor.\n")
    (docs / "c.jsonl").write_text('{"id": "c1", "title": "Orchards", "text": "Cider apples ripen in October."}\n'
                                  '{"id": "c2", "title": "Bees", "text": "Bees sleep in the hive in winter."}\n')
    for file in docs.iterdir():
        _aged(file)
    return docs


def test_unchanged_files_are_not_read_again(tmp_path, embedder, opened):
    docs, index = _docs(tmp_path), tmp_path / "index"
    build([docs], index)
    assert sorted(opened) == ["a.txt", "b.md", "c.jsonl"]
    opened.clear()
    report = build([docs], index)
    assert report.up_to_date and report.articles == 4 and opened == []

    (docs / "b.md").write_text("# Lighthouses\n\nThe lighthouse guards the stormy cape of Zennor.\n")
    _aged(docs / "b.md", 30)
    report = build([docs], index)
    assert opened == ["b.md"]
    assert (report.changed_articles, report.unchanged_articles, report.embedded) == (1, 3, 1)
    with Library.open(index) as lib:
        assert lib.search("stormy cape", k=1, mode="keyword")[0].title == "Lighthouses"
        assert {h.title for h in lib.search("winter", k=5, mode="keyword")} == {"Rivers", "Bees"}

    opened.clear()
    (docs / "a.txt").unlink()
    report = build([docs], index)
    assert opened == [] and report.removed_articles == 1 and report.articles == 3


def test_a_file_rewritten_behind_the_same_size_and_time_is_read_again(tmp_path, embedder, opened):
    """The change time and inode are part of what is compared: restoring the modification
    time of a file edited in place (as some tools do) does not hide the edit."""
    docs, index = _docs(tmp_path), tmp_path / "index"
    build([docs], index)
    file = docs / "a.txt"
    before = file.stat()
    file.write_text(file.read_text().replace("winter", "spring"))  # same length
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert file.stat().st_size == before.st_size and file.stat().st_mtime_ns == before.st_mtime_ns
    opened.clear()
    report = build([docs], index)
    assert "a.txt" in opened and report.changed_articles == 1


def test_a_file_modified_just_before_it_was_read_is_read_again(tmp_path, embedder, opened):
    docs, index = _docs(tmp_path), tmp_path / "index"
    (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows.\n")  # now: too recent to trust its time
    build([docs], index)
    opened.clear()
    build([docs], index)
    assert opened == ["a.txt"]
    (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in March.\n")  # again just now
    assert build([docs], index).changed_articles == 1
    opened.clear()
    build([docs], index)
    assert opened == ["a.txt"]  # the others still known: the cache follows the new generation
    _aged(docs / "a.txt")
    opened.clear()
    build([docs], index)
    assert opened == ["a.txt"]  # its time changed: read, and from now on known
    opened.clear()
    build([docs], index)
    assert opened == []


def test_files_that_gave_notes_or_skips_are_read_and_reported_every_time(tmp_path, embedder, opened):
    docs, index = _docs(tmp_path), tmp_path / "index"
    (docs / "latin1.txt").write_bytes("Caf\xe9s\n\nThe caf\xe9 opens at dawn.\n".encode("latin-1"))
    (docs / "empty.txt").write_text("")
    for file in docs.iterdir():
        _aged(file)
    build([docs], index)
    opened.clear()
    report = build([docs], index)
    assert sorted(opened) == ["empty.txt", "latin1.txt"]
    assert any("latin1.txt" in note for note in report.notes)
    assert any(s.path.endswith("empty.txt") for s in report.skipped)


def test_the_cache_is_trusted_only_for_the_generation_it_was_written_with(tmp_path, embedder, opened):
    docs, index = _docs(tmp_path), tmp_path / "index"
    build([docs], index)
    opened.clear()
    build([docs], index, rebuild=True)  # a rebuild reads everything
    assert sorted(opened) == ["a.txt", "b.md", "c.jsonl"]

    # a generation published without the cache's knowledge (its write failed): not trusted
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReadCache, "save", lambda *args: None)
        (docs / "b.md").write_text("# Lighthouses\n\nThe lighthouse guards the stormy cape of Zennor.\n")
        _aged(docs / "b.md", 30)
        assert build([docs], index).changed_articles == 1
    opened.clear()
    report = build([docs], index)
    assert sorted(opened) == ["a.txt", "b.md", "c.jsonl"] and report.up_to_date
    opened.clear()
    build([docs], index)
    assert opened == []

    cache = ReadCache.for_index(str(index.resolve()), "x").file
    for damage in ("{not json", '{"files": 3}', "[]"):
        cache.write_text(damage)
        opened.clear()
        report = build([docs], index)
        assert sorted(opened) == ["a.txt", "b.md", "c.jsonl"] and report.up_to_date


def test_a_single_file_source_is_known_too(tmp_path, embedder, opened):
    index = tmp_path / "index"
    build([SEED_FILE], index)
    opened.clear()
    assert build([SEED_FILE], index).up_to_date
    assert opened == []  # the bundled seed is older than two seconds


def test_the_published_hashes_come_from_the_cache_only_when_it_knows_them_all(tmp_path, embedder, monkeypatch):
    """Reading every article's hash back from the index costs seconds at a million articles
    on Milvus Lite: the cache answers instead, when its articles give the published
    generation's fingerprint exactly; else the index is asked."""
    from corpus.backends.folder.writer import FolderDraft

    asked = []
    real = FolderDraft.article_hashes
    monkeypatch.setattr(FolderDraft, "article_hashes", lambda self: asked.append(1) or real(self))
    docs, index = _docs(tmp_path), tmp_path / "index"
    build([docs], index)
    asked.clear()
    (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in spring.\n")
    _aged(docs / "a.txt", 30)
    assert build([docs], index).changed_articles == 1 and asked == []  # all four known
    (docs / "d.txt").write_text("Deltas\n\nThe delta silts up every year.\n")  # just now: not kept
    assert build([docs], index).new_articles == 1 and asked == []
    report = build([docs], index)  # the cache lacks d.txt's article: the index is asked
    assert report.up_to_date and asked == [1]
