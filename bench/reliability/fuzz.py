"""Fuzzing: thousands of odd queries and questions through the library, the CLI and the HTTP API.

A seeded generator (so a failure can be replayed from its seed and number)
mixes words of the corpus with search syntax, control characters, NULs, lone
surrogates, right-to-left and combining marks, emoji, 100 KB strings, stop
words only and punctuation only, and sends each input through one entry point:
``search`` in each mode (with odd ``k``), ``ask`` and the chat's ``respond``
with a well-formed or a malformed ``history``, ``article``. A call may refuse an input only with a
:class:`corpus.errors.CorpusError` (the command: exit status 1, or Click's usage
error, status 2, for a query that starts with "-"); anything else, and any
traceback written to stderr or logged, is a failure. Through a real ``corpus serve``, the
API's routes (``/ask``, ``/ask_filtered``, ``/ask_collection``) take odd questions with odd
histories, filters and collection names: each call must end in an answer or an error event,
and the server's log must hold no traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import traceback
from dataclasses import dataclass, field

SYNTAX = [
    "AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO", "*", "?", "~", "~2", "^", "^3", ":", "(", ")", "[", "]", "{", "}",
    '"', "'", "title:", "text:", "body:", "*:*", "\\", "/", "-", "+", "!", "&&", "||", "<", ">", "=", "%", "#", "[a TO z]", "{1 TO}",
]
STOP = ["the", "a", "of", "and", "is", "to", "in", "it", "what", "who", "was", "by", "on", "at"]
PUNCT = list(".,;:!?¿¡…—–-_()[]{}<>\"'`~@#$%^&*+=|\\/")
ODD = [
    "\x00", "\x01", "\x07", "\x1b[31m", "\x7f", "\u200b", "\u200e", "\u200f", "\u202e", "\u2066", "\ufeff", "\ufffd",
    "\u0301", "\u0301" * 50, "\ud800", "\udfff", "\U0001f600", "\U0001f9d1\u200d\U0001f680", "مرحبا", "שלום", "日本語の記事",
    "Ǆ", "ﬁ", "İ", "ß", "\r\n", "\t", "\u2028", "\x85", "%s%n", "{0}", "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd",
]
#: Malformed or unusual chat histories (the well-formed ones are made by :func:`_history`).
BAD_HISTORIES = [
    None, "", "text", 5, 3.5, True, {}, {"role": "user"}, [None], [5], ["text"], [{}], [{"role": "user"}],
    [{"content": None}], [{"role": "user", "content": None}], [{"role": "assistant", "content": 3}],
    [{"role": None, "content": "Who?"}], [[1, 2]], [("a", None)], [(None, None)], [["Who led it?", {"x": 1}]],
    [{"role": "user", "content": {"text": "nested"}}], [{"role": "user", "content": ["list"]}], object(),
]
KS = [-5, 0, 1, 3, 10, 50, 1000, 10**6]


@dataclass
class Failures:
    inputs: int = 0
    refused: int = 0  # CorpusError: a typed refusal, as intended
    untyped: list[dict] = field(default_factory=list)
    tracebacks: int = 0


def _text(rng: random.Random, words: list[str]) -> str:
    kind = rng.random()
    if kind < 0.02:  # about 100 KB
        unit = rng.choice([*words, *ODD, *SYNTAX])
        return (unit + rng.choice([" ", "", "\n"])) * (100_000 // max(1, len(unit) + 1))
    if kind < 0.06:
        return " ".join(rng.choice(STOP) for _ in range(rng.randint(1, 8)))
    if kind < 0.10:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 30)))
    if kind < 0.13:
        return rng.choice(["", " ", "\n\t ", "\x00", "?"])
    if kind < 0.20:  # random code points, any plane (surrogates included)
        return "".join(chr(rng.randint(1, 0x10FFFF)) for _ in range(rng.randint(1, 60)))
    parts = []
    for _ in range(rng.randint(1, 14)):
        r = rng.random()
        pool = words if r < 0.5 else SYNTAX if r < 0.75 else ODD if r < 0.9 else STOP
        piece = rng.choice(pool)
        if rng.random() < 0.1:
            piece = piece + rng.choice(SYNTAX)
        parts.append(piece)
    return rng.choice([" ", "", "  ", "\n"]).join(parts)


def _history(rng: random.Random, words: list[str]):
    if rng.random() < 0.5:
        return rng.choice(BAD_HISTORIES)
    turns = []
    for _ in range(rng.randint(0, 4)):
        turns.append({"role": "user", "content": _text(rng, words)})
        turns.append({"role": "assistant", "content": _text(rng, words)})
    return turns


def inputs(seed: int, count: int, words: list[str]):
    """(number, entry point, arguments) of the fuzzed calls."""
    rng = random.Random(seed)
    for n in range(count):
        point = rng.choice(["keyword", "vector", "hybrid", "ask", "chat", "article"])
        text = _text(rng, words)
        if point in ("ask", "chat"):
            yield n, point, (text, _history(rng, words), rng.choice([None, *KS]))
        elif point == "article":
            yield n, point, (text,)
        else:
            yield n, point, (text, rng.choice(KS))


class _LoggedTracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.count += 1


def fuzz_library(lib, count: int, seed: int, words: list[str]) -> Failures:
    from corpus.errors import CorpusError
    from qa.chat import respond

    result = Failures()
    handler = _LoggedTracebacks()
    logging.getLogger().addHandler(handler)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            for n, point, args in inputs(seed, count, words):
                result.inputs += 1
                try:
                    if point == "ask":
                        text, history, k = args
                        json.dumps(lib.ask(text, history, k=k).to_dict())
                    elif point == "chat":  # what the browser chat runs
                        text, history, k = args
                        for reply in respond(lib, text, history, k=k, cite=lambda n: f"#cite-{n}"):
                            reply.markdown.encode("utf-8", "surrogatepass")
                    elif point == "article":
                        lib.article(args[0])
                        lib.article_hits(args[0])
                    else:
                        hits = lib.search(args[0], k=args[1], mode=point)
                        for hit in hits:
                            hit.marked()
                except CorpusError:
                    result.refused += 1
                except Exception as exc:  # noqa: BLE001 — what the trial counts
                    result.untyped.append(
                        {"seed": seed, "n": n, "call": point, "input": repr(args)[:300], "error": f"{type(exc).__name__}: {exc}"[:300],
                         "where": traceback.format_exc(limit=-2)[-600:]}
                    )
    finally:
        logging.getLogger().removeHandler(handler)
    result.tracebacks = stderr.getvalue().count("Traceback") + handler.count
    return result


def fuzz_cli(index: str, count: int, seed: int, words: list[str]) -> Failures:
    """The ``corpus`` command run in this process (Click's test runner), stdout and stderr apart."""
    from typer.testing import CliRunner

    from qa.cli import app

    runner = CliRunner()
    rng = random.Random(seed)
    result = Failures()
    for n in range(count):
        text = _text(rng, words)[:20_000]  # an argument list has a limit of its own
        text = text.replace("\x00", "")  # no NUL can be in an argument
        text = text.encode("utf-8", "replace").decode("utf-8")  # nor a lone surrogate
        command = rng.choice([["search", text, "--index", index, "-k", str(rng.choice([1, 10, 1000]))],
                              ["search", text, "--index", index, "--mode", rng.choice(["keyword", "vector", "hybrid"]), "--json"],
                              ["ask", text, "--index", index], ["ask", text, "--index", index, "--json"]])
        result.inputs += 1
        run = runner.invoke(app, command, catch_exceptions=True)
        output = (run.stdout or "") + (run.stderr or "")
        if run.exception is not None and not isinstance(run.exception, SystemExit):
            result.untyped.append({"seed": seed, "n": n, "call": "cli " + command[0], "input": repr(text)[:300],
                                   "error": f"{type(run.exception).__name__}: {run.exception}"[:300]})
        elif run.exit_code == 2 and "Usage:" in output:  # Click's usage error: a query that starts with "-"
            result.refused += 1
        elif run.exit_code not in (0, 1):
            result.untyped.append({"seed": seed, "n": n, "call": "cli " + command[0], "input": repr(text)[:300],
                                   "error": f"exit {run.exit_code}: {output[-300:]}"})
        elif run.exit_code == 1:
            result.refused += 1
        if "Traceback" in output:
            result.tracebacks += 1
    return result


def fuzz_processes(index: str, count: int, seed: int, words: list[str]) -> Failures:
    """A few real ``corpus`` processes, to see their real stderr (the in-process runner above is fast)."""
    import subprocess

    from common import CORPUS, ROOT

    rng = random.Random(seed)
    result = Failures()
    for n in range(count):
        text = _text(rng, words)[:5_000].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
        command = [*CORPUS, rng.choice(["search", "ask"]), text, "--index", index, *rng.choice([[], ["--json"]])]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, errors="replace", timeout=300)
        result.inputs += 1
        if run.returncode == 2 and "Usage:" in run.stderr:
            result.refused += 1
        elif run.returncode not in (0, 1):
            result.untyped.append({"seed": seed, "n": n, "call": "process " + command[1], "input": repr(text)[:300], "error": f"exit {run.returncode}: {run.stderr[-300:]}"})
        elif run.returncode == 1:
            result.refused += 1
        if "Traceback" in run.stderr:
            result.tracebacks += 1
    return result


#: Filter clauses for the API: well-formed, malformed and unknown.
FILTERS = [[], ["source=*"], ["since=2016"], ["since=yesterday"], ["until=2016-13-45"], ["no equals sign"], ["=x"], ["section="], [5], "source=*"]


def _json_safe(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")  # JSON carries no lone surrogate


def fuzz_server(index: str, count: int, seed: int, words: list[str], log_file) -> Failures:
    """A real ``corpus serve``: odd questions, histories, filters and collections through every
    API route, as an HTTP client sends them. A call may end in Gradio's error event; a failure
    is a call that gets no answer at all, and any traceback in the server's log."""
    from server import Server

    rng = random.Random(seed)
    result = Failures()
    server = Server(index, log_file)
    try:
        for n in range(count):
            text = _json_safe(_text(rng, words)[:20_000])
            history = _history(rng, words)
            history = history if isinstance(history, (list, str, int, float, bool, dict)) or history is None else "object"
            history = json.loads(json.dumps(history, default=str).encode("utf-8", "replace").decode("utf-8"))
            api = rng.choice(["ask", "ask_filtered", "ask_collection"])
            data = [text, history]
            if api == "ask_filtered":
                data.append(rng.choice(FILTERS))
            elif api == "ask_collection":
                data += [rng.choice(["", None, "All collections", "index", "nowhere", 5]), rng.choice(FILTERS)]
            result.inputs += 1
            try:
                event, message = server.call(api, data)
            except Exception as exc:  # noqa: BLE001 - the server did not answer: a failure
                result.untyped.append({"seed": seed, "n": n, "call": "api " + api, "input": repr(data)[:300], "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            if event == "error":
                result.refused += 1
            elif event != "complete":
                result.untyped.append({"seed": seed, "n": n, "call": "api " + api, "input": repr(data)[:300], "error": f"event {event!r}: {message[:200]}"})
    finally:
        written = server.close()
    result.tracebacks = written.count("Traceback")
    return result


def run(seed_index: str, count: int = 10_000, cli_count: int = 500, seed: int = 1, processes: int = 10, api_count: int = 300) -> dict:
    from common import Clock, SEEDS

    from qa import Library

    clock = Clock()
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt")))
    words = sorted({w.strip(".,;:'\"()") for w in text.split() if w.strip(".,;:'\"()")})
    with Library.open(seed_index) as lib:
        library = fuzz_library(lib, count, seed, words)
    cli = fuzz_cli(seed_index, cli_count, seed + 1, words)
    real = fuzz_processes(seed_index, processes, seed + 2, words)
    from common import WORK

    WORK.mkdir(parents=True, exist_ok=True)
    api = fuzz_server(seed_index, api_count, seed + 3, words, WORK / "fuzz-server.log")
    cli.inputs += real.inputs
    cli.refused += real.refused
    cli.untyped += real.untyped
    cli.tracebacks += real.tracebacks
    return {
        "command": "python bench/reliability/run.py --only fuzz",
        "index": "seeds/ (the bundled article)",
        "library": {"inputs": library.inputs, "refused_with_corpus_error": library.refused,
                    "untyped_exceptions": len(library.untyped), "tracebacks": library.tracebacks},
        "cli": {"inputs": cli.inputs, "of_them_real_processes": real.inputs, "refused_with_exit_1_or_2": cli.refused, "untyped_exceptions": len(cli.untyped), "tracebacks": cli.tracebacks},
        "api": {"inputs": api.inputs, "refused_with_an_error_event": api.refused, "unanswered": len(api.untyped), "tracebacks_in_the_server_log": api.tracebacks},
        "inputs": library.inputs + cli.inputs + api.inputs,
        "untyped_exceptions": len(library.untyped) + len(cli.untyped) + len(api.untyped),
        "tracebacks": library.tracebacks + cli.tracebacks + api.tracebacks,
        "examples": (library.untyped + cli.untyped + api.untyped)[:20],
        "seconds": clock.seconds(),
    }
