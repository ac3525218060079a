"""The contract every engine behind :class:`corpus.backend.Reader` and
:class:`corpus.backend.Backend` must keep: each test here runs once per backend, on
the real engine (a folder of Whoosh + FAISS + SQLite; Milvus Lite in a file of its
own, skipped with the reason when the milvus extra is not installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BACKENDS = ["folder", "milvus"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    if request.param == "milvus" and not (importlib.util.find_spec("pymilvus") and importlib.util.find_spec("milvus_lite")):
        pytest.skip("the milvus extra is not installed (pip install 'corpus-qa[milvus]')")
    return request.param


def location(folder: Path, backend: str, name: str = "index") -> str:
    """Where an index of ``backend`` named ``name`` lives under ``folder``."""
    return str(folder / name) if backend == "folder" else f"milvus:{folder / (name + '.db')}"
