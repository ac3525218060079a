"""A build killed at any point, or failing at publication, leaves the previous index working."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from corpus import build
from corpus.backends.folder.index import current_generation
from qa import Library

from .conftest import ROOT, SEEDS

WORDS = "river harbour council budget school museum railway festival election hospital market bridge".split()


def _many_articles(folder, n):
    folder.mkdir()
    for i in range(n):
        paragraphs = [" ".join(WORDS[(i + j + k) % len(WORDS)] for k in range(40)) + "." for j in range(6)]
        (folder / f"{i:03d}.txt").write_text(f"Article {i}\n\n" + "\n\n".join(paragraphs))


def _seed_answers(index):
    with Library.open(index) as lib:
        hits = lib.search("drowning dissenters", k=1)
        return hits[0].paragraph, lib.info()["articles"]


# The keyword index is written by a child process from 2,000 paragraphs on; these builds are
# smaller, so the command lowers that bound to kill builds whose child is running too.
BUILD_WITH_WRITER_PROCESS = "import corpus.backends.folder.writer as f; f.KEYWORD_PROCESS_MIN_ROWS = 0; from qa.cli import main; main()"


@pytest.mark.parametrize("delay", [0.3, 2.0, 5.0])
def test_sigkill_mid_build_keeps_the_previous_index(tmp_path, delay):
    index = tmp_path / "index"
    build([SEEDS], index)
    published = current_generation(index)
    docs = tmp_path / "docs"
    _many_articles(docs, 120)

    proc = subprocess.Popen(
        [sys.executable, "-c", BUILD_WITH_WRITER_PROCESS, "build", str(SEEDS), str(docs), "--index", str(index)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".tmp-") for p in index.iterdir()):
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(delay)
        children = []
        if proc.poll() is None:
            children = psutil.Process(proc.pid).children(recursive=True)
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        # a keyword writer still running sees its stdin close and exits too
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [c.cmdline() for c in alive]
    finally:
        if proc.poll() is None:
            proc.kill()

    if proc.returncode == -signal.SIGKILL:
        assert current_generation(index) == published
        assert _seed_answers(index) == (2, 1)
    # either way the index opens and answers, and the next build succeeds and cleans up
    report = build([SEEDS, docs], index)
    assert report.articles == 121
    assert not any(p.name.startswith(".tmp-") for p in index.iterdir())
    assert _seed_answers(index) == (2, 121)


@pytest.fixture
def seeded(tmp_path):
    """A published seed index, and a folder of three more articles to build with."""
    index = tmp_path / "index"
    build([SEEDS], index)
    docs = tmp_path / "docs"
    _many_articles(docs, 3)
    return index, current_generation(index), docs


def _assert_untouched(index, published):
    assert current_generation(index) == published
    assert _seed_answers(index) == (2, 1)
    assert [p.name for p in index.iterdir() if p.name.startswith((".tmp-", "g-"))] == [published.name]


def test_failure_while_publishing_keeps_the_previous_index(seeded, monkeypatch):
    index, published, docs = seeded
    real_replace = os.replace

    def broken_replace(src, dst, *args, **kwargs):
        if os.path.basename(dst) == "CURRENT":
            raise OSError("disk full")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        build([SEEDS, docs], index)
    monkeypatch.undo()
    _assert_untouched(index, published)
    assert build([SEEDS, docs], index).articles == 4


def test_failure_while_embedding_keeps_the_previous_index(seeded, monkeypatch, embedder):
    index, published, docs = seeded

    def broken_encode(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(type(embedder), "encode", broken_encode)
    with pytest.raises(MemoryError):
        build([SEEDS, docs], index)
    monkeypatch.undo()
    _assert_untouched(index, published)


def test_failure_while_writing_the_keyword_index_keeps_the_previous_index(seeded, monkeypatch):
    from corpus.backends.folder.keyword import KeywordIndex

    index, published, docs = seeded

    def broken_update(*args, **kwargs):
        raise OSError("keyword index: disk full")

    monkeypatch.setattr(KeywordIndex, "update", broken_update)
    with pytest.raises(OSError, match="keyword index: disk full"):
        build([SEEDS, docs], index)
    monkeypatch.undo()
    _assert_untouched(index, published)


def test_failure_of_the_keyword_writer_process_keeps_the_previous_index(seeded, monkeypatch, tmp_path):
    import corpus.backends.folder.writer as folder_module
    from corpus import CorpusError

    index, published, docs = seeded
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'error: OSError: no space left for the keyword index' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(folder_module, "KEYWORD_PROCESS_MIN_ROWS", 0)
    monkeypatch.setattr(sys, "executable", str(broken))
    with pytest.raises(CorpusError, match="writing the keyword index failed: OSError: no space left"):
        build([SEEDS, docs], index)
    monkeypatch.undo()
    _assert_untouched(index, published)


def test_a_keyword_writer_that_cannot_start_keeps_the_previous_index(seeded, monkeypatch, tmp_path):
    import corpus.backends.folder.writer as folder_module
    from corpus import CorpusError

    index, published, docs = seeded
    monkeypatch.setattr(folder_module, "KEYWORD_PROCESS_MIN_ROWS", 0)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(CorpusError, match="writing the keyword index failed: cannot start .*no-such-python"):
        build([SEEDS, docs], index)
    monkeypatch.undo()
    _assert_untouched(index, published)
