"""Several indexes searched and answered from as one: names, merging, ids that collide, copies, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpus import build
from qa import Collections, Library, QueryError
from qa.cli import app
from qa.collections import find_indexes

from .conftest import SEED_FILE

HARBOUR = """Harbour festival returns to Kirkwall

The harbour festival of Kirkwall opens on Friday with a parade of fishing boats and fireworks over the bay at nine in the evening.

Organisers said 12,000 visitors were expected over the weekend, twice as many as last year.

The festival director, Morag Linklater, said the fireworks had been paid for by the town's lifeboat crew.
"""

FERRY = """Ferry timetable changes in Orkney

Ferries between Kirkwall and Aberdeen will sail twice a week from March, the operator announced.

The operator said the change followed a fall in winter passengers of about a third.
"""

OTHER_001 = """Orchard harvest falls short

Apple growers in Kent picked 40% fewer apples this autumn after a late frost in April.

The growers' association blamed the frost for the smallest harvest in a decade.
"""


def _corpus(root: Path, files: dict[str, str]) -> Path:
    folder = root / "articles"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def two(tmp_path_factory, embedder) -> dict[str, Path]:
    """Two indexes whose source folders and files share names (so their article ids collide):
    ``orkney`` (two local stories) and ``news`` (the seed article and an orchard story)."""
    root = tmp_path_factory.mktemp("collections")
    orkney = _corpus(root / "orkney", {"001.txt": HARBOUR, "002.txt": FERRY})
    news = _corpus(root / "news", {"001.txt": OTHER_001})
    shutil.copy(SEED_FILE, news)
    build([orkney], root / "orkney" / "index")
    build([news], root / "news" / "index")
    return {"orkney": root / "orkney" / "index", "news": root / "news" / "index"}


@pytest.fixture(scope="module")
def shelf(two):
    with Library.open(two) as lib:
        yield lib


def test_several_indexes_open_as_named_collections(two, shelf):
    assert isinstance(shelf, Collections) and shelf.names == ["orkney", "news"]
    info = shelf.info()
    assert info["articles"] == 4 and set(info["collections"]) == {"orkney", "news"}
    # unnamed, they go by their folders' names, which collide here: a clear error, nothing left open
    with pytest.raises(ValueError, match="NAME=INDEX"):
        Library.open([two["orkney"], two["news"]])
    with Library.open([two["orkney"]]) as one:  # a list is collections, even of one
        assert one.names == ["index"] and one.search("harbour")[0].collection == "index"


def test_search_merges_collections_and_names_each_hit(shelf):
    hits = shelf.search("harbour festival fireworks", k=6)
    assert hits[0].collection == "orkney" and hits[0].article_id == "articles/001.txt"
    assert {h.collection for h in hits} == {"orkney", "news"}  # both collections fill the ten
    assert [h.key for h in hits] == list(dict.fromkeys(h.key for h in hits))
    # ranks are those of the merged sides
    assert sorted(h.keyword_rank for h in hits if h.keyword_rank)[0] == 1
    mosul = shelf.search("ISIS drowning dissenters in Mosul", k=3)
    assert all(h.collection == "news" for h in mosul)
    # one collection only
    only = shelf.search("harbour festival fireworks", k=5, collection="news")
    assert only and all(h.collection == "news" for h in only)
    with pytest.raises(QueryError, match="no collection named"):
        shelf.search("harbour", collection="nowhere")


def test_the_same_article_id_in_two_collections_stays_apart(shelf):
    harbour = shelf.article_hits("articles/001.txt", collection="orkney")
    orchard = shelf.article_hits("articles/001.txt", collection="news")
    assert "Kirkwall" in harbour[0].text and "Apple growers" in orchard[0].text
    assert shelf.article("articles/001.txt", collection="news").title == "Orchard harvest falls short"
    answer = shelf.ask("How many visitors were expected at the harbour festival?")
    assert answer.answered and "12,000" in answer.quotes[0].text
    assert answer.sources[0].collection == "orkney" and answer.sources[0].article_id == "articles/001.txt"
    answer = shelf.ask("How many fewer apples did Kent growers pick?")
    assert answer.answered and "40%" in answer.quotes[0].text and answer.sources[0].collection == "news"


def test_answers_come_from_the_chosen_collection(shelf):
    answer = shelf.ask("How many people did ISIS execute?")
    assert answer.answered and "58" in answer.quotes[0].text and answer.sources[0].collection == "news"
    # the harbour question asked of the news collection alone is not answered from Orkney
    answer = shelf.ask("How many visitors were expected at the harbour festival?", collection="news")
    assert not answer.answered and all(h.collection == "news" for h in answer.closest)


def test_copies_fold_across_collections(tmp_path, embedder):
    one = _corpus(tmp_path / "a", {"harbour.txt": HARBOUR})
    two = _corpus(tmp_path / "b", {"festival.txt": HARBOUR.replace("returns to Kirkwall", "is back"), "ferry.txt": FERRY})
    build([one], tmp_path / "a" / "index")
    build([two], tmp_path / "b" / "index")
    with Library.open({"a": tmp_path / "a" / "index", "b": tmp_path / "b" / "index"}) as lib:
        hits = lib.search("12,000 visitors were expected over the weekend", k=5)
        texts = [" ".join(h.text.lower().split()) for h in hits]
        assert len(texts) == len(set(texts))
        top = hits[0]
        other = "b:articles/festival.txt" if top.collection == "a" else "a:articles/harbour.txt"
        assert "12,000" in top.text and other in top.also_in


def test_cli_takes_several_indexes(two):
    run = CliRunner().invoke
    result = run(app, ["search", "harbour fireworks", "-k", "4", "--json", "--index", f"orkney={two['orkney']}", "--index", f"news={two['news']}"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["hits"]
    assert hits[0]["collection"] == "orkney" and {h["collection"] for h in hits} == {"orkney", "news"}
    result = run(app, ["ask", "How many people did ISIS execute?", "--index", f"orkney={two['orkney']}", "--index", f"news={two['news']}"])
    assert result.exit_code == 0 and "news: " in result.output and "58" in result.output
    result = run(app, ["search", "harbour", "--index", str(two["orkney"]), "--index", str(two["news"])])
    assert result.exit_code == 1 and "NAME=INDEX" in result.output and len(result.output.strip().splitlines()) == 1


def test_serve_finds_every_index_in_the_folder(tmp_path, two):
    folder = tmp_path / "indexes"
    folder.mkdir()
    for name, path in two.items():
        shutil.copytree(path, folder / name)
    (folder / "notes").mkdir()  # not an index
    (folder / "eval").mkdir()
    shutil.copytree(two["news"], folder / "eval" / "deeper")  # only the folder's own children
    assert [p.name for p in find_indexes(folder)] == ["news", "orkney"]
    assert find_indexes(tmp_path / "missing") == []
