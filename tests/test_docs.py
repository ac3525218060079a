"""The README and docs/ stay true: their links lead somewhere, their Python parses, and every
command they show exists with the options they give it."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def _blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text(encoding="utf-8")) if lang == language]


def _commands(page: Path) -> list[list[str]]:
    """The command lines of a page: its shell blocks' lines and its table cells in backticks
    that start with ``corpus`` or ``make``, comments cut off."""
    text = page.read_text(encoding="utf-8")
    lines = [line for body in _blocks(page, "sh") for line in body.splitlines()]
    lines += re.findall(r"\| `((?:corpus|make) [^`]*)` \|", text)
    out = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if words:
            out.append(words)
    return out


def _corpus_command():
    from qa.cli import app

    return typer.main.get_command(app)


def _api_route(words: list[str]) -> bool:
    """Whether a curl command calls a route of the HTTP API."""
    from ui.api import api_app

    url = next(w for w in words if "localhost:" in w)
    path = re.sub(r"^[a-z]+://", "", url).split("/", 1)[1].split("?")[0]
    routes = [re.sub(r"\{[^}]+\}", "[^?]+", route) for route in api_app(None).openapi()["paths"]]
    return path.startswith("api/") and any(re.fullmatch(route.lstrip("/"), path[len("api/") :]) for route in routes)


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w-]+):", makefile, re.M))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert not broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_parse(page):
    for body in _blocks(page, "python"):
        ast.parse(body)


def test_the_readme_commands_exist_with_the_options_it_gives():
    group = _corpus_command()
    targets = _make_targets()
    commands = _commands(ROOT / "README.md")
    assert len(commands) >= 10
    for words in commands:
        if words[0] == "make":
            assert {w for w in words[1:] if "=" not in w} <= targets, words
        elif words[0] == "corpus":
            sub = group.commands.get(words[1])
            assert sub is not None, words
            sub.make_context(words[1], words[2:])  # raises on an unknown option or a bad value
        elif words[0] == "curl":
            assert _api_route(words), words
        else:
            assert words[0] in {"pip", "python"}, words


def test_every_command_of_the_docs_exists():
    """The docs show synopses too (``[--json]``), so only the names are checked there."""
    names = set(_corpus_command().commands)
    targets = _make_targets()
    for page in PAGES[1:]:
        for words in _commands(page):
            if words[0] == "corpus":
                assert words[1] in names, (page.name, words)
            elif words[0] == "make":
                assert {w for w in words[1:] if "=" not in w} <= targets, (page.name, words)


def test_a_wrong_option_would_be_caught():
    group = _corpus_command()
    with pytest.raises(Exception, match="No such option"):
        group.commands["search"].make_context("search", ["rebellion", "--no-such-option"])
    assert _slug("Answers: natural questions over BBC News, and SQuAD 2.0") == "answers-natural-questions-over-bbc-news-and-squad-20"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_file_of_the_project_it_names_exists(page):
    named = set(re.findall(r"`((?:corpus|qa|ui|bench|tests)/[\w/.-]+\.(?:py|json|md))`", page.read_text(encoding="utf-8")))
    assert not {path for path in named if not (ROOT / path).exists()}
