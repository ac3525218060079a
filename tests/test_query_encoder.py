"""Queries embed with the fp32 ONNX export of the model: PyTorch's vectors, without PyTorch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from corpus.embed import (
    OnnxEmbedder,
    export_query_encoder,
    load_query_embedder,
    query_encoder_file,
)

from .conftest import ROOT, SEED_FILE

ODD = [
    "",
    "Plain words.",
    "naïve café ﬁnance Ελληνικά 日本語 e\u0301 \u00a0 tabs\tand\nlines",
    "ISIS's 58 men, drowned.",
    " ".join(["a long paragraph past the model's window of word pieces"] * 60),
]


def _texts() -> list[str]:
    return [p for p in SEED_FILE.read_text().split("\n\n") if p.strip()] + ODD


def test_the_export_gives_the_models_own_vectors(embedder):
    file = export_query_encoder()
    assert file == query_encoder_file() and file.is_file()
    query = load_query_embedder()
    assert isinstance(query, OnnxEmbedder) and query.info.encoder == "torch"
    assert query.info.fingerprint == embedder.info.fingerprint and query.info.max_tokens == embedder.info.max_tokens
    texts = _texts()
    cosines = (query.encode(texts) * embedder.encode(texts)).sum(axis=1)
    assert cosines.min() >= 0.9999


def test_word_pieces_and_their_places_match_the_models_tokenizer(embedder):
    texts = _texts()
    ours = embedder._words.batch(texts, embedder.info.max_tokens)
    theirs = embedder._words.hf(texts, padding=True, truncation="longest_first", max_length=embedder.info.max_tokens, return_offsets_mapping=True, return_tensors="np")
    for name in ("input_ids", "attention_mask", "token_type_ids", "offset_mapping"):
        assert np.array_equal(ours[name], theirs[name]), name
    rows = load_query_embedder().encode_tokens(texts)
    reference = embedder.encode_tokens(texts)
    for a, b in zip(rows, reference):
        assert a.pieces == b.pieces and np.array_equal(a.spans, b.spans)
        assert float(a.pooled @ b.pooled) >= 0.9999


def test_a_damaged_export_is_dropped_and_made_again(tmp_path, monkeypatch, embedder):
    monkeypatch.setenv("CORPUS_CACHE", str(tmp_path / "cache"))
    file = query_encoder_file()
    file.parent.mkdir(parents=True)
    file.write_bytes(b"not an onnx graph")
    from corpus.embed import load

    monkeypatch.setattr(load, "_cache", {})
    first = load_query_embedder()  # the damaged file cannot load: PyTorch answers, the file goes
    assert not isinstance(first, OnnxEmbedder) and not file.exists()
    monkeypatch.setattr(load, "_cache", {})
    again = load_query_embedder()  # exported anew
    assert isinstance(again, OnnxEmbedder) and file.is_file()


def _modules_after(command: list[str], index) -> dict:
    """Run a ``corpus`` command in a fresh process; which heavy modules it imported."""
    script = (
        "import json, sys\n"
        "from qa.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'sentence_transformers', 'transformers', 'gradio', 'spacy', 'onnxruntime')}), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *command, "--index", str(index)], cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "command, loaded",
    [
        (["search", "rebellion", "--mode", "keyword"], set()),
        (["search", "rebellion"], {"onnxruntime"}),
        (["ask", "Who led the rebellion?"], {"onnxruntime", "spacy"}),
    ],
)
def test_commands_load_only_what_they_use(seed_index, command, loaded):
    export_query_encoder()  # as the build leaves it
    imported = _modules_after(command, seed_index)
    assert {m for m, present in imported.items() if present} == loaded


def test_spacy_loading_in_the_background_leaves_torch_importable_elsewhere():
    """While one thread imports spaCy without PyTorch, another imports PyTorch (the
    encoder forced to PyTorch while ``corpus ask`` preloads the tagger)."""
    script = (
        "import sys, threading\n"
        "from qa.answer.entities import _WithoutTorch\n"
        "other = threading.Thread(target=lambda: None)\n"
        "sys.meta_path.insert(0, _WithoutTorch(other))\n"
        "import torch\n"  # refused to `other` only
        "refused = []\n"
        "def probe():\n"
        "    try:\n        import torch.nn.functional\n    except ImportError:\n        refused.append(True)\n"
        "finder = _WithoutTorch(threading.current_thread())\n"
        "t = threading.Thread(target=probe); finder.thread = t; sys.meta_path.insert(0, finder)\n"
        "del sys.modules['torch.nn.functional']\n"
        "t.start(); t.join()\n"
        "print(torch.__version__, refused)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1:] == ["[True]"]


def _counting(monkeypatch, encoder) -> dict[str, int]:
    calls = {"encode": 0, "tokens": 0}
    plain, tokens = encoder._encode_sorted, encoder._encode_tokens_sorted

    def count_plain(texts, batch_size):
        calls["encode"] += len(texts)
        return plain(texts, batch_size)

    def count_tokens(texts, batch_size):
        calls["tokens"] += len(texts)
        return tokens(texts, batch_size)

    monkeypatch.setattr(encoder, "_encode_sorted", count_plain)
    monkeypatch.setattr(encoder, "_encode_tokens_sorted", count_tokens)
    return calls


def test_a_query_embedded_for_its_word_pieces_is_not_embedded_again(monkeypatch):
    query = load_query_embedder()
    calls = _counting(monkeypatch, query)
    text = "Who spearheaded the plot against ISIS in Mosul? (word pieces first)"
    [row] = query.encode_tokens([text])
    vector = query.encode([text])[0]
    assert calls == {"encode": 0, "tokens": 1}
    assert np.allclose(vector, row.pooled, atol=1e-6)
    vector[:] = 0  # the caller's copy: what the encoder keeps is unchanged
    assert np.allclose(query.encode([text])[0], row.pooled, atol=1e-6) and calls["encode"] == 0
    again = "A question embedded for its search first, then asked again"
    first = query.encode([again])[0]
    assert np.array_equal(query.encode([again])[0], first) and calls["encode"] == 1
    # many texts at once (a build's, an answer's sentences) are neither recalled nor kept
    query.encode([text, again, "a third text"])
    assert calls["encode"] == 4


def test_small_batches_give_the_vectors_of_large_ones():
    query = load_query_embedder()
    texts = _texts()
    for a, b in zip(query.encode_tokens(texts), query.encode_tokens(texts, batch_size=64)):
        assert a.pieces == b.pieces and np.array_equal(a.spans, b.spans)
        assert np.allclose(a.pooled, b.pooled, atol=1e-5) and np.allclose(a.vectors.astype(np.float32), b.vectors.astype(np.float32), atol=2e-3)


def test_an_answer_embeds_its_question_once(seed_lib, monkeypatch):
    calls = _counting(monkeypatch, load_query_embedder())
    answer = seed_lib.ask("Who led the plot against ISIS in Mosul, according to the newest sources?")
    assert answer.quotes or answer.answered is False
    assert calls["encode"] == 0 and calls["tokens"] >= 1  # the question's vector came from its word-piece pass (its passages may be known)


def test_openmp_threads_wait_without_spinning_unless_told_otherwise():
    code = "import os, corpus; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip() == "ACTIVE"
