from __future__ import annotations

import json
import shutil

import pytest

from corpus import (
    BuildLockedError,
    CorpusError,
    IndexCorruptError,
    IndexNotFoundError,
    ModelMismatchError,
    SourceError,
    build,
)
from corpus.backends.folder.index import CURRENT, current_generation
from qa import Library

from .conftest import SEEDS


def _article(folder, name, title, *paragraphs):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n")


def test_build_reports_and_manifest(seed_index):
    gen = current_generation(seed_index)
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["counts"] == {"articles": 1, "paragraphs": 12, "pieces": 12}
    assert manifest["backend"] == "whoosh-faiss-sqlite"
    assert manifest["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["model"]["dim"] == 384
    assert manifest["sources"] == [str(SEEDS)]
    assert manifest["last_build"]["embedded"] == 12


def test_incremental_build_embeds_only_what_changed(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    _article(docs, "a.txt", "Apples", "Apples grow on trees in orchards.", "Cider is made from apples.")
    _article(docs, "b.txt", "Bananas", "Bananas grow in warm climates.", "They are rich in potassium.")
    _article(docs, "c.txt", "Cherries", "Cherries are small stone fruits.")
    first = build([docs], index)
    assert (first.articles, first.paragraphs, first.embedded, first.reused) == (3, 5, 5, 0)

    again = build([docs], index)
    assert again.up_to_date and again.embedded == 0

    _article(docs, "a.txt", "Apples", "Apples grow on trees in orchards.", "Perry, not cider, is made from pears.")
    _article(docs, "d.txt", "Dates", "Date palms thrive in the desert oases.")
    (docs / "c.txt").unlink()
    report = build(index_dir=index)  # no sources: re-reads the index's own
    assert (report.new_articles, report.changed_articles, report.unchanged_articles, report.removed_articles) == (1, 1, 1, 1)
    assert report.embedded == 2  # the changed paragraph of a.txt and the new d.txt
    assert report.reused == 1  # the unchanged first paragraph of a.txt
    assert report.removed_paragraphs == 3  # a.txt's two old paragraphs and c.txt's one
    assert report.paragraphs == 5

    with Library.open(index) as lib:
        assert lib.search("desert oases", k=1)[0].title == "Dates"
        assert lib.search("perry from pears", k=1, mode="keyword")[0].paragraph == 2
        assert all(h.title != "Cherries" for h in lib.search("stone fruits", k=10))
        assert lib.info()["paragraphs"] == 5

    rebuilt = build([docs], index, rebuild=True)
    assert rebuilt.embedded == 5 and rebuilt.reused == 0


def test_long_paragraphs_are_searched_as_pieces_and_returned_whole(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    filler = " ".join(f"The council met again on day {n} to discuss roads, schools and taxes." for n in range(60))
    long_para = f"{filler} Finally the mayor announced a ban on purple bicycles."
    _article(docs, "long.txt", "Council minutes", "A short opening.", long_para, "A short ending.")
    report = build([docs], index)
    assert report.paragraphs == 3 and report.pieces > 4
    with Library.open(index) as lib:
        for mode in ("vector", "keyword", "hybrid"):
            hits = lib.search("ban on purple bicycles", k=3, mode=mode)
            assert hits[0].paragraph == 2 and hits[0].text == long_para, mode
            assert len({h.id for h in hits}) == len(hits)  # one hit per paragraph, not per piece
        article = lib.article("docs/long.txt")
        assert article.text[hits[0].start : hits[0].end] == long_para
        assert [h.paragraph for h in lib.article_hits("docs/long.txt")] == [1, 2, 3]


def test_old_generations_are_pruned(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    for n in range(4):
        _article(docs, "a.txt", "Title", f"Version {n} of the text.")
        build([docs], index)
    gens = [p for p in index.iterdir() if p.name.startswith("g-")]
    assert len(gens) == 2 and current_generation(index) in gens


def test_empty_and_binary_sources_are_listed_not_fatal(tmp_path):
    docs = tmp_path / "docs"
    _article(docs, "good.txt", "Good", "Real text about gardens.")
    (docs / "bin.txt").write_bytes(b"\x00\x01\x02\x03" * 100)
    (docs / "empty.md").write_text("")
    report = build([docs], tmp_path / "index")
    assert report.articles == 1
    assert sorted(s.reason for s in report.skipped) == ["binary file", "empty file"]


def test_nothing_to_index_is_an_error_and_keeps_the_old_index(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    _article(docs, "a.txt", "Title", "Some text.")
    build([docs], index)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.txt").write_text("")
    with pytest.raises(SourceError, match="no articles"):
        build([empty], index)
    with Library.open(index) as lib:
        assert lib.search("text", k=1)


def test_refuses_a_folder_that_is_not_an_index(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(CorpusError, match="not an index folder"):
        build([SEEDS], tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_second_build_is_refused_while_one_holds_the_lock(tmp_path):
    from corpus.backends.folder.writer import FolderBackend

    index = tmp_path / "index"
    index.mkdir()
    with FolderBackend(index).lock():
        with pytest.raises(BuildLockedError):
            build([SEEDS], index)


def test_missing_index(tmp_path):
    with pytest.raises(IndexNotFoundError, match="corpus build"):
        Library.open(tmp_path / "nothing")


def _copy(seed_index, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(seed_index, target)
    return target, current_generation(target)


@pytest.mark.parametrize(
    "damage",
    [
        lambda gen: (gen / "vectors.faiss").write_bytes(b"garbage"),
        lambda gen: (gen / "vectors.faiss").unlink(),
        lambda gen: (gen / "manifest.json").write_text("{not json"),
        lambda gen: (gen / "store.sqlite").write_bytes(b"not a database at all" * 100),
        lambda gen: shutil.rmtree(gen / "keyword"),
        lambda gen: (gen.parent / CURRENT).write_text("g-missing"),
        lambda gen: (gen.parent / CURRENT).write_text("../../etc"),
    ],
    ids=["bad-faiss", "no-faiss", "bad-manifest", "bad-store", "no-keyword", "dangling-current", "bad-current"],
)
def test_corrupt_index_is_a_typed_error(seed_index, tmp_path, damage):
    target, gen = _copy(seed_index, tmp_path)
    damage(gen)
    with pytest.raises(IndexCorruptError):
        Library.open(target)


def test_an_index_of_another_backend_is_a_clear_error(seed_index, tmp_path):
    target, gen = _copy(seed_index, tmp_path)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["backend"] = "some-engine"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="'some-engine' index"):
        Library.open(target)


def test_the_folder_index_is_a_reader_that_reports_its_generation(seed_index):
    from corpus.backend import Reader, open_reader

    reader = open_reader(seed_index)
    try:
        assert isinstance(reader, Reader)
        assert reader.published() == reader.generation == current_generation(seed_index).name
        assert reader.counts() == {"articles": 1, "paragraphs": 12, "pieces": 12}
        assert reader.size_bytes() > 0
        parsed = reader.parse("drowning dissenters")
        assert not parsed.empty and {"drown", "dissent"} <= parsed.terms
        first = reader.keyword_search(parsed, 3)[0][0]
        vector = reader.vector_search(reader.embedder.encode(["drowning dissenters"])[0], 3)
        assert len({pid for pid, _ in vector}) == len(vector)  # one entry per paragraph
        assert reader.paragraphs([first])[first].article_id == reader.article_paragraphs(reader.paragraphs([first])[first].article_id)[0].article_id
    finally:
        reader.close()


def test_inconsistent_counts_are_detected(seed_index, tmp_path):
    target, gen = _copy(seed_index, tmp_path)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["counts"]["paragraphs"] += 1
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="disagree"):
        Library.open(target)


def test_index_built_with_another_model(seed_index, tmp_path, embedder):
    target, gen = _copy(seed_index, tmp_path)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["model"].update(name="someone/other-model", path=str(tmp_path / "other-model"), fingerprint="0" * 16)
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelMismatchError, match="other-model"):
        Library.open(target)
    with pytest.raises(ModelMismatchError):
        build([SEEDS], target)


def test_searching_with_another_model_folder_is_refused(seed_index, tmp_path, embedder):
    other = tmp_path / "model"
    shutil.copytree(embedder.info.path, other)
    config = json.loads((other / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelMismatchError, match="rebuild"):
        Library.open(seed_index, model=other)
    with pytest.raises(ModelMismatchError, match="not found"):
        Library.open(seed_index, model=tmp_path / "nowhere")


def test_bbc_sample_is_indexed_including_the_latin1_file(bbc_sample, tmp_path):
    report = build([bbc_sample], tmp_path / "index")
    assert report.articles == 16 and not report.skipped
    assert any("199.txt" in note and "cp1252" in note for note in report.notes)
    with Library.open(tmp_path / "index") as lib:
        article = lib.article("bbc/sport/199.txt")
        assert article is not None and "£" in article.text


def test_piece_size_is_fixed_per_index(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    _article(docs, "a.txt", "Title", "Some text about rivers.")
    build([docs], index, piece_tokens=64)
    with pytest.raises(CorpusError, match="--rebuild"):
        build([docs], index, piece_tokens=128)
    assert build([docs], index).up_to_date  # the recorded size is kept
    assert build([docs], index, piece_tokens=128, rebuild=True).pieces == 1
    with pytest.raises(CorpusError, match="too small"):
        build([docs], index, piece_tokens=8)


def test_a_rebuild_keeps_the_indexs_settings_unless_given(tmp_path):
    """`corpus build --rebuild` alone rebuilds this index, not the default seeds/ with default settings."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    _article(docs, "a.txt", "Lighthouses", "The lighthouse guards the rocky cape of Zennor.")
    build([docs], index, piece_tokens=64)
    rebuilt = build(None, index, rebuild=True)
    assert rebuilt.articles == 1 and rebuilt.embedded == 1 and rebuilt.reused == 0
    with Library.open(index) as lib:
        assert lib.manifest["sources"] == [str(docs.resolve())] and lib.manifest["piece_tokens"] == 64
        assert lib.search("Zennor cape", k=1)[0].title == "Lighthouses"
    (index / "CURRENT").write_text("g-damaged")  # a rebuild mends an index whose settings cannot be read
    assert build([docs], index, rebuild=True).articles == 1


def test_the_keyword_writer_process_writes_what_the_build_would(tmp_path, monkeypatch):
    import corpus.backends.folder.writer as folder_module

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        body = "\n\n".join(f"Paragraph {j} of story {i}: the council met the harbour board about the bridge toll." for j in range(5))
        (docs / f"{i}.txt").write_text(f"Story {i}\n\n{body}")
    build([SEEDS, docs], tmp_path / "in-process")
    monkeypatch.setattr(folder_module, "KEYWORD_PROCESS_MIN_ROWS", 0)
    report = build([SEEDS, docs], tmp_path / "child")
    assert report.keyword_writer_peak_rss_mb is not None
    assert "keyword index (writer process)" in report.stage_seconds
    (docs / "0.txt").write_text("Story 0\n\nA new toll was agreed for the harbour bridge.")
    report = build([SEEDS, docs], tmp_path / "child")  # incremental: one article replaced in the child
    assert report.embedded == 1 and report.removed_paragraphs == 5
    (docs / "5.txt").unlink()
    report = build([SEEDS, docs], tmp_path / "child")  # nothing new to write: no child needed
    assert report.removed_articles == 1 and report.keyword_writer_peak_rss_mb is None
    monkeypatch.undo()
    build([SEEDS, docs], tmp_path / "in-process")
    for query in ("harbour bridge toll", "drowning dissenters", "council story"):
        with Library.open(tmp_path / "in-process") as a, Library.open(tmp_path / "child") as b:
            expect = [(h.article_id, h.paragraph, round(h.score, 6)) for h in a.search(query, k=20, mode="keyword")]
            assert [(h.article_id, h.paragraph, round(h.score, 6)) for h in b.search(query, k=20, mode="keyword")] == expect
            assert expect


@pytest.mark.parametrize("child", [False, True], ids=["in-process", "writer-process"])
def test_a_build_links_the_keyword_files_and_never_changes_the_published_ones(tmp_path, monkeypatch, child):
    """The next generation starts from hard links to the published one's Whoosh files; the
    published files stay byte for byte what they were through edits, additions and removals,
    and the old generation still searches as before."""
    import hashlib

    import corpus.backends.folder.writer as folder_module

    if child:
        monkeypatch.setattr(folder_module, "KEYWORD_PROCESS_MIN_ROWS", 0)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"{i}.txt").write_text(f"Story {i}\n\n" + "\n\n".join(f"Paragraph {j} of story {i} about the harbour toll." for j in range(3)))
    index = tmp_path / "index"
    build([SEEDS, docs], index)
    first = index / current_generation(index)

    def files(gen):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((gen / "keyword").iterdir()) if p.is_file()}

    from corpus.backends.folder.keyword import KeywordIndex

    def searched(gen):
        keyword = KeywordIndex.open(gen / "keyword")
        try:
            return keyword.doc_count(), keyword.search(keyword.parse("harbour toll story"), 20)
        finally:
            keyword.close()

    before, expected = files(first), searched(first)
    (docs / "0.txt").write_text("Story 0\n\nThe harbour toll was halved.")
    (docs / "3.txt").unlink()
    (docs / "4.txt").write_text("Story 4\n\nA ferry now crosses the harbour.")
    build([SEEDS, docs], index)
    second = index / current_generation(index)
    shared = [name for name in files(second) if name in before and (first / "keyword" / name).stat().st_ino == (second / "keyword" / name).stat().st_ino]
    assert shared  # linked, not copied
    assert files(first) == before  # nothing written into the published generation's files
    assert searched(first) == expected and expected[1]  # which searches as it did
    with Library.open(index) as lib:
        assert any("halved" in h.text for h in lib.search("harbour toll halved", k=3, mode="keyword"))
        assert not any(h.article_id.endswith("3.txt") for h in lib.search("harbour toll story", k=20, mode="keyword"))
