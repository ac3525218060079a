"""Building and incrementally updating an index, atomically.

``build(sources, index_dir)`` reads the sources, compares each article's
content hash with the published generation, and writes a new generation in
which only new and changed articles are split and indexed again; a paragraph
whose embedding input is unchanged keeps its vector (read back from FAISS), so
only new text is embedded. The new generation is published by an atomic
replacement of ``CURRENT``; see :mod:`corpus.index` for the layout.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import resource
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .backend import FOLDER_BACKEND
from .documents import Article, Paragraph, Skipped
from .embed import DEFAULT_ENCODER, ENCODERS, Embedder, Tokenizer, export_onnx_int8, file_sha256, load_embedder, load_tokenizer
from .errors import BuildLockedError, CorpusError, IndexCorruptError, SettingMismatchError, SourceError
from .index import (
    CURRENT,
    ENCODER_FILE,
    FORMAT,
    FORMAT_VERSION,
    GEN_PREFIX,
    KEYWORD_DIR,
    LOCK,
    MANIFEST,
    STORE,
    TMP_PREFIX,
    VECTORS,
    current_generation,
    default_index_dir,
    read_manifest,
    resolve_model_path,
)
from .keyword import ANALYZER_ID, BM25_B, BM25_K1, TITLE_BOOST, KeywordIndex
from .keyword_writer import KeywordWriter
from .sources import read_sources
from .split import split_many
from .store import Store
from .vector import VectorIndex

log = logging.getLogger(__name__)

#: Called as ``progress(stage, done, total)``; ``total`` is None while unknown.
Progress = Callable[[str, int, "int | None"], None]

DEFAULT_SOURCES = ("seeds",)
#: At most this many word pieces of the title are prefixed to each paragraph's embedding input.
TITLE_TOKENS = 32
#: Word pieces of one embedding input (title + piece of paragraph), capped at the model's window.
#: all-MiniLM-L6-v2 was fine-tuned on inputs of at most 128 word pieces, and embeds them best:
#: on SciFact train, vector nDCG@10 was 0.680 with 256, 0.693 with 128, 0.696 with 96 (which
#: makes 3.2x as many pieces as 256 and builds 1.7x slower than 128), hybrid 0.734 / 0.742 / 0.742.
DEFAULT_PIECE_TOKENS = 128
#: Embedding inputs encoded per call: the encoder sorts each part by length (less padding).
EMBED_PART = 65_536
#: From this many new paragraphs on, a child process writes the keyword index (see
#: corpus.keyword_writer). Starting one costs about 0.2 s (the interpreter, Whoosh's import),
#: what Whoosh takes for some 400 paragraphs; below this bound the saving is too small to matter.
KEYWORD_PROCESS_MIN_ROWS = 2_000
#: Articles split per batch of tokenizer calls.
SPLIT_CHUNK = 1024
#: Generations kept besides the published one (a reader may still have it open).
KEEP_OLD_GENERATIONS = 1


@dataclass
class BuildReport:
    index: str
    generation: str | None
    articles: int = 0
    paragraphs: int = 0
    pieces: int = 0
    new_articles: int = 0
    changed_articles: int = 0
    unchanged_articles: int = 0
    removed_articles: int = 0
    embedded: int = 0
    reused: int = 0
    removed_paragraphs: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    #: The process's peak resident memory (MB) when each stage ended.
    stage_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    #: Peak resident memory (MB) of the child process that wrote the keyword index, if one did.
    keyword_writer_peak_rss_mb: float | None = None
    up_to_date: bool = False
    vector_index: str | None = None
    #: Recall@10 of an approximate vector index against exact search, measured by the build that made it.
    vector_recall: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [s.to_dict() for s in self.skipped]
        return data


def build(
    sources: Iterable[str | os.PathLike[str]] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    batch_size: int = 32,
    piece_tokens: int | None = None,
    encoder: str | None = None,
    embedder: Embedder | None = None,
) -> BuildReport:
    """Build or incrementally update the index at ``index_dir`` from ``sources``.

    Without ``sources``, an existing index re-reads the sources it was built
    from, and a new one reads ``seeds/``. ``encoder`` is ``torch`` (the default)
    or ``onnx-int8`` and, like ``piece_tokens``, is fixed when an index is
    created. ``embedder`` replaces the model with any object of the
    :class:`corpus.embed.Embedder` protocol whose vectors live in the space of
    the model it names (the benchmark uses one). Raises :class:`CorpusError`
    subclasses for user errors; the published index is never damaged.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    _check_index_dir(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda stage, done, total: None)
    with _build_lock(index_dir):
        _remove_stale_builds(index_dir)
        prev_gen = None if rebuild else current_generation(index_dir)
        prev_manifest = read_manifest(prev_gen) if prev_gen else None
        if prev_manifest and prev_manifest.get("keyword", {}).get("analyzer") != ANALYZER_ID:
            raise IndexCorruptError("the index was built with another analyzer; rebuild it with `corpus build --rebuild`")
        source_list = _resolve_sources(sources, prev_manifest)
        piece_tokens = _resolve_piece_tokens(piece_tokens, prev_manifest)
        encoder = _resolve_encoder(encoder, prev_manifest)

        if prev_manifest is not None:
            model_path = resolve_model_path(prev_manifest, model)
        else:
            model_path = str(model) if model is not None else None
        timer = _StageTimer()
        report = BuildReport(index=str(index_dir), generation=None)
        if prev_manifest:
            report.vector_recall = prev_manifest["vector"].get("self_check_recall@10")
        tmp = index_dir / f"{TMP_PREFIX}{secrets.token_hex(4)}"
        encoder_job: _EncoderJob | None = None
        try:
            with timer("read"):
                articles = _read_all(source_list, report, progress)
            if not articles:
                raise SourceError("no articles found in " + ", ".join(source_list) + _skip_hint(report.skipped))
            tmp.mkdir()
            encoder_job = _EncoderJob(embedder, lambda: _load_encoder(encoder, model_path, prev_gen, tmp), model_path)
            changed = _write_generation(tmp, prev_gen, articles, encoder_job, report, progress, timer, batch_size, piece_tokens)
            if not changed and prev_gen is not None:
                report.up_to_date = True
                report.generation = prev_gen.name
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                report.seconds = time.perf_counter() - started
                report.stage_seconds = timer.seconds
                _write_manifest(tmp, encoder_job.result(), articles, source_list, report, piece_tokens)
                report.generation = _publish(index_dir, tmp)
        except BaseException:
            if encoder_job is not None:
                encoder_job.wait()  # it may be writing into tmp
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _remove_old_generations(index_dir)
    report.seconds = time.perf_counter() - started
    report.stage_seconds = timer.seconds
    report.stage_peak_rss_mb = timer.peak_rss_mb
    return report


# -- steps ---------------------------------------------------------------------


def _check_index_dir(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise CorpusError(f"index path {index_dir} is a file, not a folder")
    if index_dir.is_dir() and not (index_dir / CURRENT).exists():
        foreign = [p.name for p in index_dir.iterdir() if not (p.name.startswith((GEN_PREFIX, TMP_PREFIX)) or p.name == LOCK)]
        if foreign:
            raise CorpusError(f"{index_dir} is not an index folder and is not empty (holds {foreign[0]!r}); choose another --index")


def _resolve_sources(sources: Iterable[str | os.PathLike[str]] | None, manifest: dict | None) -> list[str]:
    given = [str(s) for s in sources] if sources is not None else []
    if given:
        return [str(Path(s).resolve()) for s in given]
    if manifest and manifest.get("sources"):
        return list(manifest["sources"])
    if all(Path(s).exists() for s in DEFAULT_SOURCES):
        return [str(Path(s).resolve()) for s in DEFAULT_SOURCES]
    raise SourceError("no sources given and no seeds/ folder here; name the folders or files to index")


def _resolve_piece_tokens(piece_tokens: int | None, manifest: dict | None) -> int:
    recorded = manifest.get("piece_tokens") if manifest else None
    if piece_tokens is None:
        return recorded or DEFAULT_PIECE_TOKENS
    if piece_tokens < 32:
        raise CorpusError(f"pieces of {piece_tokens} word pieces are too small (at least 32)")
    if recorded is not None and piece_tokens != recorded:
        raise SettingMismatchError(f"the index cuts paragraphs into pieces of {recorded} word pieces, not {piece_tokens}; add --rebuild to change it")
    return piece_tokens


def _resolve_encoder(encoder: str | None, manifest: dict | None) -> str:
    recorded = manifest["model"].get("encoder", DEFAULT_ENCODER) if manifest else None
    if encoder is None:
        return recorded or DEFAULT_ENCODER
    if encoder not in ENCODERS:
        raise CorpusError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if recorded is not None and encoder != recorded:
        raise SettingMismatchError(f"the index was embedded with the {recorded} encoder, not {encoder}; add --rebuild to change it")
    return encoder


def _load_encoder(encoder: str, model_path: str | None, prev_gen: Path | None, tmp: Path) -> Embedder:
    """The encoder of the build. An int8 model is exported once, when an index is
    created, and then travels from generation to generation unchanged."""
    if encoder == DEFAULT_ENCODER:
        return load_embedder(model_path)
    target = tmp / ENCODER_FILE
    if prev_gen is not None and (prev_gen / ENCODER_FILE).is_file():
        shutil.copy2(prev_gen / ENCODER_FILE, target)
    else:
        export_onnx_int8(model_path, target)
    return load_embedder(model_path, onnx_file=target)


def _read_all(sources: list[str], report: BuildReport, progress: Progress) -> list[Article]:
    articles: dict[str, Article] = {}
    for item in read_sources(sources):
        if isinstance(item, Skipped):
            report.skipped.append(item)
        elif item.id in articles:
            report.skipped.append(Skipped(item.source, f"duplicate article id {item.id!r} (first read from {articles[item.id].source})"))
        else:
            articles[item.id] = item
            if item.meta.get("encoding"):
                report.notes.append(f"{item.source}: not UTF-8, read as {item.meta['encoding']}")
        progress("read", len(articles), None)
    return list(articles.values())


def _skip_hint(skipped: list[Skipped]) -> str:
    if not skipped:
        return ""
    return f" ({len(skipped)} skipped, first: {skipped[0].path}: {skipped[0].reason})"


def embed_input(title: str, text: str) -> str:
    """What the embedder sees for a paragraph: its (shortened) title, then its text."""
    return f"{title}\n{text}" if title else text


def _write_generation(
    tmp: Path,
    prev_gen: Path | None,
    articles: list[Article],
    encoder_job: _EncoderJob,
    report: BuildReport,
    progress: Progress,
    timer: _StageTimer,
    batch_size: int,
    piece_tokens: int,
) -> bool:
    """Write the new generation into ``tmp``; return False when nothing changed."""
    old = _article_hashes(prev_gen)
    wanted = {a.id for a in articles}
    todo = [a for a in articles if old.get(a.id) != a.content_hash()]
    removed = [aid for aid in old if aid not in wanted]
    report.new_articles = sum(a.id not in old for a in todo)
    report.changed_articles = len(todo) - report.new_articles
    report.unchanged_articles = len(articles) - len(todo)
    report.removed_articles = len(removed)
    report.articles = len(articles)
    if prev_gen is not None and not todo and not removed:
        report.paragraphs, report.pieces = (read_manifest(prev_gen)["counts"][k] for k in ("paragraphs", "pieces"))
        return False

    # The model loads (torch's import and weights take seconds) while articles are split and
    # the store is written: none of that needs more of the model than its tokenizer. Whoosh is
    # written by a child process (corpus.keyword_writer) that starts once the store is
    # committed: a thread would hold the GIL the model's import needs, and a thread beside the
    # encoder saved no time. On the BBC build the child's 6 s run beside the encoder's first
    # batches (whose stage grew 1.3 s), and the build no longer waits the 5 s Whoosh took in line.
    encoder_job.start()
    if prev_gen is not None:
        with timer("copy previous"):
            shutil.copytree(prev_gen / KEYWORD_DIR, tmp / KEYWORD_DIR)
            shutil.copy2(prev_gen / STORE, tmp / STORE)
            shutil.copy2(prev_gen / VECTORS, tmp / VECTORS)
        store = Store(tmp / STORE, readonly=False)
        vectors = VectorIndex.load(tmp / VECTORS)
        keyword = KeywordIndex.open(tmp / KEYWORD_DIR)
    else:
        store = Store.create(tmp / STORE)
        vectors = None
        keyword = KeywordIndex.create(tmp / KEYWORD_DIR)
    writer: KeywordWriter | None = None
    try:
        with timer("split"):
            split = split_articles(todo, encoder_job.tokenizer(), progress, piece_tokens)
        inputs = [embed_input(short_title, p.text) for _, short_title, paragraphs in split for p in paragraphs]
        ekeys = [hashlib.sha1(text.encode("utf-8")).hexdigest()[:24] for text in inputs]

        # Reuse vectors of identical embedding inputs, read back before anything is deleted.
        with timer("reuse"):
            reusable = store.pids_by_ekey(ekeys)
            need = [i for i, k in enumerate(ekeys) if k not in reusable]
            have = [i for i, k in enumerate(ekeys) if k in reusable]
            reused = vectors.reconstruct(np.array([reusable[ekeys[i]] for i in have], dtype=np.int64)) if have else None
        report.reused = len(have)
        report.embedded = len(need)

        replaced = removed + [a.id for a in todo if a.id in old]  # their old paragraphs go
        with timer("store"):
            dropped = store.delete_articles(replaced)
            report.removed_paragraphs = len(dropped)
            new_pids: list[int] = []
            pos = 0
            for article, _, paragraphs in split:
                keys = ekeys[pos : pos + len(paragraphs)]
                new_pids.extend(store.add_article(article, paragraphs, keys))
                pos += len(paragraphs)
            store.commit()

        # The keyword index's rows are read back from the committed store (ids only grow, so
        # the new paragraphs are those from the first new id on), streamed as the writer takes
        # them, in this process or in the child: a list would hold a second copy of every text.
        n_rows = sum(len({p.number for p in pieces}) for _, _, pieces in split)
        if new_pids and n_rows >= KEYWORD_PROCESS_MIN_ROWS:
            keyword.close()  # the child writes it; it is opened again to check it
            writer = KeywordWriter(
                tmp / KEYWORD_DIR, tmp / STORE, remove=replaced, first_pid=new_pids[0], rows=n_rows,
                progress=lambda done, total: progress("keyword index", done, total),
            )
        else:
            with timer("keyword index"):
                rows = store.paragraph_rows(from_pid=new_pids[0]) if new_pids else iter(())
                keyword.update(replaced, _counted(rows, n_rows, progress))
        with timer("load model"):
            embedder = encoder_job.result()
        if vectors is None:
            vectors = VectorIndex.create(embedder.info.dim)

        # Vectors are kept in parts, as encoded, and each part is freed once the vector
        # index holds it: at 1M pieces one matrix of them all is 1.5 GB more at the peak.
        piece_ids = np.array(new_pids, dtype=np.int64)
        parts = [(piece_ids[have], reused)] if have else []
        del reused
        with timer("embed"):
            for lo in range(0, len(need), EMBED_PART):
                part = need[lo : lo + EMBED_PART]
                parts.append((
                    piece_ids[part],
                    embedder.encode(
                        [inputs[i] for i in part],
                        batch_size=batch_size,
                        progress=lambda done, total, lo=lo: progress("embed", lo + done, len(need)),
                    ),
                ))
            del inputs, ekeys  # at 1M paragraphs each of these lists holds hundreds of MB
        with timer("vector index"):
            vectors = vectors.update(np.array(dropped, dtype=np.int64), parts)
            vectors.save(tmp / VECTORS)
            report.vector_index = vectors.index_type
            if vectors.self_check_recall is not None:  # else the recall measured when it was trained stands
                report.vector_recall = vectors.self_check_recall

        if writer is not None:
            with timer("wait for keyword index"):
                written = writer.wait()
            timer.seconds["keyword index (writer process)"] = written["seconds"]
            report.keyword_writer_peak_rss_mb = written["peak_rss_mb"]
            keyword = KeywordIndex.open(tmp / KEYWORD_DIR)

        n_articles, report.paragraphs, report.pieces = store.counts()
        if report.pieces != len(vectors) or report.paragraphs != keyword.doc_count() or n_articles != len(articles):
            raise IndexCorruptError(
                f"built index is inconsistent (store {report.paragraphs} paragraphs and {report.pieces} pieces, "
                f"vectors {len(vectors)}, keyword {keyword.doc_count()}); nothing was published"
            )
        return True
    finally:
        if writer is not None:
            writer.stop()
        keyword.close()
        store.close()


def split_articles(
    articles: Sequence[Article], tokenizer: Tokenizer, progress: Progress, piece_tokens: int = DEFAULT_PIECE_TOKENS
) -> list[tuple[Article, str, list[Paragraph]]]:
    """Each article with its shortened title and its pieces, as a build splits them.

    Articles go to the splitter in chunks, so that the tokenizer counts many texts per call."""
    max_tokens = min(piece_tokens, tokenizer.max_tokens) - 2  # [CLS] and [SEP]
    out = []
    for lo in range(0, len(articles), SPLIT_CHUNK):
        chunk = articles[lo : lo + SPLIT_CHUNK]
        titles = _shorten_titles([a.title for a in chunk], tokenizer)
        budgets = [max(24, max_tokens - (n + 1 if title else 0)) for title, n in titles]
        for article, (title, _), pieces in zip(chunk, titles, split_many(chunk, tokenizer.count_tokens, budgets)):
            out.append((article, title, pieces))
        progress("split", lo + len(chunk), len(articles))
    return out


def _article_hashes(gen: Path | None) -> dict[str, str]:
    if gen is None:
        return {}
    store = Store(gen / STORE, readonly=True)
    try:
        return store.article_hashes()
    finally:
        store.close()


def _shorten_titles(titles: Sequence[str], tokenizer: Tokenizer) -> list[tuple[str, int]]:
    """Each title cut to at most TITLE_TOKENS word pieces, and its word pieces."""
    joined = [" ".join(t.split()) for t in titles]
    out = []
    for title, n in zip(joined, tokenizer.count_tokens(joined)):
        words = title.split()
        while words and n > TITLE_TOKENS:
            words = words[: max(1, len(words) * 3 // 4)] if len(words) > 1 else []
            n = tokenizer.count_tokens([" ".join(words)])[0] if words else 0
        out.append((" ".join(words), n) if words else ("", 0))
    return out


def _counted(rows: Iterable, total: int, progress: Progress) -> Iterator:
    for n, row in enumerate(rows, start=1):
        yield row
        if n % 500 == 0 or n == total:
            progress("keyword index", n, total)


def _write_manifest(tmp: Path, embedder: Embedder, articles: list[Article], sources: list[str], report: BuildReport, piece_tokens: int) -> None:
    from importlib.metadata import version

    fingerprint = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.id):
        fingerprint.update(f"{article.id}\0{article.content_hash()}\n".encode())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backend": FOLDER_BACKEND,
        "model": embedder.info.to_dict(),
        "embedding_input": f"title (at most {TITLE_TOKENS} word pieces), newline, paragraph text",
        "piece_tokens": piece_tokens,
        "keyword": {
            "engine": f"whoosh-reloaded {version('whoosh-reloaded')}",
            "analyzer": ANALYZER_ID,
            "scoring": {"name": "BM25F", "idf": "lucene", "B": BM25_B, "K1": BM25_K1},
            "title_boost": TITLE_BOOST,
        },
        "encoder": _encoder_record(tmp, embedder),
        "vector": {"engine": f"faiss-cpu {version('faiss-cpu')}", "index_type": report.vector_index, "self_check_recall@10": report.vector_recall, "dim": embedder.info.dim, "metric": "inner product"},
        "counts": {"articles": report.articles, "paragraphs": report.paragraphs, "pieces": report.pieces},
        "fingerprint": fingerprint.hexdigest()[:32],
        "sources": sources,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "last_build": {
            "seconds": round(report.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in report.stage_seconds.items()},
            "embedded": report.embedded,
            "reused": report.reused,
            "removed_paragraphs": report.removed_paragraphs,
            "skipped": [s.to_dict() for s in report.skipped],
        },
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def _encoder_record(tmp: Path, embedder: Embedder) -> dict[str, Any]:
    from importlib.metadata import version

    if embedder.info.encoder == DEFAULT_ENCODER:
        return {"kind": DEFAULT_ENCODER, "engine": f"torch {version('torch')}, sentence-transformers {version('sentence-transformers')}"}
    return {
        "kind": embedder.info.encoder,
        "engine": f"onnxruntime {version('onnxruntime')}",
        "file": ENCODER_FILE,
        "sha256": file_sha256(tmp / ENCODER_FILE),
        "quantisation": "int8 weights per output channel, dynamic activations",
    }


def _publish(index_dir: Path, tmp: Path) -> str:
    """Make ``tmp`` the published generation; atomic for readers."""
    _fsync_tree(tmp)
    name = f"{GEN_PREFIX}{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    final = index_dir / name
    os.rename(tmp, final)
    pointer = index_dir / f"{TMP_PREFIX}{CURRENT}"
    try:
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, index_dir / CURRENT)
    except BaseException:
        # never published: leave no generation that pruning could keep instead of the real one
        shutil.rmtree(final, ignore_errors=True)
        pointer.unlink(missing_ok=True)
        raise
    _fsync_dir(index_dir)
    return name


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    with open(index_dir / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BuildLockedError(f"another build is writing to {index_dir}; wait for it to finish") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_builds(index_dir: Path) -> None:
    """Remove what killed builds left behind (called under the build lock)."""
    for entry in index_dir.iterdir():
        if entry.name.startswith(TMP_PREFIX):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _remove_old_generations(index_dir: Path) -> None:
    current = current_generation(index_dir)
    gens = sorted((p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith(GEN_PREFIX)), key=lambda p: p.stat().st_mtime)
    old = [g for g in gens if g != current]
    for gen in old[: max(0, len(old) - KEEP_OLD_GENERATIONS)]:
        shutil.rmtree(gen, ignore_errors=True)


class _Background:
    """Run a function in a thread; ``join`` waits and re-raises what it raised."""

    def __init__(self, fn: Callable[[], object], name: str) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the building thread by join()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


class _EncoderJob:
    """The build's encoder: one given by the caller, or a model loaded in a thread."""

    def __init__(self, given: Embedder | None, load: Callable[[], Embedder], model_path: str | None) -> None:
        self._given = given
        self._load = load
        self._model_path = model_path
        self._job: _Background | None = None
        self._value: Embedder | None = given

    def start(self) -> None:
        if self._given is None and self._job is None:
            self._job = _Background(self._run, name="load-model")

    def _run(self) -> None:
        self._value = self._load()

    def tokenizer(self) -> Tokenizer:
        return self._given if self._given is not None else load_tokenizer(self._model_path)

    def result(self) -> Embedder:
        if self._value is None:
            self.start()
            self._job.join()
        return self._value

    def wait(self) -> None:
        if self._job is not None:
            self._job.wait()


class _StageTimer:
    """Seconds spent in each stage, and the process's peak memory when each ended."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
            self.peak_rss_mb[stage] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
