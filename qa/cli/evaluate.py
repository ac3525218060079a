"""``corpus eval``: retrieval quality on a BEIR-format folder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .app import ProgressBars, app, err, out, print_json, user_errors


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")],
    mode: Annotated[list[str] | None, typer.Option(help="Mode(s) to score (default: hybrid, keyword and vector).")] = None,
    split: Annotated[str, typer.Option(help="Which qrels file to score.")] = "test",
    cache: Annotated[str | None, typer.Option("--index", "--cache", help="Where the dataset's index is kept (default indexes/eval/<dataset name>): a folder, or milvus:PATH.db or milvus://HOST:PORT[/NAME].")] = None,
    model: Annotated[Path | None, typer.Option(help="A sentence-transformers model folder.")] = None,
    encoder: Annotated[str | None, typer.Option(help="torch or onnx-int8 (its index is cached apart).")] = None,
    fusion: Annotated[str | None, typer.Option(help="Fusion method for hybrid: rrf or score.")] = None,
    weights: Annotated[str | None, typer.Option(help="Keyword and vector weights, e.g. 0.4,0.6.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """nDCG@10, Recall@100 and MRR@10 of each search mode on a BEIR-format dataset."""
    from qa import Library
    from qa.eval.retrieval import ensure_index, evaluate, load_beir
    from qa.library import MODES

    with user_errors():
        modes = mode or list(MODES)
        for m in modes:
            if m not in MODES:
                raise ValueError(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
        parsed_weights = _weights(weights)
        data = load_beir(dataset, split)
        index_dir = cache or Path("indexes/eval") / (dataset.resolve().name + (f"-{encoder}" if encoder and encoder != "torch" else ""))
        with ProgressBars(enabled=not as_json) as bars:
            ensure_index(data, index_dir, model=model, encoder=encoder, progress=bars.update)
        with Library.open(index_dir, model=model, fusion_method=fusion, weights=parsed_weights) as lib:
            results = evaluate(lib, data, modes, on_mode=None if as_json else lambda m: err.print(f"scoring {m}…"))
    if as_json:
        print_json((results))
        return
    table = Table(title=f"{dataset.name} ({split}, {len(data.queries)} queries)")
    table.add_column("mode")
    for name in ("ndcg@10", "recall@100", "mrr@10"):
        table.add_column(name, justify="right")
    for m, scores in results.items():
        table.add_row(m, *(f"{scores[n]:.4f}" for n in ("ndcg@10", "recall@100", "mrr@10")))
    out.print(table)


def _weights(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--weights takes two numbers such as 0.4,0.6, not {text!r}") from None
    if len(parts) != 2:
        raise ValueError(f"--weights takes two numbers such as 0.4,0.6, not {text!r}")
    return parts


@app.command("eval-qa")
def eval_qa_command(
    questions_file: Annotated[Path, typer.Argument(metavar="QUESTIONS", help="A SQuAD-format JSON file, or JSON Lines questions (question, kind, file, paragraph, answer).")],
    index: Annotated[Path | None, typer.Option("--index", help="JSON Lines questions: the index of their corpus.")] = None,
    sources: Annotated[Path | None, typer.Option("--sources", help="JSON Lines questions: the corpus folder (indexed once, cached under indexes/eval/).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Where the built index is kept (default indexes/eval/<name>).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Ask only the first N questions.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Abstention threshold (default: the answerer's).")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate", help="Also choose the threshold that keeps 90% of answerable questions answered.")] = False,
    details: Annotated[bool, typer.Option("--details", help="Also list every question: rank of the gold paragraph, quotes, verdict.")] = False,
    gold_left_out: Annotated[
        bool,
        typer.Option(
            "--gold-left-out",
            help="Also ask every answerable question with its gold article left out (the topic is in the corpus, the answer is not) and report the share declined.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Answer quality: gold paragraph in the top passages, answers inside quotes, answered and declined questions.

    corpus eval-qa squad.json (its contexts are indexed), or
    corpus eval-qa questions.jsonl --sources FOLDER | --index DIR
    """
    from qa import Library
    from qa.eval.answers import by_kind, curve, ensure_index, figures, held_out_check, load_questions, run, run_gold_left_out
    from qa.eval.answers import calibrate as choose_threshold
    from qa.eval.retrieval import build_cache

    with user_errors():
        docs, questions = load_questions(questions_file)
        questions = questions[:limit] if limit else questions
        with ProgressBars(enabled=not as_json) as bars:
            if docs is not None:
                if index or sources:
                    raise ValueError("a SQuAD file brings its own paragraphs; --index and --sources are for JSON Lines questions")
                index_dir = ensure_index(docs, cache or Path("indexes/eval") / questions_file.stem, progress=bars.update)
            elif index and sources:
                raise ValueError("give either --index or --sources, not both")
            elif index:
                index_dir = index
            elif sources:
                if not sources.exists():
                    raise ValueError(f"no such source folder: {sources}")
                index_dir = build_cache([sources], cache or Path("indexes/eval") / sources.resolve().name, progress=bars.update)
            else:
                raise ValueError("JSON Lines questions need their corpus: --sources FOLDER or --index DIR")
            with Library.open(index_dir) as lib:
                outcomes = run(lib, questions, on_progress=lambda done, total: bars.update("ask", done, total))
                default = lib.answerer.threshold if threshold is None else threshold
                if gold_left_out:
                    left_out, skipped = run_gold_left_out(lib, questions, on_progress=lambda done, total: bars.update("ask, gold left out", done, total))
    result = figures(outcomes, default)
    result["by_kind"] = by_kind(outcomes, default)
    thresholds = [round(0.05 * i, 2) for i in range(21)]
    result["curve"] = curve(outcomes, thresholds)
    if calibrate:
        # rounded down: rounding up could drop the very question it was chosen to keep answered
        result["calibrated_threshold"] = math.floor(choose_threshold(outcomes) * 10_000) / 10_000
        result["at_calibrated_threshold"] = figures(outcomes, result["calibrated_threshold"])
        result["held_out"] = held_out_check(outcomes)
    if gold_left_out:
        # a question whose answer another article also holds cannot be made unanswerable this way
        result["gold_left_out"] = {
            "asked": len(left_out),
            "skipped_answer_elsewhere": skipped,
            "abstain_rate": figures(left_out, default)["abstain_rate"],
            "curve": [{"threshold": row["threshold"], "abstain_rate": row["abstain_rate"]} for row in curve(left_out, thresholds)],
        }
    if details:
        result["questions"] = [o.detail(default) for o in outcomes]
        if gold_left_out:
            result["questions"] += [o.detail(default) for o in left_out]
    if as_json:
        print_json(result)
        return
    columns = ("threshold", "recall@1", "recall@5", "answer_in_quote", "answer_in_bold", "mean_quote_words", "answered_rate", "abstain_rate")
    if details:
        for item in result["questions"]:
            verdict = "answered" if item["answered"] else "declined"
            mark = "" if item["answer"] is None else (" ✓" if item["in_quote"] and item["answered"] else " ✗")
            out.print(f"{item['id']} [{item['kind']}] {item['question']}", markup=False, soft_wrap=True)
            out.print(f"    gold {item['gold']} rank {item['rank']} · {verdict} ({item['confidence']}){mark} · answer {item['answer']!r}", markup=False, soft_wrap=True)
            for quote, cited in zip(item["quotes"], item["cited"]):
                out.print(f"    “{quote}” — {cited}", markup=False, soft_wrap=True)
            if item["bold"]:
                out.print(f"    in bold: {' | '.join(item['bold'])}", markup=False, soft_wrap=True)
    table = Table(title=f"{questions_file.name}: {result['answerable']} answerable, {result['unanswerable']} unanswerable questions")
    table.add_column("")
    for name in columns:
        table.add_column(name, justify="right")
    rows = [("all", result)] + [(kind, row) for kind, row in result["by_kind"].items()]
    if calibrate and result["held_out"]:
        rows += [("calibrated", result["at_calibrated_threshold"]), ("held out", result["held_out"])]
    rows += [("", row) for row in result["curve"]]
    for label, row in rows:
        table.add_row(label, *(str(row[name]) for name in columns))
    out.print(table)
    if gold_left_out:
        g = result["gold_left_out"]
        out.print(
            f"Asked again with the gold article left out: {g['asked']} questions, declined {g['abstain_rate']} "
            f"({g['skipped_answer_elsewhere']} not asked: another article holds the answer)",
            markup=False,
            soft_wrap=True,
        )
