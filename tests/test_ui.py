"""The browser chat: its API, load, binding, escaping and a real browser driving it."""

from __future__ import annotations

import contextlib
import os
import re
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
def _serving(lib: Library, access=None, app: list | None = None):
    """The chat over ``lib`` in this process, at the URL it yields; closed with the library.
    ``app`` receives the server's application (to list its routes)."""
    from ui.app import launch

    port = _free_port()
    demo = launch(lib, port=port, prevent_thread_lock=True, quiet=True, access=access)
    if app is not None:
        app.append(demo.app)
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


def test_the_json_api_is_served_beside_the_chat(server):
    """As curl calls it: plain HTTP and JSON under /api, on the chat's own port."""
    import json

    request = urllib.request.Request(server + "api/ask", json.dumps({"question": "How many people did ISIS execute?"}).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    assert answer["answered"] and "58 people" in answer["quotes"][0]["text"]
    with urllib.request.urlopen(server + "api/search?q=drowning+dissenters&k=2", timeout=60) as response:
        assert len(json.loads(response.read())["hits"]) == 2
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server + "api/search?q=rebellion&where=since=yesterday", timeout=60)
    assert refused.value.code == 400 and "yesterday" in json.loads(refused.value.read())["error"]
    for page in ("api/docs", "api/openapi.json"):
        with urllib.request.urlopen(server + page, timeout=60) as response:
            assert response.status == 200


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
        result = CliRunner().invoke(app, ["serve", "--index", str(seed_index), "--host", "0.0.0.0", "--port", str(port), "--no-auth"])
    assert "warning: binding 0.0.0.0" in result.output and "--no-auth: anyone who can reach" in result.output
    assert result.exit_code == 1 and "in use" in result.output


def test_serving_beyond_this_machine_needs_logins_or_no_auth(seed_index, tmp_path):
    from typer.testing import CliRunner

    from qa.cli import app

    refused = CliRunner().invoke(app, ["serve", "--index", str(seed_index), "--host", "0.0.0.0", "--port", str(_free_port())])
    assert refused.exit_code == 1 and "--auth USER:PASSWORD or --auth-file FILE, or --no-auth" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    (tmp_path / "bad").write_text("alice\n")
    bad = CliRunner().invoke(app, ["serve", "--index", str(seed_index), "--auth-file", str(tmp_path / "bad")])
    assert bad.exit_code == 1 and "not USER:PASSWORD or token=TOKEN" in bad.output
    both = CliRunner().invoke(app, ["serve", "--index", str(seed_index), "--host", "0.0.0.0", "--no-auth", "--auth", "alice:secret"])
    assert both.exit_code == 1 and "contradicts" in both.output and "secret" not in both.output


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


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory, embedder):
    """The chat over a folder holding one two-column PDF of the seed article."""
    pytest.importorskip("fpdf", reason="fpdf2 makes the test PDF (the test extra)")
    from .documents import make_pdf, seed_article

    folder = tmp_path_factory.mktemp("pdf") / "papers"
    folder.mkdir()
    title, paragraphs = seed_article()
    make_pdf(folder / "seed.pdf", title, paragraphs, columns=2, running="Newsweek | World", hyphenate=True)
    build([folder], folder.parent / "index")
    with _serving(Library.open(folder.parent / "index")) as url:
        yield url


def test_browser_citation_of_a_pdf_names_its_page_and_the_article_opens_at_it(pdf_server, tmp_path):
    with _browser(pdf_server, tmp_path) as page:
        reply = _ask(page, "What did Abadi say about the flag of Iraq?")
        assert "raise the flag of Iraq" in reply.inner_text()
        assert "p. 2" in reply.inner_text()  # the source line under the answer
        card = _click_citation(page, reply, 1)
        assert "p. 2" in card.locator(".head").inner_text()
        page.locator("#open-article input").click()
        page.get_by_role("option").first.click()
        cited = page.locator("#article .cited")
        cited.wait_for(timeout=10_000)
        assert "raise the flag of Iraq" in cited.inner_text() and cited.is_visible()
        marks = page.locator("#article .page").all_inner_texts()
        assert marks[:2] == ["p. 1", "p. 2"]
        # the cited paragraph comes after the mark of its page
        assert page.evaluate("() => { const m = document.getElementById('page-2'), c = document.querySelector('#article .cited'); return !!(m.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING) || m.closest('.cited') === c; }")
        page.screenshot(path=str(tmp_path / "pdf-article.png"))


#: Words of the seed article: a response holding one of them gave away corpus text.
CORPUS_WORDS = ("Mosul", "Baghdad", "drowning", "000_b1f4a7747a1a99d4", "Hashimi")


def _routes(app, prefix: str = "") -> list[tuple[str, set[str]]]:
    """Every path the server answers, with its methods (mounted apps and routers included)."""
    out = []
    for route in getattr(app, "routes", []):
        path = prefix + (getattr(route, "path", "") or "")
        inner = getattr(route, "app", None) if type(route).__name__ == "Mount" else getattr(route, "original_router", None) or (route if hasattr(route, "routes") else None)
        if inner is not None and hasattr(inner, "routes"):
            out += _routes(inner, path)
        elif getattr(route, "path", None) is not None:
            out.append((path, set(getattr(route, "methods", None) or {"GET"})))
    return out


def _request(url: str, method: str, headers: dict | None = None, body: bytes | None = None, timeout: float = 60) -> tuple[int, str]:
    """Status and body; a stream that stays open is read for ``timeout`` seconds (what it sent
    by then is its body)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            chunks = []
            try:
                while chunk := response.read1(65536):
                    chunks.append(chunk)
            except TimeoutError:
                pass
            return response.status, b"".join(chunks).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def guarded(seed_index):
    from ui.auth import Access

    app: list = []
    with _serving(Library.open(seed_index), access=Access((("alice", "correct horse"),), "s3cret-token"), app=app) as url:
        yield url, app[0]


def test_with_logins_no_route_gives_corpus_text_without_them(guarded):
    url, app = guarded
    routes = _routes(app)
    paths = {path for path, _ in routes}
    assert {"/", "/config", "/api/ask", "/api/search", "/api/articles/{article_id:path}", "/gradio_api/info"} <= paths, sorted(paths)
    seen = 0
    for path, methods in routes:
        concrete = re.sub(r"\{[^}]+\}", "x", path).replace("x:path", "x")
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            body = b'{"question": "How many people did ISIS execute?", "q": "rebellion", "data": ["How many people did ISIS execute?", []]}' if method == "POST" else None
            status, text = _request(url.rstrip("/") + concrete, method, {"content-type": "application/json"}, body, timeout=5)
            seen += 1
            assert not any(word in text for word in CORPUS_WORDS), (method, concrete, status, text[:300])
            if concrete.startswith("/api/"):
                assert status == 401, (method, concrete, status)
    assert seen >= 30
    # asked the way a client asks, still nothing
    for api in ("ask", "ask_filtered"):
        status, text = _request(f"{url}gradio_api/call/{api}", "POST", {"content-type": "application/json"}, b'{"data": ["How many people did ISIS execute?", []]}')
        assert status in (401, 403) and not any(word in text for word in CORPUS_WORDS)
    status, page = _request(url, "GET")
    assert status == 200 and '"auth_required":true' in page.replace(" ", "")  # the page shows the login form


def test_with_logins_the_api_answers_to_its_token_or_a_login(guarded):
    import base64
    import json

    url, _ = guarded
    question = json.dumps({"question": "How many people did ISIS execute?"}).encode()
    status, text = _request(url + "api/ask", "POST", {"content-type": "application/json", "authorization": "Bearer s3cret-token"}, question)
    assert status == 200 and json.loads(text)["answered"]
    basic = base64.b64encode(b"alice:correct horse").decode()
    status, text = _request(url + "api/search?q=Mosul&k=1", "GET", {"authorization": f"Basic {basic}"})
    assert status == 200 and len(json.loads(text)["hits"]) == 1
    for wrong in ("Bearer nope", "Basic " + base64.b64encode(b"alice:wrong").decode(), "s3cret-token"):
        status, text = _request(url + "api/info", "GET", {"authorization": wrong})
        assert status == 401 and "error" in json.loads(text)


def test_with_logins_the_chat_opens_after_the_login_page(guarded, tmp_path):
    url, _ = guarded
    with _browser(url, tmp_path) as page:
        assert page.locator("#chat").count() == 0  # the login form, not the chat
        page.get_by_label("username").fill("alice")
        page.get_by_label("password").fill("correct horse")
        page.get_by_role("button", name="Login").click()
        page.locator("#question textarea").wait_for(timeout=30_000)
        reply = _ask(page, "How many people did ISIS execute?")
        assert "58 people" in reply.inner_text()


def test_secrets_given_by_file_stay_out_of_the_process_list_and_the_log(seed_index, tmp_path):
    import json

    secrets = tmp_path / "logins"
    secrets.write_text("# who may read this corpus\nalice:correct horse battery\ntoken=tok-7f3a9c\n")
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", "from qa.cli import main; main()", "serve", "--index", str(seed_index), "--port", str(port), "--auth-file", str(secrets)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        server = f"http://127.0.0.1:{port}/"
        _wait_served_login(server, proc, log.read_text)
        command = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert "correct horse" not in command and "tok-7f3a9c" not in command
        status, _ = _request(server + "api/info", "GET")
        assert status == 401
        status, text = _request(server + "api/info", "GET", {"authorization": "Bearer tok-7f3a9c"})
        assert status == 200 and json.loads(text)["articles"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    written = log.read_text()
    assert "correct horse" not in written and "tok-7f3a9c" not in written and "Traceback" not in written


def _wait_served_login(url: str, proc: subprocess.Popen, log) -> None:
    """Wait until a ``corpus serve`` child with logins answers (its page is the login form)."""
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, log()
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.5)
