from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app

from .conftest import ROOT, SEEDS

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_sources_read_as_named_with_no_path_of_this_machine(tmp_path, monkeypatch):
    """Hits, quotes and sources name the file under the folder given to the build, in every output."""
    from qa import Library
    from ui.app import article_html, sources_html

    docs = tmp_path / "newsroom"
    (docs / "politics").mkdir(parents=True)
    (docs / "politics" / "vote.txt").write_text("The vote\n\nThe council voted 7 to 2 for the new harbour wall.\n")
    monkeypatch.chdir(tmp_path)
    index = tmp_path / "index"
    assert run("build", "newsroom", "--index", index).exit_code == 0  # a relative folder, as users type it
    outputs = [run(*command, "--index", index).output for command in (
        ("search", "harbour wall vote"), ("search", "harbour wall vote", "--json"),
        ("ask", "How did the council vote on the harbour wall?"), ("ask", "How did the council vote on the harbour wall?", "--json"),
    )]
    assert json.loads(outputs[1])["hits"][0]["source"] == "newsroom/politics/vote.txt"
    assert json.loads(outputs[3])["sources"][0]["source"] == "newsroom/politics/vote.txt"
    with Library.open(index) as lib:
        answer = lib.ask("How did the council vote on the harbour wall?")
        cards, choices = sources_html(answer)
        _, _, article_id, paragraph, hit_id, _ = choices[0]
        outputs += [cards, article_html(lib, article_id, paragraph, hit_id)]
    for output in outputs:
        assert "newsroom/politics/vote.txt" in output and str(tmp_path) not in output, output


def test_build_search_info(tmp_path):
    index = tmp_path / "index"
    result = run("build", SEEDS, "--index", index)
    assert result.exit_code == 0, result.output
    assert "1 articles" in result.output and "12 paragraphs" in result.output

    result = run("search", "drowning dissenters", "-k", "2", "--index", index)
    assert result.exit_code == 0
    assert "¶2" in result.output and "58 people" in result.output

    result = run("search", "drowning dissenters", "--json", "--index", index)
    data = json.loads(result.output)
    assert data["hits"][0]["paragraph"] == 2 and "drowning" in data["hits"][0]["highlighted_terms"]

    result = run("info", "--json", "--index", index)
    assert json.loads(result.output)["paragraphs"] == 12

    result = run("build", "--index", index)
    assert result.exit_code == 0 and "up to date" in result.output


def test_index_from_environment(tmp_path, monkeypatch):
    index = tmp_path / "env-index"
    monkeypatch.setenv("CORPUS_INDEX", str(index))
    assert run("build", SEEDS).exit_code == 0
    assert (index / "CURRENT").exists()
    assert run("search", "Mosul").exit_code == 0


@pytest.mark.parametrize(
    "query",
    ["AND OR NOT", "*", "title:", '"unbalanced', "x\x00y".replace("\x00", "\u0000"), "Mosul " * 20000],
)
def test_odd_queries_succeed(seed_index, query):
    result = run("search", query, "--index", seed_index)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "", "--index", "{seed}"], "query is empty"),
        (["search", "Mosul", "--index", "{missing}"], "corpus build"),
        (["search", "Mosul", "--mode", "fuzzy", "--index", "{seed}"], "unknown search mode"),
        (["info", "--index", "{missing}"], "corpus build"),
        (["build", "{missing}/nope", "--index", "{tmp}/i"], "source not found"),
        (["eval", "{tmp}", "--cache", "{tmp}/c"], "not a BEIR dataset"),
    ],
)
def test_user_errors_are_one_line(seed_index, tmp_path, args, message):
    fill = {"seed": seed_index, "missing": tmp_path / "missing", "tmp": tmp_path}
    result = run(*(a.format(**fill) for a in args))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_build_skips_bad_files_and_lists_them(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(next(SEEDS.glob("*.txt")), docs)
    (docs / "photo.txt").write_bytes(b"\xff\xd8\xff\x00" * 50)
    (docs / "blank.txt").write_text("\n\n")
    result = run("build", docs, "--index", tmp_path / "index")
    assert result.exit_code == 0
    assert "skipped 2" in result.output and "binary file" in result.output and "empty file" in result.output


def test_installed_command_runs_in_a_subprocess(seed_index):
    exe = Path(sys.executable).with_name("corpus")
    if not exe.exists():
        pytest.skip("the corpus console script is not installed in this environment")
    env = {**os.environ, "CORPUS_INDEX": str(seed_index)}
    proc = subprocess.run([str(exe), "search", "drowning dissenters", "-k", "1", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hits"][0]["paragraph"] == 2
    proc = subprocess.run([str(exe), "search", "x", "--index", "/nonexistent/index"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no index") and "Traceback" not in proc.stderr
