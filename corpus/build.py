"""Building and incrementally updating an index, atomically.

``build(sources, index_dir)`` reads the sources, compares each article's
content hash with the published generation, and writes a new generation in
which only new and changed articles are split and indexed again; a paragraph
whose embedding input is unchanged keeps its vector (read back from the
vector index), so only new text is embedded.

The stages (read, split, reuse, rows, keywords, embed, vectors, check,
publish) talk to the index only through a :class:`corpus.backend.Draft`:
the backend decides where rows, keywords and vectors live and how a
generation is published atomically (for the folder backend, see
:mod:`corpus.folder`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import resource
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .backend import Draft, default_index_dir, open_backend
from .documents import Article, Paragraph, Skipped
from .embed import DEFAULT_ENCODER, ENCODERS, Embedder, Tokenizer, export_onnx_int8, export_query_encoder, file_sha256, load_embedder, load_tokenizer
from .errors import CorpusError, IndexCorruptError, SettingMismatchError, SourceError
from .index import ENCODER_FILE, FORMAT, FORMAT_VERSION, resolve_model_path
from .sources import read_sources
from .split import split_many

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
#: Where a build embeds: in its own process, or through Ray Data (see corpus.ray_embed).
EMBED_WITH = ("process", "ray")
#: Articles split per batch of tokenizer calls.
SPLIT_CHUNK = 1024


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
    embed_with: str = "process",
    ray_address: str | None = None,
) -> BuildReport:
    """Build or incrementally update the index at ``index_dir`` from ``sources``.

    Without ``sources``, an existing index re-reads the sources it was built
    from, and a new one reads ``seeds/``. ``encoder`` is ``torch`` (the default)
    or ``onnx-int8`` and, like ``piece_tokens``, is fixed when an index is
    created. ``embedder`` replaces the model with any object of the
    :class:`corpus.embed.Embedder` protocol whose vectors live in the space of
    the model it names (the benchmark uses one). ``embed_with="ray"`` sends the
    pieces to embed through Ray Data (:mod:`corpus.ray_embed`; on the cluster at
    ``ray_address``, else started here), with the torch encoder. Raises :class:`CorpusError`
    subclasses for user errors; the published index is never damaged.
    """
    started = time.perf_counter()
    index_dir = index_dir if index_dir is not None else default_index_dir()
    backend = open_backend(index_dir)
    progress = progress or (lambda stage, done, total: None)
    with backend.lock():
        draft = backend.draft(rebuild=rebuild)
        prev_manifest = draft.base_manifest
        # a rebuild starts from nothing, but with the index's settings unless new ones are given
        settings = draft.published_manifest
        encoder_job: _EncoderJob | None = None
        try:
            source_list = _resolve_sources(sources, settings)
            piece_tokens = _resolve_piece_tokens(piece_tokens, settings, fixed=not rebuild)
            encoder = _resolve_encoder(encoder, settings, fixed=not rebuild)
            if prev_manifest is not None:
                model_path = resolve_model_path(prev_manifest, model)
            elif model is None and settings is not None:
                model_path = resolve_model_path(settings, None)
            else:
                model_path = str(model) if model is not None else None
            timer = _StageTimer()
            report = BuildReport(index=str(index_dir), generation=None)
            if prev_manifest:
                report.vector_recall = prev_manifest["vector"].get("self_check_recall@10")
            with timer("read"):
                articles = _read_all(source_list, report, progress)
            if not articles:
                raise SourceError("no articles found in " + ", ".join(source_list) + _skip_hint(report.skipped))
            encoder_job = _EncoderJob(embedder, lambda: _load_encoder(encoder, model_path, draft), model_path)
            if embed_with not in EMBED_WITH:
                raise CorpusError(f"unknown --embed-with {embed_with!r}; choose one of {', '.join(EMBED_WITH)}")
            if embed_with == "ray" and encoder != DEFAULT_ENCODER:
                raise CorpusError("--embed-with ray embeds with the torch encoder; this index uses " + encoder)
            ray = (model_path, ray_address) if embed_with == "ray" else None
            changed = _write_generation(draft, articles, encoder_job, report, progress, timer, batch_size, piece_tokens, ray)
            if not changed and prev_manifest is not None:
                report.up_to_date = True
                report.generation = draft.base_generation
                draft.discard()
            else:
                report.seconds = time.perf_counter() - started
                report.stage_seconds = timer.seconds
                manifest = _manifest(draft, encoder_job.result(), articles, source_list, report, piece_tokens)
                report.generation = draft.publish(manifest)
                if encoder == DEFAULT_ENCODER and embedder is None and embed_with == "process":
                    _keep_query_encoder(model_path)
        except BaseException:
            if encoder_job is not None:
                encoder_job.wait()  # it may be writing into the draft
            draft.discard()
            raise
        backend.prune()
    report.seconds = time.perf_counter() - started
    report.stage_seconds = timer.seconds
    report.stage_peak_rss_mb = timer.peak_rss_mb
    return report


# -- steps ---------------------------------------------------------------------


def _resolve_sources(sources: Iterable[str | os.PathLike[str]] | None, manifest: dict | None) -> list[str]:
    given = [str(s) for s in sources] if sources is not None else []
    if given:
        return [str(Path(s).resolve()) for s in given]
    if manifest and manifest.get("sources"):
        return list(manifest["sources"])
    if all(Path(s).exists() for s in DEFAULT_SOURCES):
        return [str(Path(s).resolve()) for s in DEFAULT_SOURCES]
    raise SourceError("no sources given and no seeds/ folder here; name the folders or files to index")


def _resolve_piece_tokens(piece_tokens: int | None, manifest: dict | None, *, fixed: bool) -> int:
    """The piece size: as given, else as recorded; a new one only for a rebuild (``fixed`` false)."""
    recorded = manifest.get("piece_tokens") if manifest else None
    if piece_tokens is None:
        return recorded or DEFAULT_PIECE_TOKENS
    if piece_tokens < 32:
        raise CorpusError(f"pieces of {piece_tokens} word pieces are too small (at least 32)")
    if fixed and recorded is not None and piece_tokens != recorded:
        raise SettingMismatchError(f"the index cuts paragraphs into pieces of {recorded} word pieces, not {piece_tokens}; add --rebuild to change it")
    return piece_tokens


def _resolve_encoder(encoder: str | None, manifest: dict | None, *, fixed: bool) -> str:
    """The encoder: as given, else as recorded; a new one only for a rebuild (``fixed`` false)."""
    recorded = manifest["model"].get("encoder", DEFAULT_ENCODER) if manifest else None
    if encoder is None:
        return recorded or DEFAULT_ENCODER
    if encoder not in ENCODERS:
        raise CorpusError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if fixed and recorded is not None and encoder != recorded:
        raise SettingMismatchError(f"the index was embedded with the {recorded} encoder, not {encoder}; add --rebuild to change it")
    return encoder


def _keep_query_encoder(model_path: str | None) -> None:
    """Export the model's fp32 ONNX encoder for queries once (PyTorch is loaded already):
    searches and answers then start without importing it. Best effort: queries export it
    themselves when it is missing."""
    try:
        export_query_encoder(model_path)
    except (OSError, CorpusError) as exc:
        log.warning("the query encoder was not exported: %s", exc)


def _load_encoder(encoder: str, model_path: str | None, draft: Draft) -> Embedder:
    """The encoder of the build. An int8 model is exported once, when an index is
    created, and then travels from generation to generation unchanged."""
    if encoder == DEFAULT_ENCODER:
        return load_embedder(model_path)
    target = draft.carry_file(ENCODER_FILE)
    if not target.is_file():
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
    progress("read", len(articles), len(articles))  # done: its clock stops while the model loads
    return list(articles.values())


def _skip_hint(skipped: list[Skipped]) -> str:
    if not skipped:
        return ""
    return f" ({len(skipped)} skipped, first: {skipped[0].path}: {skipped[0].reason})"


def embed_input(title: str, text: str) -> str:
    """What the embedder sees for a paragraph: its (shortened) title, then its text."""
    return f"{title}\n{text}" if title else text


def _write_generation(
    draft: Draft,
    articles: list[Article],
    encoder_job: _EncoderJob,
    report: BuildReport,
    progress: Progress,
    timer: _StageTimer,
    batch_size: int,
    piece_tokens: int,
    ray: tuple[str | None, str | None] | None = None,
) -> bool:
    """Write the new generation into ``draft``; return False when nothing changed."""
    old = draft.article_hashes()
    wanted = {a.id for a in articles}
    todo = [a for a in articles if old.get(a.id) != a.content_hash()]
    removed = [aid for aid in old if aid not in wanted]
    report.new_articles = sum(a.id not in old for a in todo)
    report.changed_articles = len(todo) - report.new_articles
    report.unchanged_articles = len(articles) - len(todo)
    report.removed_articles = len(removed)
    report.articles = len(articles)
    if draft.base_manifest is not None and not todo and not removed:
        report.paragraphs, report.pieces = (draft.base_manifest["counts"][k] for k in ("paragraphs", "pieces"))
        return False

    # The model loads (torch's import and weights take seconds) while articles are split and
    # the rows are written: none of that needs more of the model than its tokenizer. The
    # keyword side may be written in the background beside the encoder (see the backend).
    encoder_job.start()
    try:
        with timer("copy previous"):
            draft.open()
        with timer("split"):
            split = split_articles(todo, encoder_job.tokenizer(), progress, piece_tokens)
        inputs = [embed_input(short_title, p.text) for _, short_title, paragraphs in split for p in paragraphs]
        ekeys = [hashlib.sha1(text.encode("utf-8")).hexdigest()[:24] for text in inputs]

        # Reuse vectors of identical embedding inputs, read back before anything is deleted.
        with timer("reuse"):
            have, reused = draft.reusable_vectors(ekeys)
            reusable = set(have)
            need = [i for i in range(len(ekeys)) if i not in reusable]
        report.reused = len(have)
        report.embedded = len(need)

        replaced = removed + [a.id for a in todo if a.id in old]  # their old paragraphs go
        with timer("store"):
            added, pos = [], 0
            for article, _, paragraphs in split:
                added.append((article, paragraphs, ekeys[pos : pos + len(paragraphs)]))
                pos += len(paragraphs)
            dropped, new_pids = draft.replace_articles(replaced, added)
            report.removed_paragraphs = len(dropped)

        n_rows = sum(len({p.number for p in pieces}) for _, _, pieces in split)
        with timer("keyword index"):
            draft.index_keywords(replaced, new_pids[0] if new_pids else None, n_rows, lambda done, total: progress("keyword index", done, total))
        with timer("load model"):
            embedder = encoder_job.result()

        # Vectors are kept in parts, as encoded, and each part is freed once the vector
        # index holds it: at 1M pieces one matrix of them all is 1.5 GB more at the peak.
        piece_ids = np.array(new_pids, dtype=np.int64)
        parts = [(piece_ids[have], reused)] if have else []
        del reused
        with timer("embed"):
            if ray is not None and need:  # the pieces go to Ray Data's actors in one pipeline
                from .ray_embed import encode_with_ray

                vectors = encode_with_ray([inputs[i] for i in need], ray[0], address=ray[1], batch_size=batch_size,
                                          progress=lambda done, total: progress("embed", done, total))
                parts.append((piece_ids[need], vectors))
                need = []
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
            report.vector_index, recall = draft.add_vectors(np.array(dropped, dtype=np.int64), parts, embedder.info.dim)
            if recall is not None:  # else the recall measured when it was trained stands
                report.vector_recall = recall

        with timer("wait for keyword index"):
            written = draft.finish()
        if written:
            timer.seconds["keyword index (writer process)"] = written["seconds"]
            report.keyword_writer_peak_rss_mb = written["peak_rss_mb"]

        n_articles, report.paragraphs, report.pieces = draft.checked_counts()
        if n_articles != len(articles):
            raise IndexCorruptError(f"built index holds {n_articles} articles, not {len(articles)}; nothing was published")
        return True
    finally:
        draft.close()


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


def _manifest(draft: Draft, embedder: Embedder, articles: list[Article], sources: list[str], report: BuildReport, piece_tokens: int) -> dict[str, Any]:
    fingerprint = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.id):
        fingerprint.update(f"{article.id}\0{article.content_hash()}\n".encode())
    engines = draft.engine_record()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backend": engines["backend"],
        "model": embedder.info.to_dict(),
        "embedding_input": f"title (at most {TITLE_TOKENS} word pieces), newline, paragraph text",
        "piece_tokens": piece_tokens,
        "keyword": engines["keyword"],
        "encoder": _encoder_record(draft, embedder),
        "vector": {**engines["vector"], "index_type": report.vector_index, "self_check_recall@10": report.vector_recall, "dim": embedder.info.dim},
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


def _encoder_record(draft: Draft, embedder: Embedder) -> dict[str, Any]:
    from importlib.metadata import version

    if embedder.info.encoder == DEFAULT_ENCODER:
        return {"kind": DEFAULT_ENCODER, "engine": f"torch {version('torch')}, sentence-transformers {version('sentence-transformers')}"}
    return {
        "kind": embedder.info.encoder,
        "engine": f"onnxruntime {version('onnxruntime')}",
        "file": ENCODER_FILE,
        "sha256": file_sha256(draft.carry_file(ENCODER_FILE)),
        "quantisation": "int8 weights per output channel, dynamic activations",
    }


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
