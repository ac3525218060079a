"""Shared fixtures: the real bundled model (loaded once), a seed index, the evaluation data."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# exported encoders go to a cache of the test run's own (subprocesses inherit it), never the user's
_CACHE = tempfile.TemporaryDirectory(prefix="corpus-qa-cache-")
os.environ["CORPUS_CACHE"] = _CACHE.name

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_index(tmp_path, monkeypatch):
    """No test reads or writes the user's indexes/default by accident."""
    monkeypatch.setenv("CORPUS_INDEX", str(tmp_path / "default-index"))


@pytest.fixture(scope="session")
def embedder():
    from corpus.embed import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder) -> Path:
    from corpus import build

    path = tmp_path_factory.mktemp("seed") / "index"
    build([SEEDS], path)
    return path


@pytest.fixture(scope="session")
def seed_lib(seed_index):
    from qa import Library

    lib = Library.open(seed_index)
    yield lib
    lib.close()


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"evaluation data not available: {path} (the shared/ folder beside the checkout)")
    return path


@pytest.fixture
def bbc_sample(tmp_path) -> Path:
    """A small copy of BBC articles across categories, including the Latin-1 file."""
    bbc = shared_data("bbc_news", "bbc")
    out = tmp_path / "bbc"
    for category in ("business", "entertainment", "politics", "sport", "tech"):
        (out / category).mkdir(parents=True)
        for n in (1, 2, 3):
            shutil.copy(bbc / category / f"{n:03d}.txt", out / category)
    shutil.copy(bbc / "sport" / "199.txt", out / "sport")
    return out
