"""The vector index: exact below a size, IVF above it, ids kept through updates."""

from __future__ import annotations

import json

import numpy as np
import pytest

import corpus.backends.folder.vector as vector
from corpus import IndexCorruptError, build
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


def test_searches_and_changes_leave_the_threads_of_the_callers_thread_as_they_were():
    # FAISS and PyTorch share one OpenMP runtime: a search for one vector runs on one
    # thread, and must not leave later encoding in the same thread on one core
    import faiss

    x = _clustered(300)
    index = VectorIndex.create(64).update(np.array([], dtype=np.int64), [(np.arange(300), x)])
    faiss.omp_set_num_threads(2)
    index.search(x[:1], 5)
    assert faiss.omp_get_max_threads() == 2
    faiss.omp_set_num_threads(1)  # nor does a change, which runs on every core
    index.update(np.array([0], dtype=np.int64), [(np.array([1000]), x[:1])])
    assert faiss.omp_get_max_threads() == 1
    faiss.omp_set_num_threads(vector.BATCH_THREADS)


def _truth(ids: np.ndarray, x: np.ndarray, queries: np.ndarray, k: int = 10, allowed=None) -> list[list[int]]:
    """The exact top ``k`` ids of each query (among ``allowed``), by brute force."""
    scores = queries @ x.T
    if allowed is not None:
        scores[:, ~np.isin(ids, allowed)] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[int(ids[j]) for j in row if np.isfinite(scores[r, j])] for r, row in enumerate(order)]


def _agree(found, truth, approximate: bool) -> None:
    found = [[i for i, _ in row] for row in found]
    if approximate:  # the same recall as any IVF search
        assert np.mean([len(set(f) & set(t)) / max(1, len(t)) for f, t in zip(found, truth)]) >= 0.9
    else:
        assert found == truth


@pytest.mark.parametrize("approximate", [False, True])
def test_changes_live_beside_the_file_until_they_are_a_tenth_of_it(tmp_path, monkeypatch, approximate):
    """An update keeps the file it read (linked, not rewritten) and writes what changed beside
    it; searches, filters, counts and reads see exactly the vectors of the new generation."""
    monkeypatch.setattr(vector, "CHANGES_MIN_VECTORS", 100)
    monkeypatch.setattr(vector, "ANN_MIN_VECTORS", 1000 if approximate else 10**9)
    x = _clustered(3000)
    ids = np.arange(3000, dtype=np.int64) * 3 + 1
    first, second = tmp_path / "g1", tmp_path / "g2"
    first.mkdir(), second.mkdir()
    VectorIndex.create(64).update(np.array([], dtype=np.int64), [(ids[:2500], x[:2500])]).save(first / "v.faiss")

    index = VectorIndex.load(first / "v.faiss")
    index = index.update(ids[:40], [(ids[2500:2600], x[2500:2600])])  # 140 changes beside 2,500 vectors
    assert index.changes == 140 and len(index) == 2560 and index.approximate == approximate
    index.save(second / "v.faiss")
    assert (second / "v.faiss").stat().st_ino == (first / "v.faiss").stat().st_ino  # the file is shared
    assert (second / "v.faiss.added").exists() and (second / "v.faiss.removed.npy").exists()

    loaded = VectorIndex.load(second / "v.faiss")
    live_ids, live = ids[40:2600], x[40:2600]
    assert len(loaded) == 2560 and sorted(loaded.ids()) == sorted(live_ids)
    assert np.allclose(loaded.reconstruct(ids[[50, 2550]]), x[[50, 2550]])
    queries = np.vstack([x[[5, 45, 2550]], _clustered(20, seed=2)])
    found = loaded.search(queries, 10)
    assert not {i for row in found for i, _ in row} & set(ids[:40].tolist())  # removed ids never come back
    assert found[2][0][0] == ids[2550]  # an added vector is found
    _agree(found, _truth(live_ids, live, queries), approximate)
    allowed = ids[np.r_[0:10, 45:60, 2590:2600]]  # some removed, some in the file, some added
    filtered = loaded.search(queries, 10, allowed)
    assert all({i for i, _ in row} <= set(allowed[10:].tolist()) for row in filtered)
    if not approximate:  # (an IVF search under a narrow filter misses what its probed cells do not hold)
        _agree(filtered, _truth(live_ids, live, queries, allowed=allowed), approximate)

    # removing an added vector takes it from the changes; past a tenth, one file again
    again = loaded.update(ids[[2500]], [])
    assert len(again) == 2559 and again.changes == 139
    third = tmp_path / "g3"
    third.mkdir()
    again = again.update(ids[40:200], [(ids[2600:], x[2600:])])
    assert again.changes == 0 and len(again) == 2799
    again.save(third / "v.faiss")
    assert (third / "v.faiss").stat().st_ino != (first / "v.faiss").stat().st_ino
    assert not (third / "v.faiss.added").exists() and not (third / "v.faiss.removed.npy").exists()
    assert sorted(VectorIndex.load(third / "v.faiss").ids()) == sorted(np.r_[ids[200:2500], ids[2501:]])
    assert VectorIndex.load(first / "v.faiss").changes == 0 and len(VectorIndex.load(first / "v.faiss")) == 2500  # untouched


def test_a_build_links_the_vector_file_and_answers_as_a_fresh_one(tmp_path, monkeypatch, bbc_sample):
    monkeypatch.setattr(vector, "CHANGES_MIN_VECTORS", 20)
    monkeypatch.setattr(vector, "CHANGES_SHARE", 0.5)  # the sample is small: an edited article is a fair share of it
    index, fresh = tmp_path / "index", tmp_path / "fresh"
    build([bbc_sample], index)
    before = current_generation(index)
    first = sorted(bbc_sample.rglob("*.txt"))[0]
    first.write_text(first.read_text() + "\n\nA brand new closing paragraph about submarine cables under the Atlantic.\n")
    report = build([bbc_sample], index)
    after = current_generation(index)
    assert report.changed_articles == 1 and (after / "vectors.faiss").stat().st_ino == (before / "vectors.faiss").stat().st_ino
    assert (after / "vectors.faiss.added").exists()
    build([bbc_sample], fresh)
    with Library.open(index) as lib, Library.open(fresh) as other:
        assert lib.info()["pieces"] == other.info()["pieces"]
        for q in ("submarine cables under the Atlantic", "football transfer", "mobile phone sales"):
            assert [(h.source, h.paragraph) for h in lib.search(q, k=5, mode="vector")] == [(h.source, h.paragraph) for h in other.search(q, k=5, mode="vector")]
    (after / "vectors.faiss.added").write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError):
        Library.open(index)
