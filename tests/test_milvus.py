"""What only the Milvus backend has, against the real engine (Milvus Lite 2.5, embedded):
locations, the command line, index types, the extra, pages, the int8 encoder, the earlier
layout. What every backend must do is tested in tests/backends/."""

from __future__ import annotations

import json

import pytest

from corpus import build
from corpus.errors import CorpusError, IndexNotFoundError
from qa import Library

from .conftest import SEEDS

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install 'corpus-qa[milvus]')")
pytest.importorskip("milvus_lite", reason="Milvus Lite is not installed (pip install 'corpus-qa[milvus]')")


def test_an_index_of_the_earlier_layout_asks_for_a_rebuild_which_converts_it(tmp_path, embedder):
    """Before rows carried generations, each generation was a collection ``NAME__g…`` named by
    the pointer row: reading or updating one says to rebuild, and a rebuild drops them."""
    from corpus.backends.milvus.client import connect, parse_location, point_to

    location = f"milvus:{tmp_path / 'old.db'}"
    uri, name = parse_location(location)
    client = connect(uri, create=True)
    schema = client.create_schema(auto_id=False)
    from pymilvus import DataType

    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
    client.create_collection(f"{name}__g20260101T000000_abcdef", schema=schema, index_params=index)
    point_to(client, name, "unused", 1, alias=False)
    client.upsert(f"{name}{'__current'}", [{"key": "current", "content": f"{name}__g20260101T000000_abcdef", "dense": [0.0, 0.0]}])
    with pytest.raises(CorpusError, match="earlier version.*--rebuild"):
        Library.open(location)
    with pytest.raises(CorpusError, match="earlier version.*--rebuild"):
        build([SEEDS], location)
    report = build([SEEDS], location, rebuild=True)
    assert report.articles == 1
    assert not [c for c in client.list_collections() if c.startswith(f"{name}__g")]
    with Library.open(location) as lib:
        assert lib.search("drowning dissenters", k=1)[0].paragraph == 2


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
    assert "12 paragraphs" in result.output and " rows written" in result.output
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
