from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.eval.retrieval import load_beir

from .conftest import shared_data


@pytest.fixture(scope="module")
def scifact_sample(tmp_path_factory):
    """40 SciFact test queries over their relevant abstracts plus 200 others: real text, a fast build."""
    src = shared_data("scifact")
    out = tmp_path_factory.mktemp("scifact-sample")
    (out / "qrels").mkdir()
    rows = (src / "qrels" / "test.tsv").read_text().splitlines()
    header, rows = rows[0], rows[1:]
    qids = sorted({r.split("\t")[0] for r in rows}, key=int)[:40]
    kept = [r for r in rows if r.split("\t")[0] in qids]
    (out / "qrels" / "test.tsv").write_text("\n".join([header, *kept]) + "\n")
    relevant = {r.split("\t")[1] for r in kept}
    docs = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    others = [d for d in docs if d["_id"] not in relevant]
    chosen = [d for d in docs if d["_id"] in relevant] + random.Random(7).sample(others, 200)
    (out / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in chosen) + "\n")
    queries = [line for line in (src / "queries.jsonl").read_text().splitlines() if json.loads(line)["_id"] in qids]
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n")
    return out


def test_load_beir(scifact_sample):
    data = load_beir(scifact_sample)
    assert len(data.queries) == 40
    assert all(qid in data.qrels for qid in data.queries)


def test_eval_json_reports_every_mode(scifact_sample, tmp_path):
    runner = CliRunner()
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["eval", str(scifact_sample), "--json", "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert set(scores) == {"hybrid", "keyword", "vector"}
    for mode, values in scores.items():
        assert set(values) == {"ndcg@10", "recall@100", "mrr@10"}
        assert all(0.0 <= v <= 1.0 for v in values.values())
        # 240 abstracts: every mode must find most relevant ones
        assert values["ndcg@10"] > 0.6, (mode, values)
    assert scores["hybrid"]["ndcg@10"] >= min(scores["keyword"]["ndcg@10"], scores["vector"]["ndcg@10"])
    generation = (cache / "CURRENT").read_text()

    again = runner.invoke(app, ["eval", str(scifact_sample), "--json", "--mode", "keyword", "--cache", str(cache)])
    assert again.exit_code == 0
    assert json.loads(again.output) == {"keyword": scores["keyword"]}
    assert (cache / "CURRENT").read_text() == generation  # the cached index was reused as it was

    table = runner.invoke(app, ["eval", str(scifact_sample), "--mode", "keyword", "--cache", str(cache)])
    assert table.exit_code == 0, table.output
    assert "ndcg@10" in table.output and f"{scores['keyword']['ndcg@10']:.4f}" in table.output
