"""Security: what a server binds, which files it serves, and whether corpus text stays inert.

- ``corpus serve`` without ``--host`` listens on 127.0.0.1 only;
- Gradio's file routes serve no file outside the app's own: ``/etc/passwd``,
  the project's files and the index's own files are asked for by absolute
  path, with ``..`` and with URL-encoded (and double-encoded) variants;
- corpus text holding HTML, scripts and Markdown links comes out of the chat's
  answer, sources panel and article view escaped: no tag or ``javascript:``
  link survives (a browser test in ``make test`` checks the rendered page).
"""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

from common import ROOT, SEEDS, WORK, Clock, corpus, fresh
from server import Server

HOSTILE = (
    "Harbour festival night\n\n"
    'The harbour festival opens with fireworks at nine. <script>window.__pwned = 1</script> '
    '<img src=x onerror="window.__pwned = 2"> Visitors can [win a prize](javascript:window.__pwned=3) at the quay.\n\n'
    "The festival's <iframe src=\"https://example.com\"></iframe> stage hosts **bold** bands and `code` poets.\n"
)
HOSTILE_HTML = (
    "<html><head><title>Quay <b>news</b></title></head><body><article><h1>Quay news</h1>"
    "<p>The quay reopens on Monday.<script>alert(1)</script> Ferries <a href=\"javascript:alert(2)\">resume</a> at dawn.</p>"
    "</article></body></html>"
)
#: What a served file would show: /etc/passwd, pyproject.toml, an index's manifest and SQLite store.
LEAKS = (b"root:x:0:0", b"[project]", b'"generation"', b"SQLite format 3", b"PATH=")
#: Markup that must never reach the page unescaped: tags in HTML or Markdown, and Markdown
#: links (an escaped ``\]`` is text).
ACTIVE_HTML = re.compile(r"<\s*(script|img|iframe|a\s+href\s*=\s*\"?javascript)", re.I)
ACTIVE_MARKDOWN = re.compile(r"<\s*(script|img|iframe|a\s)|(?<!\\)\]\(javascript:", re.I)


def file_routes(index: Path) -> list[str]:
    targets = ["/etc/passwd", str(ROOT / "pyproject.toml"), str(index / "CURRENT"), "/proc/self/environ"]
    generation = (index / "CURRENT").read_text().strip()
    targets += [str(index / generation / "manifest.json"), str(index / generation / "store.sqlite")]
    paths = []
    for target in targets:
        quoted = urllib.parse.quote(target, safe="")
        for prefix in ("/file=", "/gradio_api/file=", "/gradio_api/file/", "/file/"):
            paths += [prefix + target, prefix + quoted, prefix + urllib.parse.quote(quoted, safe="")]
    for up in ("../" * 8, "..%2F" * 8, "%2e%2e/" * 8, "..%252F" * 8, "....//" * 8, "..\\" * 8):
        for prefix in ("/file=", "/gradio_api/file=", "/static/", "/assets/", "/gradio_api/static/", "/favicon.ico/", "/theme.css/", "/gradio_api/"):
            paths += [prefix + up + "etc/passwd", prefix + up + str(ROOT / "pyproject.toml").lstrip("/")]
    return paths


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1_000_000)
    except (urllib.error.URLError, ValueError) as exc:  # a path the client itself refuses
        return 0, str(exc).encode()


def _rendered(index: Path) -> list[tuple[str, str]]:
    """The chat's answer, sources panel and article view for questions about the hostile articles."""
    from qa import Library
    from qa.chat import respond
    from ui.app import article_html, sources_html

    pages = []
    with Library.open(index) as lib:
        for question in ("When do the harbour festival fireworks start?", "Where can visitors win a prize?", "When does the quay reopen?",
                         "What does the festival stage host?", "script alert javascript"):
            replies = list(respond(lib, question, [], cite=lambda n: f"#cite-{n}"))
            pages.append(("markdown", replies[-1].markdown))
            answer = replies[-1].answer
            if answer is not None:
                cards, choices = sources_html(answer)
                pages.append(("html", cards))
                for _, article_id, paragraph, hit_id in choices:
                    pages.append(("html", article_html(lib, article_id, paragraph, hit_id)))
    return pages


def run(seed_index: str) -> dict:
    clock = Clock()
    base = fresh(WORK / "security")
    docs = base / "docs"
    docs.mkdir()
    shutil.copy(next(SEEDS.glob("*.txt")), docs)
    (docs / "hostile.txt").write_text(HOSTILE)
    (docs / "hostile.html").write_text(HOSTILE_HTML)
    index = base / "index"
    corpus("build", str(docs), "--index", str(index), "--json")

    server = Server(index, base / "serve.log")
    try:
        listening = sorted({c.laddr.ip for c in psutil.Process(server.proc.pid).net_connections("inet")
                            if c.status == psutil.CONN_LISTEN and c.laddr.port == server.port})
        served, statuses = [], {}
        for path in file_routes(index):
            status, body = _get(server.url + path)
            statuses[status] = statuses.get(status, 0) + 1
            if any(marker in body for marker in LEAKS):
                served.append(path)
    finally:
        server.close()
    pages = _rendered(index)
    active = [m.group(0) for kind, page in pages for m in (ACTIVE_HTML if kind == "html" else ACTIVE_MARKDOWN).finditer(page)]
    return {
        "command": "python bench/reliability/run.py --only security",
        "listening_on": listening,
        "file_requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "files_outside_the_app_served": len(served),
        "served_examples": served[:10],
        "rendered_pages": len(pages),
        # the trial is void unless the hostile text reached the pages (escaped)
        "pages_showing_escaped_markup": sum(1 for _, page in pages if "&lt;script" in page or "&lt;img" in page or "\\](javascript" in page),
        "active_markup_in_pages": len(active),
        "active_examples": active[:10],
        "seconds": clock.seconds(),
    }
