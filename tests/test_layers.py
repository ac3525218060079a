"""Only the backends import the engines: everything else talks to corpus.backend."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES = {"whoosh", "faiss", "pymilvus", "milvus_lite"}
#: the folder backend (Whoosh, FAISS, SQLite) and the Milvus backend
BACKENDS = {"corpus/keyword.py", "corpus/keyword_writer.py", "corpus/vector.py", "corpus/store.py", "corpus/index.py", "corpus/folder.py", "corpus/milvus.py"}
INTERNALS = {"corpus.keyword", "corpus.keyword_writer", "corpus.vector", "corpus.store", "corpus.index", "corpus.folder", "corpus.milvus"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_nothing_outside_the_backends_imports_an_engine():
    offenders = {}
    for package in ("corpus", "qa", "ui"):
        for path in (ROOT / package).rglob("*.py"):
            name = path.relative_to(ROOT).as_posix()
            engines = {m for m in _imports(path) if m.split(".")[0] in ENGINES}
            if engines and name not in BACKENDS:
                offenders[name] = engines
    assert not offenders


def test_the_library_and_the_chat_see_no_backend_internals():
    offenders = {}
    for package in ("qa", "ui"):
        for path in (ROOT / package).rglob("*.py"):
            internal = {m for m in _imports(path) if m in INTERNALS}
            if internal:
                offenders[path.relative_to(ROOT).as_posix()] = internal
    assert not offenders
