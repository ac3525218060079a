"""The browser chat: its API, load, binding, escaping and a real browser driving it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from corpus import build
from qa import Library

from .conftest import ROOT, SEED_FILE, SEEDS

CHROMIUM = "/usr/bin/chromium"
HOSTILE = (
    "Harbour festival night\n\n"
    'The harbour festival opens with fireworks at nine. <script>window.__pwned = 1; alert("x")</script> '
    '<img src=x onerror="window.__pwned = 2"> Visitors can [win a prize](javascript:window.__pwned=3) at the quay.\n'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _serving(lib: Library):
    """The chat over ``lib`` in this process, at the URL it yields; closed with the library."""
    from ui.app import launch

    port = _free_port()
    demo = launch(lib, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        lib.close()


def _wait_served(url: str, proc: subprocess.Popen, log) -> None:
    """Wait until a ``corpus serve`` child answers at ``url``; fail with its output if it ends."""
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, log()
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=5).close()
            return
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.5)


def _serving_folder(tmp_path_factory, name: str, files: dict[str, str]):
    """The chat over an index built from a folder of these files (name: text)."""
    docs = tmp_path_factory.mktemp(f"{name}-docs")
    for file, text in files.items():
        (docs / file).write_text(text)
    index = tmp_path_factory.mktemp(name) / "index"
    build([docs], index)
    return _serving(Library.open(index))


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    with _serving_folder(tmp_path_factory, "ui", {SEED_FILE.name: SEED_FILE.read_text(), "hostile.txt": HOSTILE}) as url:
        yield url


def test_api_endpoint_answers_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    answer = client.predict("How many people did ISIS execute?", [], api_name="/ask")
    assert answer["answered"] and "58" in answer["quotes"][0]["text"]
    assert answer["sources"][0]["paragraph"] == 2
    declined = client.predict("Who won the 2018 World Cup?", [], api_name="/ask")
    assert not declined["answered"] and declined["closest"]


def _raw_call(server: str, api: str, data: list) -> dict:
    """An API call as any HTTP client makes it: submit the inputs, read the event stream."""
    import json

    request = urllib.request.Request(f"{server}gradio_api/call/{api}", json.dumps({"data": data}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{server}gradio_api/call/{api}/{event_id}", timeout=120) as response:
        lines = response.read().decode().splitlines()
    assert "event: complete" in lines, lines
    return json.loads(lines[lines.index("event: complete") + 1].removeprefix("data:"))[0]


def test_the_http_api_takes_two_inputs_and_a_filtered_one_three(server):
    answer = _raw_call(server, "ask", ["How many people did ISIS execute?", []])
    assert answer["answered"] and answer["sources"][0]["paragraph"] == 2
    only_hostile = _raw_call(server, "ask_filtered", ["How many people did ISIS execute?", [], ["source=*/hostile.txt"]])
    shown = [q["hit"]["source"] for q in only_hostile["quotes"]] + [h["source"] for h in only_hostile["closest"]]
    assert shown and all(source.endswith("/hostile.txt") for source in shown)


def test_twenty_questions_at_once(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    questions = [("How many people did ISIS execute?", "58"), ("Where were the weapons stored?", "three different areas"), ("Who won the 2018 World Cup?", None)] * 7
    jobs = [client.submit(q, [], api_name="/ask") for q, _ in questions[:20]]
    for job, (question, expected) in zip(jobs, questions[:20]):
        answer = job.result(timeout=300)
        if expected is None:
            assert not answer["answered"], question
        else:
            assert answer["answered"] and any(expected in q["text"] for q in answer["quotes"]), question


@pytest.mark.parametrize("path", ["gradio_api/file=/etc/passwd", "file=/etc/passwd", f"gradio_api/file={ROOT}/pyproject.toml"])
def test_only_the_apps_own_files_are_served(server, path):
    try:
        with urllib.request.urlopen(server + path, timeout=30) as response:
            body = response.read()
        assert b"root:" not in body and b"[project]" not in body
    except urllib.error.HTTPError as exc:
        assert exc.code in (403, 404)


def test_serve_binds_loopback_by_default(seed_index):
    psutil = pytest.importorskip("psutil")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from qa.cli import main; main()", "serve", "--index", str(seed_index), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    try:
        deadline = time.monotonic() + 120
        addresses = []
        while time.monotonic() < deadline and not addresses:
            assert proc.poll() is None, proc.stderr.read().decode()
            addresses = [c.laddr.ip for c in psutil.Process(proc.pid).net_connections("inet") if c.status == "LISTEN" and c.laddr.port == port]
            time.sleep(0.5)
        assert addresses and set(addresses) == {"127.0.0.1"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_make_run_serves_the_users_own_index_as_it_is(tmp_path, embedder):
    """`corpus build` of a private folder, then `make run`: the chat answers from that folder."""
    from gradio_client import Client

    docs, index = tmp_path / "private", tmp_path / "index"
    docs.mkdir()
    (docs / "notes.txt").write_text("Beekeeping notes\n\nOur hives on the hill produced 48 jars of heather honey this year.\n")
    build([docs], index)
    published = (index / "CURRENT").read_text()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    proc = subprocess.Popen(["make", "--no-print-directory", "run", f"INDEX={index}", f"PORT={port}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_served(f"http://127.0.0.1:{port}/", proc, lambda: proc.stdout.read().decode())
        answer = Client(f"http://127.0.0.1:{port}/", verbose=False).predict("How many jars of honey did the hives produce?", [], api_name="/ask")
        assert answer["answered"] and "48 jars" in answer["quotes"][0]["text"]
        assert (index / "CURRENT").read_text() == published  # served as it was: not rebuilt over seeds/
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _call(server: str, api: str, data: list) -> tuple[str, str]:
    """An API call as any HTTP client makes it; the event that ended it and its data."""
    import json

    request = urllib.request.Request(f"{server}gradio_api/call/{api}", json.dumps({"data": data}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{server}gradio_api/call/{api}/{event_id}", timeout=120) as response:
        lines = response.read().decode().splitlines()
    events = [line.split(":", 1)[1].strip() for line in lines if line.startswith("event:")]
    data = [line.split(":", 1)[1].strip() for line in lines if line.startswith("data:")]
    return events[-1], data[-1]


def test_user_errors_through_the_api_are_one_line_in_the_client_and_the_log(seed_index, tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", "from qa.cli import main; main()", "serve", "--index", str(seed_index), "--port", str(port)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        server = f"http://127.0.0.1:{port}/"
        _wait_served(server, proc, log.read_text)
        calls = [
            ("ask_filtered", ["How many people did ISIS execute?", [], ["since=yesterday"]], "yesterday"),
            ("ask_filtered", ["How many people did ISIS execute?", [], ["no equals sign"]], "key=value"),
            ("ask_collection", ["How many people did ISIS execute?", [], "nowhere", []], "nowhere"),
            ("ask", ["   ", []], ""),
            ("ask", ["How many people did ISIS execute?", "not a list"], "history"),
        ]
        for api, data, words in calls:
            event, message = _call(server, api, data)
            assert event == "error" and words in message and "Traceback" not in message, (api, message)
        event, message = _call(server, "ask", ["How many people did ISIS execute?", []])
        assert event == "complete" and "58" in message
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    written = log.read_text()
    assert "Traceback" not in written, written
    assert written.count("refused") == len(calls), written


def test_serve_warns_before_binding_another_address(seed_index):
    from typer.testing import CliRunner

    from qa.cli import app

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--index", str(seed_index), "--host", "0.0.0.0", "--port", str(port)])
    assert "warning: binding 0.0.0.0" in result.output
    assert result.exit_code == 1 and "in use" in result.output


@contextlib.contextmanager
def _browser(url: str, tmp_path: Path):
    """A page of Debian's Chromium at ``url``, noting requests to anything but the server and dialogs."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.outside = []  # requests to anything but the server
        page.dialogs = []
        page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:")) else page.outside.append(r.url))
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        yield page
        page.screenshot(path=str(tmp_path / "last.png"))
        browser.close()


@pytest.fixture
def page(server, tmp_path):
    with _browser(server, tmp_path) as page:
        yield page


def _ask(page, question):
    box = page.locator("#question textarea")
    box.fill(question)
    return _submit(page)


def _submit(page):
    """Send what the box holds; the reply's row once it is complete."""
    before = page.locator("#chat .message-row").count()
    page.locator("#question textarea").press("Enter")
    page.wait_for_function(
        "n => { const rows = document.querySelectorAll('#chat .message-row'); return rows.length >= n + 2 && !rows[rows.length - 1].innerText.includes('Reading:') && rows[rows.length - 1].innerText.trim() !== '…'; }",
        arg=before,
        timeout=60_000,
    )
    rows = page.locator("#chat .message-row")
    return rows.nth(rows.count() - 1)  # this reply, not whichever row is last when it is read


def test_browser_quote_citation_and_article(page, tmp_path):
    reply = _ask(page, "How many people did ISIS execute?")
    assert "58 people" in reply.inner_text()
    assert "58" in reply.locator("strong").all_inner_texts()  # the answer itself, in bold inside the quote
    citation = reply.get_by_role("link", name="[1]").first
    citation.click()
    card = page.locator("#sources .source.active")
    card.wait_for(timeout=10_000)
    assert "paragraph 2" in card.inner_text() and "58" in card.inner_text()
    assert card.locator("mark").count() > 0  # the question's terms are marked
    page.screenshot(path=str(tmp_path / "cited-answer.png"))

    page.locator("#open-article input").click()
    page.get_by_role("option").first.click()
    cited = page.locator("#article .cited")
    cited.wait_for(timeout=10_000)
    assert "58 people" in cited.inner_text()
    assert cited.is_visible()
    page.screenshot(path=str(tmp_path / "article.png"))
    assert page.outside == []


CONVERSATION = [
    ("Who led the rebellion?", "spearheaded", 3),
    ("When did that happen?", "days before", 2),
    ("How did they find out about it?", "discovering a message", 5),
]


def _click_citation(page, reply, number: int):
    """Click ``[number]`` in a reply; the card it marks."""
    reply.get_by_role("link", name=f"[{number}]").first.click()
    card = page.locator("#sources .source.active")
    card.wait_for(timeout=10_000)
    return card


@pytest.fixture(scope="module")
def seed_server(seed_index):
    """The chat as a fresh clone serves it: over the seed article alone."""
    lib = Library.open(seed_index)
    with _serving(lib) as url:
        yield url


@pytest.fixture
def seed_page(seed_server, tmp_path):
    with _browser(seed_server, tmp_path) as page:
        yield page


def test_browser_conversation_follow_ups_and_earlier_citations(seed_page, tmp_path):
    page = seed_page
    replies = []
    for question, words, paragraph in CONVERSATION:
        reply = _ask(page, question)
        assert words in reply.inner_text(), (question, reply.inner_text())
        replies.append(reply)
    page.screenshot(path=str(tmp_path / "conversation.png"))
    # every citation of every answer, the earliest last, opens its own card
    for turn, ((question, words, paragraph), reply) in reversed(list(enumerate(zip(CONVERSATION, replies), start=1))):
        numbers = sorted({int(t.strip("[]")) for t in reply.get_by_role("link").all_inner_texts() if t.strip("[]").isdigit()})
        assert numbers and numbers[0] == 1, (question, numbers)
        for number in numbers:
            card = _click_citation(page, reply, number)
            assert card.get_attribute("id") == f"cite-{turn}-{number}"
            assert card.is_visible()
            assert page.locator("#sources .source.active").count() == 1
        card = _click_citation(page, reply, 1)
        assert f"paragraph {paragraph}" in card.inner_text() and words in card.inner_text(), question
    # the first answer's article opens at its cited paragraph
    page.locator("#open-article input").click()
    page.get_by_role("option", name="Answer 1 · [1]").first.click()
    cited = page.locator("#article .cited")
    cited.wait_for(timeout=10_000)
    assert "spearheaded" in cited.inner_text() and cited.is_visible()
    assert page.outside == []


def test_browser_filters_mid_conversation(page, tmp_path):
    reply = _ask(page, "How many people did ISIS execute?")
    assert "58" in reply.inner_text()
    page.locator("#filters").get_by_text("Filters").click()
    page.locator("#filter-source textarea, #filter-source input").first.fill("*/hostile.txt")
    reply = _ask(page, "And how many did they drown?")
    panel = page.locator("#sources").inner_text()
    assert "hostile.txt" in panel and "000_" not in panel  # only the filtered source is read
    assert "58" not in reply.inner_text()
    page.locator("#filter-source textarea, #filter-source input").first.fill("")
    reply = _ask(page, "Where were the weapons stored?")
    assert "three different areas" in reply.inner_text()
    page.screenshot(path=str(tmp_path / "filters.png"))


def test_browser_off_topic_question_is_declined(page, tmp_path):
    reply = _ask(page, "Who won the 2018 World Cup?")
    assert "does not answer" in reply.inner_text()
    assert "Closest passages" in page.locator("#sources").inner_text()
    page.screenshot(path=str(tmp_path / "declined.png"))


def test_browser_hostile_document_shows_as_text(page, tmp_path):
    reply = _ask(page, "When does the harbour festival open with fireworks?")
    for link in reply.get_by_role("link").all():
        if link.inner_text().startswith("["):
            link.click()
    page.wait_for_timeout(500)
    page.locator("#open-article input").click()
    page.get_by_role("option").first.click()
    page.locator("#article .cited").wait_for(timeout=10_000)
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    shown = page.locator("#sources").inner_text() + page.locator("#article").inner_text()
    assert "<script>" in shown and "<img src=x" in shown  # the markup is shown, not run
    assert page.locator("#sources script, #article script, #sources img, #article img, #chat img[src='x']").count() == 0
    page.screenshot(path=str(tmp_path / "hostile.png"))
    assert page.outside == []


@pytest.fixture(scope="module")
def shelf_server(tmp_path_factory, embedder):
    """The chat over two collections: the seed article, and a local story of its own."""
    root = tmp_path_factory.mktemp("ui-shelf")
    (root / "orkney").mkdir()
    (root / "orkney" / "harbour.txt").write_text(HARBOUR)
    build([SEEDS], root / "seed")
    build([root / "orkney"], root / "orkney-index")
    lib = Library.open({"seed": root / "seed", "orkney": root / "orkney-index"})
    with _serving(lib) as url:
        yield url


HARBOUR = (
    "Harbour festival returns to Kirkwall\n\n"
    "The harbour festival of Kirkwall opens on Friday with a parade of fishing boats and fireworks over the bay.\n\n"
    "Organisers said 12,000 visitors were expected over the weekend, twice as many as last year.\n"
)


COUNCIL = (
    "Council approves new library for Dunmore\n\n"
    "The county council approved plans for a new public library in Dunmore on Tuesday, after a vote of 31 to 9.\n\n"
    "Building work is expected to start in the spring and to last eighteen months.\n"
)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory, embedder):
    """The chat over a folder of one's own: local stories, no seed article."""
    with _serving_folder(tmp_path_factory, "own", {"harbour.txt": HARBOUR, "library.txt": COUNCIL}) as url:
        yield url


def test_browser_examples_come_from_the_corpus_and_are_answered(own_server, tmp_path):
    from qa.examples import SEED_EXAMPLES

    with _browser(own_server, tmp_path) as page:
        buttons = page.locator("#examples button")
        buttons.first.wait_for(timeout=30_000)
        count = buttons.count()
        assert count >= 2
        for n in range(count):
            buttons.nth(n).click()  # an example fills the box (its button may show it cut short)
            page.wait_for_function("() => document.querySelector('#question textarea').value.endsWith('?')", timeout=10_000)
            example = page.locator("#question textarea").input_value()
            assert example not in SEED_EXAMPLES
            reply = _submit(page).inner_text()
            assert "does not answer" not in reply and "[1]" in reply, (example, reply)
        page.screenshot(path=str(tmp_path / "examples.png"))
        assert page.outside == []


def test_the_api_answers_from_a_chosen_collection(shelf_server):
    question = "How many visitors were expected at the harbour festival?"
    answer = _raw_call(shelf_server, "ask_collection", [question, [], "orkney", []])
    assert answer["answered"] and "12,000" in answer["quotes"][0]["text"] and answer["sources"][0]["collection"] == "orkney"
    answer = _raw_call(shelf_server, "ask_collection", [question, [], "seed", []])
    assert all(h["collection"] == "seed" for h in answer["closest"] + [q["hit"] for q in answer["quotes"]])
    answer = _raw_call(shelf_server, "ask", ["How many people did ISIS execute?", []])  # all collections
    assert answer["answered"] and answer["sources"][0]["collection"] == "seed"


def test_browser_chat_lists_collections_and_answers_from_the_chosen_one(shelf_server, tmp_path):
    with _browser(shelf_server, tmp_path) as page:
        assert "2 collections (seed, orkney)" in page.locator("#header").inner_text()
        page.locator("#collection input").click()
        options = page.get_by_role("option").all_inner_texts()
        assert [o.replace("✓", "").strip() for o in options] == ["All collections", "seed", "orkney"]
        page.get_by_role("option", name="seed", exact=True).click()
        reply = _ask(page, "How many visitors were expected at the harbour festival?")
        assert "12,000" not in reply.inner_text()
        assert "orkney:" not in page.locator("#sources").inner_text()
        page.locator("#collection input").click()
        page.get_by_role("option", name="orkney", exact=True).click()
        reply = _ask(page, "How many visitors were expected at the harbour festival?")
        assert "12,000" in reply.inner_text()
        assert "orkney: orkney/harbour.txt" in page.locator("#sources").inner_text()
        page.locator("#open-article input").click()
        page.get_by_role("option").first.click()
        page.locator("#article .cited").wait_for(timeout=10_000)
        assert "12,000" in page.locator("#article .cited").inner_text()
        page.screenshot(path=str(tmp_path / "collections.png"))
        assert page.outside == []
