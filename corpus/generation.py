"""Writing one generation into a draft: the stages of a build, the model loading beside them."""

from __future__ import annotations

import contextlib
import hashlib
import resource
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .backend import Draft
from .documents import Article, Skipped
from .embed import Embedder, Tokenizer, load_tokenizer
from .errors import IndexCorruptError
from .pieces import Progress, embed_input, split_articles
from .read_cache import KnownArticle

#: Embedding inputs encoded per call: the encoder sorts each part by length (less padding).
EMBED_PART = 65_536
#: Where a build embeds: in its own process, or through Ray Data (see corpus.ray_embed).
EMBED_WITH = ("process", "ray")
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
    #: Rows the build wrote into an engine that counts them (inserted, or upserted to mark them removed).
    rows_written: int | None = None
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


def write_generation(
    draft: Draft,
    articles: list[Article | KnownArticle],
    encoder_job: EncoderJob,
    report: BuildReport,
    progress: Progress,
    timer: StageTimer,
    batch_size: int,
    piece_tokens: int,
    ray: tuple[str | None, str | None] | None = None,
    published: dict[str, str] | None = None,
) -> bool:
    """Write the new generation into ``draft``; return False when nothing changed.
    ``published``: the base generation's article hashes where the caller knows them all
    (see :meth:`corpus.read_cache.ReadCache.published_hashes`), else they are read back."""
    with timer("compare"):  # what changed: every article's hash against the published ones
        old = published if published is not None and draft.base_manifest is not None else draft.article_hashes()
        wanted = {a.id for a in articles}
        todo = [a for a in articles if old.get(a.id) != a.content_hash()]
        removed = [aid for aid in old if aid not in wanted]
    if any(isinstance(a, KnownArticle) for a in todo):  # the cache matched the manifest's fingerprint, not the rows
        raise IndexCorruptError("the index's articles do not match its manifest; rebuild it with `corpus build --rebuild`")
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
        report.rows_written = draft.rows_written
        if n_articles != len(articles):
            raise IndexCorruptError(f"built index holds {n_articles} articles, not {len(articles)}; nothing was published")
        return True
    finally:
        draft.close()


class Background:
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


class EncoderJob:
    """The build's encoder: one given by the caller, or a model loaded in a thread."""

    def __init__(self, given: Embedder | None, load: Callable[[], Embedder], model_path: str | None) -> None:
        self._given = given
        self._load = load
        self._model_path = model_path
        self._job: Background | None = None
        self._value: Embedder | None = given

    def start(self) -> None:
        if self._given is None and self._job is None:
            self._job = Background(self._run, name="load-model")

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


class StageTimer:
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
