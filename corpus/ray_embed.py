"""Embedding through Ray Data, for corpora too big for one machine's encoder.

``encode_with_ray(texts, model_path)`` sends the texts through a Ray Data
pipeline whose actors each load the model once (on a GPU when the cluster
has them) and returns the vectors in the texts' order. Everything else of
a build stays in its own process. Starting Ray and a pipeline costs seconds
(here about 7 s to start and 15 s a pipeline), so it pays only on big corpora.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from .errors import CorpusError

#: Texts per batch handed to an actor.
BATCH = 256


class _Encoder:
    """A Ray Data actor: the model, loaded once."""

    def __init__(self, model_path: str | None, batch_size: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from corpus.embed import load_embedder

        self.model = load_embedder(model_path)
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        return {"i": batch["i"], "vector": self.model.encode([str(t) for t in batch["text"]], batch_size=self.batch_size)}


def encode_with_ray(
    texts: Sequence[str], model_path: str | None, *, address: str | None = None, batch_size: int = 32, actors: int | None = None, progress=None
) -> np.ndarray:
    """Normalised float32 vectors of ``texts``, computed by Ray Data actors.

    ``address`` is a running cluster's (``ray://…`` or ``HOST:PORT``); without one, Ray
    starts on this machine and stops when the build ends.
    """
    try:
        import ray
    except ImportError as exc:
        raise CorpusError("--embed-with ray needs Ray: pip install 'corpus-qa[ray]'") from exc
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    os.environ.setdefault("RAY_worker_niceness", "0")  # Ray's workers would run at nice 15, behind everything else
    logging.getLogger("ray").setLevel(logging.WARNING)  # a build reports its own progress
    started = False
    if not ray.is_initialized():
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        for attempt in (1, 2):  # a busy machine can miss Ray's fixed 30 s wait for its node once
            try:
                if address:
                    ray.init(address=address, **quiet)
                else:
                    ray.init(num_cpus=os.cpu_count() or 2, **quiet)
                break
            except Exception as exc:  # Ray raises many types for a cluster it cannot join
                ray.shutdown()
                if attempt == 2:
                    raise CorpusError(f"cannot start or join Ray{f' at {address}' if address else ''}: {exc}") from exc
        started = True
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        # one actor per GPU, or one per CPU but one (the read and write tasks need a share)
        n = actors or (gpus if gpus else max(1, cpus - 1))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)], override_num_blocks=max(1, min(len(texts) // BATCH, 4 * n)))
        out = ds.map_batches(
            _Encoder,
            fn_constructor_kwargs={"model_path": model_path, "batch_size": batch_size},
            batch_size=BATCH,
            concurrency=n,
            num_cpus=0 if gpus else 1,
            num_gpus=1 if gpus else 0,
        )
        vectors: np.ndarray | None = None
        done = 0
        for batch in out.iter_batches(batch_format="numpy", batch_size=None):
            if vectors is None:
                vectors = np.empty((len(texts), batch["vector"].shape[1]), dtype=np.float32)
            vectors[batch["i"]] = batch["vector"]
            done += len(batch["i"])
            if progress:
                progress(done, len(texts))
        if vectors is None or done != len(texts):
            raise CorpusError(f"Ray returned {done} of {len(texts)} vectors")
        return vectors
    finally:
        if started:
            ray.shutdown()
