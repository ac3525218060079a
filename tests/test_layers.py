"""Only the backends import the engines: everything else talks to corpus.backend."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES = {"whoosh", "faiss", "pymilvus", "milvus_lite"}
#: the folder backend (Whoosh, FAISS, SQLite) and the Milvus backend
BACKENDS = "corpus/backends/"
LAYER_PACKAGES = ("corpus", "qa", "ui")


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
            if engines and not name.startswith(BACKENDS):
                offenders[name] = engines
    assert not offenders


def test_the_library_and_the_chat_see_no_backend_internals():
    offenders = {}
    for package in ("qa", "ui"):
        for path in (ROOT / package).rglob("*.py"):
            internal = {m for m in _imports(path) if m.startswith("corpus.backends")}
            if internal:
                offenders[path.relative_to(ROOT).as_posix()] = internal
    assert not offenders


# -- the import graph: no cycles, and no import from a layer to one above it ------------------
#: layers from the bottom; a module belongs to the longest prefix listed
LAYERS = {"corpus": 0, "qa": 1, "ui": 2, "qa.eval": 3, "qa.cli": 4}


def project_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the packages under ``root``, by dotted name (a package by its own name)."""
    modules = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node that runs (at import or inside a function), leaving out ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Which project modules each project module imports, at module level or inside a function.
    ``from package import name`` counts as importing the submodule when ``name`` is one."""
    modules = project_modules(root, packages)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(filter(None, (known(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = module.split(".") if is_package else module.split(".")[:-1]
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    target = known(f"{base}.{alias.name}") if f"{base}.{alias.name}" in modules else known(base)
                    if target:
                        found.add(target)
        found.discard(module)
        graph[module] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def layer(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets if layer(t) > layer(m))


def test_no_module_imports_in_a_circle():
    assert cycles(import_graph(ROOT, LAYER_PACKAGES)) == []


def test_no_layer_imports_one_above_it():
    """corpus < qa < ui < evaluation < the command line, which runs them all."""
    assert upward_imports(import_graph(ROOT, LAYER_PACKAGES)) == []


def test_a_cycle_is_caught_even_through_an_import_inside_a_function(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n    from .c import C\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from .a import g\n")
    (tmp_path / "pkg" / "c.py").write_text("from pkg.a import x\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.a"] == {"pkg.b"}  # the TYPE_CHECKING import is no runtime edge
    assert graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(import_graph(tmp_path, ["pkg"])) == []


def test_an_import_from_a_lower_layer_to_a_higher_one_is_caught():
    graph = {"corpus.build": {"qa.library"}, "qa.library": {"corpus.build"}, "qa.cli.main": {"ui.app"}, "ui.app": {"qa.library"}}
    assert upward_imports(graph) == ["corpus.build -> qa.library"]
    assert upward_imports({"qa.chat": {"qa.eval.answers"}}) == ["qa.chat -> qa.eval.answers"]
