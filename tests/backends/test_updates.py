"""Incremental builds, the same on every backend: what is embedded again, what is
written, an open library following the new generation, and a failed or killed build
leaving the published generation answering."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from corpus import build
from qa import Library

from ..conftest import ROOT, SEEDS
from ..test_atomic import _many_articles
from .conftest import location


@pytest.fixture
def follow(monkeypatch):
    """Open libraries look for a new generation at every call (a build here takes less than the period)."""
    from qa import library

    monkeypatch.setattr(library, "REFRESH_SECONDS", 0.0)


def test_incremental_builds_embed_only_new_text_and_the_open_library_follows(backend, tmp_path, embedder, follow):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in winter.\n\nBoats wait for spring.\n")
    where = location(tmp_path, backend)
    build([docs], where)
    with Library.open(where) as lib:
        first = lib.generation
        (docs / "b.txt").write_text("Lighthouses\n\nThe lighthouse guards the rocky cape of Zennor.\n")
        report = build([docs], where)
        assert (report.new_articles, report.unchanged_articles, report.embedded, report.reused) == (1, 1, 1, 0)
        assert lib.generation != first and lib.generation == report.generation
        assert lib.search("lighthouse rocky cape", k=1)[0].title == "Lighthouses"
        (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in winter.\n\nBoats wait for the summer.\n")
        report = build([docs], where)  # a changed paragraph: only it is embedded again
        assert (report.changed_articles, report.embedded, report.reused, report.removed_paragraphs) == (1, 1, 1, 2)
        assert lib.search("boats summer", k=1, mode="keyword")[0].text == "Boats wait for the summer."
        assert not [h for h in lib.search("boats spring", k=5, mode="keyword") if "spring" in h.text]
        (docs / "a.txt").unlink()
        report = build([docs], where)
        assert (report.removed_articles, report.embedded, report.removed_paragraphs) == (1, 0, 2)
        assert lib.info()["articles"] == 1 and lib.info()["paragraphs"] == 1
        assert lib.search("Severn meadows", k=5, mode="keyword") == []
    assert build([docs], where).up_to_date
    rebuilt = build(None, where, rebuild=True)  # the index's own sources
    assert (rebuilt.articles, rebuilt.embedded, rebuilt.reused) == (1, 1, 0)
    with Library.open(where) as lib:
        assert lib.search("lighthouse rocky cape", k=1)[0].title == "Lighthouses"


def test_an_edit_writes_as_many_rows_whatever_the_corpus_size(backend, tmp_path, embedder):
    """What an edit costs does not grow with the corpus: the engines that count the rows
    they write write as many for one edited article beside 3 articles as beside 40."""
    written = []
    for n in (3, 40):
        docs = tmp_path / f"docs{n}"
        _many_articles(docs, n)
        where = location(tmp_path, backend, f"index{n}")
        build([docs], where)
        edited = docs / "001.txt"
        edited.write_text(edited.read_text().replace("Article 1\n", "Article 1 (updated)\n", 1) + "\n\nA paragraph added later.\n")
        report = build([docs], where)
        assert report.changed_articles == 1 and report.embedded == 7 and report.unchanged_articles == n - 1
        written.append(report.rows_written)
    if backend == "folder":
        assert written == [None, None]  # a folder generation is files: it counts no rows
    else:
        assert written[0] == written[1] and 0 < written[0] < 60, written


def _seed_answers(where) -> tuple[int, int]:
    with Library.open(where) as lib:
        return lib.search("drowning dissenters", k=1)[0].paragraph, lib.info()["articles"]


DRAFTS = {"folder": "corpus.backends.folder.writer.FolderDraft", "milvus": "corpus.backends.milvus.writer.MilvusDraft"}


@pytest.mark.parametrize("stage", ["manifest", "finish"])
def test_a_failed_build_leaves_the_published_generation(backend, tmp_path, embedder, monkeypatch, stage):
    where = location(tmp_path, backend)
    docs = tmp_path / "docs"
    _many_articles(docs, 3)
    build([SEEDS, docs], where)
    with Library.open(where) as lib:
        published = lib.generation

    def fail(*args, **kwargs):
        raise OSError("disk full")

    (docs / "000.txt").unlink()  # a removed article, a changed one and a new one
    (docs / "001.txt").write_text("Article 1\n\nA new text for the first article.\n")
    (docs / "new.txt").write_text("Lighthouses\n\nThe lighthouse guards the rocky cape of Zennor.\n")
    # after every row is written (the manifest), or while the last are (the backend's draft)
    if stage == "manifest":
        monkeypatch.setattr(importlib.import_module("corpus.build"), "_manifest", fail)
    else:
        monkeypatch.setattr(DRAFTS[backend] + ".finish", fail)
    with pytest.raises(OSError):
        build([SEEDS, docs], where)
    monkeypatch.undo()
    with Library.open(where) as lib:
        assert lib.generation == published and _seed_answers(where) == (2, 4)
        assert lib.search("lighthouse rocky cape", k=3, mode="keyword") == []
        assert lib.article("docs/000.txt") is not None
    report = build([SEEDS, docs], where)
    assert (report.new_articles, report.changed_articles, report.removed_articles) == (1, 1, 1)
    with Library.open(where) as lib:
        assert _seed_answers(where) == (2, 4) and lib.info()["paragraphs"] == 12 + 6 + 1 + 1
        assert lib.search("lighthouse rocky cape", k=1)[0].title == "Lighthouses"
        assert lib.article("docs/000.txt") is None


@pytest.mark.parametrize("delay", [3.0, 8.0])
def test_sigkill_mid_build_leaves_the_published_generation(backend, tmp_path, embedder, delay):
    where = location(tmp_path, backend)
    docs = tmp_path / "docs"
    _many_articles(docs, 120)
    build([SEEDS], where)
    with Library.open(where) as lib:
        published = lib.generation
    # the killed build drops the seed article and adds 120: its marks must be undone too
    proc = subprocess.Popen(
        [sys.executable, "-c", "from qa.cli import main; main()", "build", str(docs), "--index", where],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(delay)
        children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _, alive = psutil.wait_procs(children, timeout=30)  # helper processes go with the build
        assert not alive, [c.cmdline() for c in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode == -signal.SIGKILL:
        with Library.open(where) as lib:
            assert lib.generation == published
        assert _seed_answers(where) == (2, 1)
    report = build([SEEDS, docs], where)
    assert report.articles == 121
    assert _seed_answers(where) == (2, 121)
