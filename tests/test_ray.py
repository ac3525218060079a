"""Embedding through Ray Data: the same vectors as in the build's own process, on Ray
started here and on a cluster of two nodes."""

from __future__ import annotations

import numpy as np
import pytest

from corpus import build
from corpus.backends.folder.index import Index

from .conftest import SEEDS

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'corpus-qa[ray]')")


@pytest.fixture(autouse=True)
def _local_ray(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_worker_niceness", "0")
    yield
    if ray.is_initialized():
        ray.shutdown()


def _vectors(index) -> np.ndarray:
    ix = Index.open(index)
    try:
        return ix.vectors.reconstruct(np.sort(ix.vectors.ids()))
    finally:
        ix.close()


def test_ray_embeds_the_same_vectors(tmp_path, seed_index):
    report = build([SEEDS], tmp_path / "ray", embed_with="ray")
    assert report.embedded == 12
    ours, theirs = _vectors(tmp_path / "ray"), _vectors(seed_index)
    assert ours.shape == theirs.shape and float((ours * theirs).sum(axis=1).min()) >= 0.9999


def test_ray_on_a_cluster_of_two_nodes(tmp_path, seed_index):
    from ray.cluster_utils import Cluster

    cluster = _started(Cluster)
    try:
        cluster.wait_for_nodes()
        report = build([SEEDS], tmp_path / "cluster", embed_with="ray", ray_address=cluster.address)
        assert report.embedded == 12
        assert float((_vectors(tmp_path / "cluster") * _vectors(seed_index)).sum(axis=1).min()) >= 0.9999
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def _started(cluster_type):
    """A head and a worker node. Ray gives a raylet a fixed 30 s to register, which a busy
    two-core machine can miss on a first start: one more try, then the failure stands."""
    try:
        return _two_nodes(cluster_type)
    except Exception:
        return _two_nodes(cluster_type)


def _two_nodes(cluster_type):
    cluster = cluster_type(initialize_head=False)
    try:
        cluster.add_node(num_cpus=1, include_dashboard=False)  # the first node is the head
        cluster.add_node(num_cpus=1)
    except Exception:
        cluster.shutdown()
        raise
    return cluster


def test_unknown_embedding_place_is_an_error(tmp_path):
    from corpus import CorpusError

    with pytest.raises(CorpusError, match="embed-with"):
        build([SEEDS], tmp_path / "x", embed_with="spark")
