"""The Milvus backend against the real engine (Milvus Lite 2.5, embedded): the same
library, the same answers, atomic publishing by alias, incremental updates."""

from __future__ import annotations

import json

import pytest

from corpus import build
from corpus.errors import CorpusError, IndexNotFoundError
from qa import Library

from .conftest import SEEDS

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install 'corpus-qa[milvus]')")
pytest.importorskip("milvus_lite", reason="Milvus Lite is not installed (pip install 'corpus-qa[milvus]')")


@pytest.fixture(scope="module")
def milvus_seed(tmp_path_factory, embedder):
    location = f"milvus:{tmp_path_factory.mktemp('milvus') / 'seed.db'}"
    report = build([SEEDS], location)
    assert report.articles == 1 and report.paragraphs == 12 and report.embedded == 12
    return location


def test_the_seed_searches_the_same_in_milvus(milvus_seed, seed_lib):
    with Library.open(milvus_seed) as lib:
        assert lib.info()["paragraphs"] == 12 and lib.manifest["backend"] == "milvus"
        for mode in ("keyword", "vector", "hybrid"):
            hits = lib.search("drowning dissenters", k=3, mode=mode)
            assert hits[0].paragraph == seed_lib.search("drowning dissenters", k=3, mode=mode)[0].paragraph, mode
            assert hits[0].text == seed_lib.search("drowning dissenters", k=3, mode=mode)[0].text
        first = lib.search("drowning dissenters", k=1)[0]
        assert first.highlights and first.article_id == seed_lib.search("drowning dissenters", k=1)[0].article_id
        assert lib.article(first.article_id).text == seed_lib.article(first.article_id).text
        assert [h.paragraph for h in lib.article_hits(first.article_id)] == list(range(1, 13))
        # vector search returns the very same cosines as FAISS
        ours = {h.paragraph: h.vector_score for h in lib.search("Abadi radio broadcast", k=5, mode="vector")}
        theirs = {h.paragraph: h.vector_score for h in seed_lib.search("Abadi radio broadcast", k=5, mode="vector")}
        assert ours.keys() == theirs.keys() and all(abs(ours[p] - theirs[p]) < 1e-4 for p in ours)
        # the answerer's term weights: the same document frequencies as the folder's (for words not in the title)
        ours, theirs = lib.query_terms("weapons transfer interrogation"), seed_lib.query_terms("weapons transfer interrogation")
        assert ours.keys() == theirs.keys() and all(abs(ours[t] - theirs[t]) < 1e-6 for t in ours)
        # stray syntax is read as words, never an error
        assert lib.search('title:(drowning AND "mass grave" NOT *', k=3)


def test_answers_from_milvus_quote_the_same_paragraph(milvus_seed, seed_lib):
    with Library.open(milvus_seed) as lib:
        answer = lib.ask("How many people did ISIS execute?")
        assert answer.answered and answer.quotes[0].hit.paragraph == 2 and "58" in answer.quotes[0].answer_text
        assert not lib.ask("Who won the 2018 World Cup?").answered


def test_incremental_update_publishes_by_alias_and_embeds_only_new_text(tmp_path, embedder, monkeypatch):
    from qa import library as library_module

    monkeypatch.setattr(library_module, "REFRESH_SECONDS", 0.0)  # a build here takes less than the refresh period
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in winter.\n\nBoats wait for spring.\n")
    location = f"milvus:{tmp_path / 'idx.db'}"
    build([docs], location)
    with Library.open(location) as lib:
        first = lib.generation
        (docs / "b.txt").write_text("Lighthouses\n\nThe lighthouse guards the rocky cape of Zennor.\n")
        report = build([docs], location)
        assert report.new_articles == 1 and report.unchanged_articles == 1 and report.embedded == 1
        assert lib.generation != first  # the open library follows the alias to the new generation
        assert lib.search("lighthouse rocky cape", k=1)[0].title == "Lighthouses"
        (docs / "a.txt").write_text("Rivers\n\nThe river Severn floods the meadows in winter.\n\nBoats wait for the summer.\n")
        report = build([docs], location)  # a changed paragraph: only it is embedded again
        assert report.changed_articles == 1 and report.embedded == 1 and report.reused == 1
        assert lib.search("boats summer", k=1, mode="keyword")[0].text == "Boats wait for the summer."
        (docs / "a.txt").unlink()
        report = build([docs], location)
        assert report.removed_articles == 1 and report.embedded == 0
        assert lib.info()["articles"] == 1 and lib.search("Severn meadows", k=5, mode="keyword") == []
    assert build([docs], location).up_to_date
    rebuilt = build(None, location, rebuild=True)  # the index's own sources, not seeds/
    assert rebuilt.articles == 1 and rebuilt.embedded == 1 and rebuilt.reused == 0


def test_a_killed_build_leaves_the_published_generation(tmp_path, embedder, monkeypatch):
    from corpus.backends import milvus

    location = f"milvus:{tmp_path / 'idx.db'}"
    build([SEEDS], location)
    with Library.open(location) as lib:
        published = lib.generation

    def fail(*args, **kwargs):
        raise OSError("disk full")

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "b.txt").write_text("Lighthouses\n\nThe lighthouse guards the rocky cape of Zennor.\n")
    monkeypatch.setattr(milvus.MilvusDraft, "finish", fail)
    with pytest.raises(OSError):
        build([SEEDS, docs], location)
    monkeypatch.undo()
    with Library.open(location) as lib:
        assert lib.generation == published and lib.info()["articles"] == 1
    report = build([SEEDS, docs], location)
    assert report.new_articles == 1 and report.embedded == 1
    backend = milvus.MilvusBackend(location)
    assert len(backend.sets()) == 1  # an incremental build writes into the published set


def test_milvus_locations_are_checked(tmp_path):
    with pytest.raises(CorpusError, match=r"\.db"):
        Library.open(f"milvus:{tmp_path / 'x.sqlite'}")
    with pytest.raises(IndexNotFoundError):
        Library.open(f"milvus:{tmp_path / 'empty.db'}")
    with pytest.raises(IndexNotFoundError, match="no Milvus Lite file"):
        Library.open(f"milvus:{tmp_path / 'nowhere' / 'nope.db'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # reading made nothing: no file, no folder
    with pytest.raises(CorpusError, match="not a Milvus name"):
        Library.open("milvus://localhost:19530/bad-name")


def test_cli_builds_and_searches_a_milvus_index(tmp_path, embedder):
    from typer.testing import CliRunner

    from qa.cli import app

    location = f"milvus:{tmp_path / 'cli.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["build", str(SEEDS), "--index", location])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["search", "drowning dissenters", "--index", location, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["hits"][0]["paragraph"] == 2
    result = runner.invoke(app, ["info", "--index", location])
    assert result.exit_code == 0 and "milvus" in result.output


def test_the_dense_index_type_is_chosen_by_configuration(tmp_path, embedder, monkeypatch):
    location = f"milvus:{tmp_path / 'ivf.db'}"
    monkeypatch.setenv("CORPUS_MILVUS_INDEX", "ivf_flat")
    build([SEEDS], location)
    with Library.open(location) as lib:
        assert lib.info()["vector_index"] == "IVF_FLAT"
        assert lib.search("drowning dissenters", k=1, mode="vector")[0].paragraph == 2
    monkeypatch.setenv("CORPUS_MILVUS_INDEX", "DISKANN-ISH")
    with pytest.raises(CorpusError, match="CORPUS_MILVUS_INDEX"):
        build([SEEDS], f"milvus:{tmp_path / 'other.db'}")


def test_without_the_extra_a_milvus_location_names_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pymilvus", None)  # as if it were not installed
    with pytest.raises(CorpusError, match=r"corpus-qa\[milvus\]"):
        Library.open(f"milvus:{tmp_path / 'x.db'}")
    with pytest.raises(CorpusError, match=r"corpus-qa\[milvus\]"):
        build([SEEDS], f"milvus:{tmp_path / 'x.db'}")


@pytest.mark.parametrize("delay", [4.0, 9.0])
def test_sigkill_mid_build_keeps_the_published_generation(tmp_path, embedder, delay):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from .conftest import ROOT
    from .test_atomic import _many_articles

    location = f"milvus:{tmp_path / 'idx.db'}"
    build([SEEDS], location)
    with Library.open(location) as lib:
        published = lib.generation
    docs = tmp_path / "docs"
    _many_articles(docs, 120)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from qa.cli import main; main()", "build", str(SEEDS), str(docs), "--index", location],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(delay)
        children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _, alive = psutil.wait_procs(children, timeout=30)  # Milvus Lite's server goes with its process
        assert not alive, [c.cmdline() for c in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
    with Library.open(location) as lib:
        if proc.returncode == -signal.SIGKILL:
            assert lib.generation == published and lib.info()["articles"] == 1
        assert lib.search("drowning dissenters", k=1)[0].paragraph == 2
    report = build([SEEDS, docs], location)
    assert report.articles == 121
    with Library.open(location) as lib:
        assert lib.info()["articles"] == 121 and lib.search("drowning dissenters", k=1)[0].paragraph == 2


def test_a_pdf_keeps_its_pages_in_milvus(tmp_path, embedder):
    pytest.importorskip("fpdf", reason="fpdf2 makes the test PDF (the test extra)")
    from .documents import make_pdf, seed_article

    folder = tmp_path / "papers"
    folder.mkdir()
    title, paragraphs = seed_article()
    make_pdf(folder / "seed.pdf", title, paragraphs, columns=2)
    location = f"milvus:{tmp_path / 'papers.db'}"
    build([folder], location)
    with Library.open(location) as lib:
        hit = lib.search("raise the flag of Iraq in the center of Mosul", k=1)[0]
        article = lib.article(hit.article_id)
        assert len(article.pages) >= 2 and hit.page == article.page_at(hit.start) == 2
        assert lib.ask("How many people did ISIS execute?").sources[0].page == 1


def test_the_int8_encoder_builds_and_answers_on_milvus_from_the_cache(tmp_path, embedder, monkeypatch):
    """Milvus keeps no files: the int8 encoder lives in the cache, by the model's fingerprint,
    recorded with its SHA-256; a cache without it exports it again, the same file."""
    from corpus.embed import int8_encoder_file
    from corpus.errors import ModelMismatchError

    monkeypatch.setenv("CORPUS_CACHE", str(tmp_path / "cache"))
    folder_index = tmp_path / "folder"
    build([SEEDS], folder_index, encoder="onnx-int8")
    location = f"milvus:{tmp_path / 'int8.db'}"
    build([SEEDS], location, encoder="onnx-int8")
    file = int8_encoder_file()
    with Library.open(location) as lib, Library.open(folder_index) as folder:
        record = lib.manifest["encoder"]
        assert record["kind"] == "onnx-int8" and record["file"] is None and record["cache"] == file.name
        assert lib.manifest["model"]["encoder"] == "onnx-int8"
        hits, same = lib.search("drowning dissenters", k=5, mode="vector"), folder.search("drowning dissenters", k=5, mode="vector")
        assert [h.paragraph for h in hits] == [h.paragraph for h in same]
        assert [round(h.score, 4) for h in hits] == [round(h.score, 4) for h in same]  # the same int8 vectors
        assert lib.ask("How many people did ISIS execute?").answered
    file.unlink()  # another machine's cache: exported again, the same bytes
    with Library.open(location) as lib:
        assert lib.search("drowning dissenters", k=1, mode="vector")[0].paragraph == hits[0].paragraph
    file.write_bytes(b"other weights")
    with Library.open(location) as lib, pytest.raises(ModelMismatchError):
        lib.search("drowning dissenters", k=1, mode="vector")
