"""The vector index: exact below a size, IVF above it, ids kept through updates."""

from __future__ import annotations

import json

import numpy as np
import pytest

import corpus.backends.folder.vector as vector
from corpus import build
from corpus.backends.folder.index import current_generation
from corpus.backends.folder.vector import VectorIndex
from qa import Library


def _clustered(n: int, dim: int = 64, clusters: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_indexes_are_exact():
    x = _clustered(500)
    index = VectorIndex.create(64).update(np.array([], dtype=np.int64), [(np.arange(500) + 1000, x)])
    assert not index.approximate and index.index_type == "IDMap2,Flat(IP)"
    assert index.search(x[:1], 1)[0][0][0] == 1000


def test_large_indexes_become_ivf_and_keep_ids_through_updates(tmp_path, monkeypatch):
    monkeypatch.setattr(vector, "ANN_MIN_VECTORS", 4000)
    x = _clustered(6000)
    ids = np.arange(6000, dtype=np.int64) * 7 + 3
    exact = VectorIndex.create(64).update(np.array([], dtype=np.int64), [(ids[:3000], x[:3000])])
    assert not exact.approximate
    index = exact.update(ids[:10], [(ids[3000:4500], x[3000:4500]), (ids[4500:], x[4500:])])  # crosses the threshold: trained on all
    assert index.approximate and index.index_type.startswith("IVF")
    assert len(index) == 5990
    assert index.self_check_recall >= vector.TARGET_RECALL
    assert np.allclose(index.reconstruct(ids[[20, 4000]]), x[[20, 4000]])

    queries = _clustered(50, seed=1)
    truth = VectorIndex.create(64).update(np.array([], dtype=np.int64), [(ids[10:], x[10:])]).search(queries, 10)
    found = index.search(queries, 10)
    recall = np.mean([len({i for i, _ in t} & {i for i, _ in f}) / 10 for t, f in zip(truth, found)])
    assert recall >= 0.9

    index = index.update(ids[10:20], [(ids[:5], x[:5])])  # in place: remove and add by id
    assert len(index) == 5985 and index.approximate
    assert index.search(x[2:3], 1)[0][0][0] == ids[2]
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    assert loaded.index_type == index.index_type and len(loaded) == 5985


def test_a_build_past_the_threshold_records_the_ivf_and_updates_it(tmp_path, monkeypatch, bbc_sample):
    monkeypatch.setattr(vector, "ANN_MIN_VECTORS", 40)
    index = tmp_path / "index"
    report = build([bbc_sample], index)
    manifest = json.loads((current_generation(index) / "manifest.json").read_text())
    assert manifest["vector"]["index_type"].startswith("IVF") and report.vector_index == manifest["vector"]["index_type"]
    assert 0 <= manifest["vector"]["self_check_recall@10"] <= 1
    with Library.open(index) as lib:
        assert "IVF" in lib.info()["vector_index"]
        assert lib.search("Latin-1 football", k=3, mode="vector")

    first = sorted(bbc_sample.rglob("*.txt"))[0]
    first.write_text(first.read_text() + "\n\nA brand new closing paragraph about submarine cables under the Atlantic.\n")
    report = build([bbc_sample], index)
    assert report.embedded >= 1 and report.reused >= 1
    manifest = json.loads((current_generation(index) / "manifest.json").read_text())
    assert manifest["vector"]["index_type"].startswith("IVF")
    with Library.open(index) as lib:
        assert lib.search("submarine cables under the Atlantic", k=1, mode="vector")[0].source.endswith(first.name)


@pytest.mark.parametrize("n", [1, 3])
def test_single_and_batch_queries_agree(n):
    x = _clustered(800)
    index = VectorIndex.create(64).update(np.array([], dtype=np.int64), [(np.arange(800), x)])
    batch = index.search(x[:n], 5)
    singles = [index.search(x[i : i + 1], 5)[0] for i in range(n)]
    assert [[i for i, _ in r] for r in batch] == [[i for i, _ in r] for r in singles]
