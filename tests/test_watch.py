"""Folders that stay indexed: a watcher builds a moment after its sources change, and the
served index follows; files written slowly are read whole; a killed build changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from corpus import build
from corpus.backend import open_reader
from qa import Library

from .conftest import ROOT, SEED_FILE

pytest.importorskip("watchfiles")

HONEY = "Beekeeping notes\n\nOur hives on the hill produced 48 jars of heather honey this year.\n"


def _until(condition, timeout: float = 20.0, step: float = 0.1):
    """Wait for ``condition()`` to be truthy; the seconds it took (fails after ``timeout``)."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(step)


def _finds(lib: Library, words: str, needle: str) -> bool:
    hits = lib.search(words, k=3, mode="keyword")
    return any(needle in h.text for h in hits)


@pytest.fixture
def folder(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs)
    build([docs], tmp_path / "index")
    return docs, tmp_path / "index"


def test_added_renamed_and_removed_files_follow_within_seconds(folder):
    from corpus.watch import Watcher

    docs, index = folder
    builds = []
    watcher = Watcher(index, on_build=builds.append).start()
    try:
        with Library.open(index) as lib:
            assert watcher.ready.wait(10)  # the watch has begun
            (docs / "honey.txt").write_text(HONEY)
            assert _until(lambda: _finds(lib, "heather honey jars", "48 jars")) < 10
            (docs / "honey.txt").rename(docs / "bees.txt")
            _until(lambda: "docs/bees.txt" in lib.article_ids() and "docs/honey.txt" not in lib.article_ids())
            (docs / "bees.txt").unlink()
            assert _until(lambda: not _finds(lib, "heather honey jars", "48 jars")) < 10
            assert lib.article_ids() == [f"docs/{SEED_FILE.name}"]
    finally:
        watcher.stop()
    assert len(builds) >= 3 and all(not b.up_to_date for b in builds)


def test_a_change_before_the_watch_begins_is_caught_up(folder):
    """What changes between the build and the moment the watch begins is not missed."""
    from corpus.watch import Watcher

    docs, index = folder
    watcher = Watcher(index)
    (docs / "honey.txt").write_text(HONEY)  # before the watch begins
    watcher.start()
    try:
        with Library.open(index) as lib:
            _until(lambda: _finds(lib, "heather honey jars", "48 jars"))
    finally:
        watcher.stop()


def test_a_file_written_slowly_is_indexed_whole(folder):
    """Chunks a third of a second apart: the build waits until the file stops changing."""
    from corpus.watch import Watcher

    docs, index = folder
    seen: list[str] = []

    def record(report):
        reader = open_reader(index)
        try:
            article = reader.article("docs/diary.txt")
            seen.append(article.text if article else "")
        finally:
            reader.close()

    watcher = Watcher(index, on_build=record).start()
    lines = [f"Entry {n}: the hives swarmed on day {n} and we counted {10 * n} frames." for n in range(8)]
    try:
        assert watcher.ready.wait(10)
        with open(docs / "diary.txt", "w", encoding="utf-8") as handle:
            handle.write("Beekeeping diary\n\n")
            for line in lines:
                handle.write(line + "\n\n")
                handle.flush()
                time.sleep(0.3)
        _until(lambda: seen and seen[-1].count("Entry ") == len(lines))
    finally:
        watcher.stop()
    assert seen and all(text.count("Entry ") == len(lines) for text in seen), [t.count("Entry ") for t in seen]


def test_a_change_during_a_build_starts_the_next_one(folder, monkeypatch):
    """A file written while the watcher is still busy with a build (after that build read
    its sources) is indexed by the next build."""
    import corpus.watch
    from corpus.watch import Watcher

    docs, index = folder
    real_build = corpus.watch.build
    calls = []

    def build_then_change(*args, **kwargs):
        report = real_build(*args, **kwargs)
        if not calls:
            (docs / "wax.txt").write_text("Candle notes\n\nThe wax from the old frames made 12 candles.\n")
            time.sleep(0.5)  # still busy with this build
        calls.append(report)
        return report

    monkeypatch.setattr(corpus.watch, "build", build_then_change)
    watcher = Watcher(index).start()
    try:
        with Library.open(index) as lib:
            assert watcher.ready.wait(10)
            (docs / "honey.txt").write_text(HONEY)
            _until(lambda: _finds(lib, "candles wax frames", "12 candles"))
            assert _finds(lib, "heather honey jars", "48 jars")
    finally:
        watcher.stop()
    assert len(calls) == 2 and calls[0].new_articles == 1 and calls[1].new_articles == 1


def test_a_failed_build_leaves_the_index_and_the_watch_goes_on(folder):
    from corpus.watch import Watcher

    docs, index = folder
    errors: list[str] = []
    watcher = Watcher(index, on_error=errors.append).start()
    try:
        with Library.open(index) as lib:
            assert watcher.ready.wait(10)
            seed = docs / SEED_FILE.name
            seed.rename(docs.parent / SEED_FILE.name)  # the folder is empty: a build finds no article
            _until(lambda: errors)
            assert "no articles found" in errors[0]
            assert _finds(lib, "drowning dissenters", "Mosul")  # still answering from what it had
            (docs / "honey.txt").write_text(HONEY)
            _until(lambda: _finds(lib, "heather honey jars", "48 jars"))
    finally:
        watcher.stop()


def test_an_index_inside_its_own_sources_does_not_rebuild_itself(tmp_path, embedder):
    from corpus.watch import Watcher

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs)
    build([docs], docs / "index")
    builds = []
    watcher = Watcher(docs / "index", on_build=builds.append).start()
    try:
        assert watcher.ready.wait(10)
        (docs / "honey.txt").write_text(HONEY)
        _until(lambda: builds)
        time.sleep(3)  # its own publish is no change to build again
    finally:
        watcher.stop()
    assert len(builds) == 1


def _corpus(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from qa.cli import main; main()", *args], cwd=ROOT,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}, start_new_session=True, **kwargs)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_serve_watch_finds_a_copied_file_and_forgets_a_deleted_one(folder, tmp_path):
    from .test_ui import _free_port, _wait_served

    docs, index = folder
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = _corpus("serve", "--index", str(index), "--port", str(port), "--watch", stdout=out, stderr=subprocess.STDOUT)
    try:
        server = f"http://127.0.0.1:{port}/"
        _wait_served(server, proc, log.read_text)
        search = server + "api/search?q=heather+honey+jars&k=1&mode=keyword"
        shutil.copy(SEED_FILE, docs / "copy-of-seed.txt")  # a copy: folded into the seed's hits, found by id
        (docs / "honey.txt").write_text(HONEY)
        took = _until(lambda: any("48 jars" in h["text"] for h in _get(search)["hits"]), timeout=30)
        assert took < 10, took
        (docs / "honey.txt").unlink()
        took = _until(lambda: not any("48 jars" in h["text"] for h in _get(search)["hits"]), timeout=30)
        assert took < 10, took
        assert "watching" in log.read_text() and "Traceback" not in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_watching_build_killed_midway_leaves_the_served_index_answering(folder, tmp_path):
    docs, index = folder
    published = (index / "CURRENT").read_text()
    log = tmp_path / "build.log"
    with Library.open(index) as lib, open(log, "wb") as out:
        proc = _corpus("build", "--index", str(index), "--watch", stdout=out, stderr=subprocess.STDOUT)
        try:
            _until(lambda: "watching" in log.read_text(), timeout=120)  # said once the watch has begun
            # an article long enough that its build writes for seconds, not the few milliseconds
            # one short paragraph takes (a poll could miss that window entirely)
            notes = "\n\n".join(f"Hive {n} on the hill gave {n % 7 + 2} jars of clover honey in week {n}." for n in range(400))
            (docs / "honey.txt").write_text(HONEY + "\n" + notes + "\n")
            _until(lambda: any(p.name.startswith(".tmp-") for p in index.iterdir()), timeout=30, step=0.02)  # a build is writing
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert (index / "CURRENT").read_text() == published
        assert _finds(lib, "drowning dissenters", "Mosul")  # the served index answers as before
    restarted = _corpus("build", "--index", str(index), "--watch", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Library.open(index) as lib:
            _until(lambda: _finds(lib, "heather honey jars", "48 jars"), timeout=120)  # its first build picks the file up
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(timeout=30)


def test_build_watch_refuses_a_missing_source(tmp_path):
    from typer.testing import CliRunner

    from qa.cli import app

    result = CliRunner().invoke(app, ["build", str(tmp_path / "nowhere"), "--index", str(tmp_path / "index"), "--watch"])
    assert result.exit_code == 1 and "not found" in result.output


def test_the_chat_header_says_when_the_index_was_last_updated(folder):
    from ui.app import header_text

    docs, index = folder
    with Library.open(index) as lib:
        before = header_text(lib)
        assert "updated " in before and "1 article" in before
        time.sleep(1.1)  # generations are named to the second
        (docs / "honey.txt").write_text(HONEY)
        build([docs], index)
        _until(lambda: "2 articles" in header_text(lib), timeout=10)
        assert header_text(lib) != before


