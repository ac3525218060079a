"""The optional onnx-int8 encoder: exported here, recorded in the index, used by its queries."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from corpus import ModelMismatchError, SettingMismatchError, build
from corpus.backends.folder import current_generation
from corpus.manifest import ENCODER_FILE
from qa import Library

from .conftest import SEEDS


@pytest.fixture(scope="module")
def onnx_index(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("onnx") / "index"
    docs = tmp_path_factory.mktemp("onnx-docs")
    shutil.copytree(SEEDS, docs, dirs_exist_ok=True)
    build([docs], path, encoder="onnx-int8")
    return path, docs


def test_manifest_records_the_encoder_and_its_file(onnx_index):
    path, _ = onnx_index
    gen = current_generation(path)
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["model"]["encoder"] == "onnx-int8"
    assert manifest["encoder"]["file"] == ENCODER_FILE
    assert (gen / ENCODER_FILE).stat().st_size > 1_000_000
    assert len(manifest["encoder"]["sha256"]) == 64


def test_queries_use_the_same_encoder_and_rank_like_fp32(onnx_index, seed_lib):
    path, _ = onnx_index
    with Library.open(path) as lib:
        assert lib.info()["encoder"] == "onnx-int8"
        hits = lib.search("drowning dissenters", k=3, mode="vector")
        reference = seed_lib.search("drowning dissenters", k=3, mode="vector")
        assert hits[0].paragraph == reference[0].paragraph
        answer = lib.ask("How many people were executed?")
        assert answer.answered and "58" in answer.quotes[0].text


def test_int8_vectors_stay_close_to_fp32(onnx_index, embedder):
    path, _ = onnx_index
    texts = [p for p in SEEDS.joinpath(next(SEEDS.glob("*.txt")).name).read_text().split("\n\n") if p.strip()]
    with Library.open(path) as lib:
        int8 = lib.embed(texts)
    fp32 = embedder.encode(texts)
    cosines = (int8 * fp32).sum(axis=1)
    assert cosines.mean() >= 0.99
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)


def test_incremental_build_keeps_the_exported_file(onnx_index):
    path, docs = onnx_index
    before = json.loads((current_generation(path) / "manifest.json").read_text())["encoder"]["sha256"]
    (docs / "extra.txt").write_text("Orchards\n\nApples grow on trees in orchards across the valley.\n")
    report = build([docs], path)
    assert (report.embedded, report.unchanged_articles, report.new_articles) == (1, 1, 1)
    after = json.loads((current_generation(path) / "manifest.json").read_text())["encoder"]["sha256"]
    assert after == before
    with Library.open(path) as lib:
        assert lib.search("apple orchards", k=1)[0].title == "Orchards"


def test_encoder_is_fixed_when_an_index_is_created(onnx_index):
    path, docs = onnx_index
    with pytest.raises(SettingMismatchError, match="--rebuild"):
        build([docs], path, encoder="torch")
    with pytest.raises(Exception, match="unknown encoder"):
        build([docs], path, encoder="tensorrt", rebuild=True)


def test_a_rebuild_keeps_the_encoder(tmp_path, onnx_index):
    path, docs = onnx_index
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    build([docs], copy, rebuild=True)
    with Library.open(copy) as lib:
        assert lib.info()["encoder"] == "onnx-int8"


def test_a_damaged_exported_file_is_a_typed_error(tmp_path, onnx_index):
    path, _ = onnx_index
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    gen = current_generation(copy)
    (gen / ENCODER_FILE).write_bytes(b"not a model")
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["encoder"]["sha256"] = "0" * 64  # a file this process has not loaded before
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with Library.open(copy) as lib:
        assert lib.search("Mosul", mode="keyword")
        with pytest.raises(ModelMismatchError, match="cannot be loaded"):
            lib.search("Mosul", mode="vector")


def test_token_vectors_come_from_the_same_pass_as_the_sentence_vector(onnx_index, embedder):
    """The answerer reads a sentence's vector and its word pieces' vectors from one pass:
    the pooled vector is the one ``encode`` gives, the pieces are the text's own (no [CLS],
    no [SEP]) and each piece's vector is normalised, for both encoders."""
    path, _ = onnx_index
    texts = ["The coalition is ramping up its airstrikes.", "Who led the rebellion?"]
    with Library.open(path) as lib:
        int8 = lib.embed_tokens(texts)
        int8_pooled = lib.embed(texts)
    fp32 = embedder.encode_tokens(texts)
    for rows, reference in ((fp32, embedder.encode(texts)), (int8, int8_pooled)):
        assert np.allclose(np.stack([r.pooled for r in rows]), reference, atol=1e-3)
        for row in rows:
            assert row.vectors.shape == (len(row.pieces), embedder.info.dim)
            assert np.allclose(np.linalg.norm(row.vectors.astype(np.float32), axis=1), 1.0, atol=1e-2)
    assert fp32[1].pieces == ("who", "led", "the", "rebellion", "?")
    ramping = fp32[0].pieces.index("##ing")
    assert fp32[0].pieces[ramping - 1] == "ramp"
    assert texts[0][slice(*fp32[0].spans[ramping - 1])] + texts[0][slice(*fp32[0].spans[ramping])] == "ramping"
    # the int8 pieces are close to the fp32 ones, piece by piece
    assert int8[0].pieces == fp32[0].pieces
    cosines = (int8[0].vectors.astype(np.float32) * fp32[0].vectors.astype(np.float32)).sum(axis=1)
    assert cosines.mean() >= 0.95
