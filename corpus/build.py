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
:mod:`corpus.backends.folder.writer`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .backend import Draft, default_index_dir, open_backend
from .documents import Article, Skipped, corpus_fingerprint
from .embed import (
    DEFAULT_ENCODER,
    ENCODERS,
    Embedder,
    cached_int8_encoder,
    export_onnx_int8,
    export_query_encoder,
    file_sha256,
    load_embedder,
)
from .errors import CorpusError, SettingMismatchError, SourceError
from .generation import (
    EMBED_WITH,
    BuildReport,
    EncoderJob,
    StageTimer,
    write_generation,
)
from .manifest import ENCODER_FILE, FORMAT, FORMAT_VERSION, resolve_model_path
from .pieces import DEFAULT_PIECE_TOKENS, TITLE_TOKENS, Progress
from .read_cache import KnownArticle, ReadCache
from .sources import read_sources

log = logging.getLogger(__name__)

DEFAULT_SOURCES = ("seeds",)

__all__ = ["BuildReport", "build"]


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
        encoder_job: EncoderJob | None = None
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
            timer = StageTimer()
            report = BuildReport(index=str(index_dir), generation=None)
            if prev_manifest:
                report.vector_recall = prev_manifest["vector"].get("self_check_recall@10")
            # files unchanged since the published generation are not read again
            cache = ReadCache.for_index(backend.identity, prev_manifest.get("fingerprint") if prev_manifest else None)
            with timer("read"):
                articles = _read_all(source_list, report, progress, cache)
            if not articles:
                raise SourceError("no articles found in " + ", ".join(source_list) + _skip_hint(report.skipped))
            encoder_job = EncoderJob(embedder, lambda: _load_encoder(encoder, model_path, draft), model_path)
            if embed_with not in EMBED_WITH:
                raise CorpusError(f"unknown --embed-with {embed_with!r}; choose one of {', '.join(EMBED_WITH)}")
            if embed_with == "ray" and encoder != DEFAULT_ENCODER:
                raise CorpusError("--embed-with ray embeds with the torch encoder; this index uses " + encoder)
            ray = (model_path, ray_address) if embed_with == "ray" else None
            changed = write_generation(draft, articles, encoder_job, report, progress, timer, batch_size, piece_tokens, ray, cache.published_hashes())
            if not changed and prev_manifest is not None:
                report.up_to_date = True
                report.generation = draft.base_generation
                draft.discard()
                cache.save(prev_manifest["fingerprint"])
            else:
                report.seconds = time.perf_counter() - started
                report.stage_seconds = timer.seconds
                manifest = _manifest(draft, encoder_job.result(), articles, source_list, report, piece_tokens)
                report.generation = draft.publish(manifest)
                cache.save(manifest["fingerprint"])
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


def _encoder_file(model_path: str | None, draft: Draft) -> tuple[Path, bool]:
    """Where the int8 encoder of a build is, and whether it travels with the index's
    generations; a backend that keeps no files (Milvus) has it in the cache, by the
    model's fingerprint."""
    target = draft.carry_file(ENCODER_FILE)
    return (target, True) if target is not None else (cached_int8_encoder(model_path), False)


def _load_encoder(encoder: str, model_path: str | None, draft: Draft) -> Embedder:
    """The encoder of the build. An int8 model is exported once, when an index is
    created, and then travels from generation to generation unchanged."""
    if encoder == DEFAULT_ENCODER:
        return load_embedder(model_path)
    target, _ = _encoder_file(model_path, draft)
    if not target.is_file():
        export_onnx_int8(model_path, target)
    return load_embedder(model_path, onnx_file=target)


def _read_all(sources: list[str], report: BuildReport, progress: Progress, cache: ReadCache) -> list[Article | KnownArticle]:
    articles: dict[str, Article | KnownArticle] = {}
    pages = 0

    def on_page() -> None:  # a long PDF takes seconds: its pages move a bar of their own
        nonlocal pages
        pages += 1
        progress("read (PDF pages)", pages, None)

    for item in read_sources(sources, on_page=on_page, cache=cache):
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
    if pages:
        progress("read (PDF pages)", pages, pages)
    return list(articles.values())


def _skip_hint(skipped: list[Skipped]) -> str:
    if not skipped:
        return ""
    return f" ({len(skipped)} skipped, first: {skipped[0].path}: {skipped[0].reason})"


def _manifest(draft: Draft, embedder: Embedder, articles: list[Article | KnownArticle], sources: list[str], report: BuildReport, piece_tokens: int) -> dict[str, Any]:
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
        **{key: value for key, value in engines.items() if key not in ("backend", "keyword", "vector")},  # an engine's own record
        "counts": {"articles": report.articles, "paragraphs": report.paragraphs, "pieces": report.pieces},
        "fingerprint": corpus_fingerprint({a.id: a.content_hash() for a in articles}),
        "sources": sources,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "last_build": {
            "seconds": round(report.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in report.stage_seconds.items()},
            "embedded": report.embedded,
            "reused": report.reused,
            "removed_paragraphs": report.removed_paragraphs,
            "rows_written": report.rows_written,
            "skipped": [s.to_dict() for s in report.skipped],
        },
    }


def _encoder_record(draft: Draft, embedder: Embedder) -> dict[str, Any]:
    """The manifest's record of the encoder: for int8, its file (in the generation, or
    ``cache`` for a backend that keeps none) and SHA-256, checked when the index is opened."""
    from importlib.metadata import version

    if embedder.info.encoder == DEFAULT_ENCODER:
        return {"kind": DEFAULT_ENCODER, "engine": f"torch {version('torch')}, sentence-transformers {version('sentence-transformers')}"}
    file, kept = _encoder_file(embedder.info.path, draft)
    return {
        "kind": embedder.info.encoder,
        "engine": f"onnxruntime {version('onnxruntime')}",
        "file": ENCODER_FILE if kept else None,
        "cache": None if kept else file.name,
        "sha256": file_sha256(file),
        "quantisation": "int8 weights per output channel, dynamic activations",
    }
