"""The browser chat: a thin Gradio shell around :func:`qa.chat.respond`.

Layout: the chat on the left; on the right the sources panel (the cited
paragraphs, with the question's terms marked) and the article view (a whole
article with the cited paragraph marked and scrolled into view). Each ``[n]``
in an answer links to ``#cite-n``; a small script marks that source card and
scrolls to it. All corpus text is escaped on the server before it reaches the
page; the page loads nothing from outside the server.
"""

from __future__ import annotations

import functools
import html
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from corpus.errors import CorpusError  # noqa: E402
from qa.answer import CLOSEST, NOT_IN_CORPUS, PASSAGES, Answer  # noqa: E402
from qa.chat import respond, warm_up  # noqa: E402
from qa.collections import Collections, collection_names  # noqa: E402
from qa.collections import member as collection_member  # noqa: E402
from qa.examples import example_questions  # noqa: E402
from qa.hits import Hit, shown_source  # noqa: E402
from qa.library import MODES, Library  # noqa: E402

from .api import api_app  # noqa: E402
from .auth import Access  # noqa: E402

log = logging.getLogger(__name__)

CSS = """
#sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 0 0 8px 0; }
#sources .source.active { border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft); }
#sources .head { font-weight: 700; }
#sources .path, #article .path { font-size: 0.85em; opacity: 0.75; word-break: break-all; }
#sources mark, #article mark { background: #ffe066; color: inherit; }
#article .para { margin: 0 0 10px 0; }
#article .title { font-size: 1.25em; font-weight: 700; margin: 0 0 4px 0; }
#article .para.cited { background: #fff3bf; outline: 2px solid #fab005; border-radius: 4px; padding: 4px; }
#article .page { color: #868e96; font-size: 0.85em; margin: 6px 0; }
#article span.page { margin: 0 4px; }
#sources .declined { font-weight: 700; color: #c92a2a; }
#sources .answer-sources.past { display: none; }
#open-article input { padding-right: 2.5em; text-overflow: ellipsis; }
#sources .answer-head { font-size: 0.85em; opacity: 0.75; margin: 0 0 6px 0; }
"""

# A citation [n] of answer t links to #cite-t-n. The script shows the sources of that answer
# (the panel keeps every answer's cards; the newest are shown), marks the card and scrolls to
# it, without leaving the page.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest('a[href^="#cite-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  const group = card.closest(".answer-sources");
  document.querySelectorAll("#sources .answer-sources").forEach(function (el) { el.classList.toggle("past", el !== group); });
  document.querySelectorAll("#sources .source.active").forEach(function (el) { el.classList.remove("active"); });
  card.classList.add("active");
  card.scrollIntoView({ block: "nearest", behavior: "instant" });
}, true);
</script>
"""

SCROLL_TO_CITED = "() => { const p = document.querySelector('#article .cited'); if (p) p.scrollIntoView({block: 'center'}); }"


# Gradio's own font with its bold face too (the default theme declares 400 and 600 only, so
# bold answers were drawn in a fallback face; the app's semibold file lacks some capitals, so
# titles here are bold, not semibold); served by the app, nothing from outside
THEME = gr.themes.Default(font=(gr.themes.LocalFont("Source Sans Pro", weights=(400, 600, 700)), "ui-sans-serif", "system-ui", "sans-serif"))

ALL = "All collections"
#: How often an open page reads what the index holds again (its header).
HEADER_REFRESH_SECONDS = 5
#: Answers each of the chat's events runs at once: one a core. An answer is mostly Python
#: (holding the interpreter lock) once its passages were met, so more at once only wait on
#: each other: 50 clients asking through the chat's API got 35.3 and 33.8 answers a second
#: at 2 on two cores, 31.7 and 30.8 at 4, 31.5 at 8.
CONCURRENT_ANSWERS = max(2, os.cpu_count() or 2)


def build_app(library: Library | Collections, examples: list[str] | None = None) -> gr.Blocks:
    """The chat over one library, or over several collections with a chooser (all, or one).
    ``examples``: the questions offered under the box (default: made from the corpus and
    checked to be answered, :func:`qa.examples.example_questions`)."""
    if examples is None:
        examples = example_questions(library)
    names = collection_names(library)
    several = len(names) > 1
    with gr.Blocks(title="corpus-qa") as demo:
        header = gr.Markdown(header_text(library), elem_id="header")
        # a build may publish while the page is open (corpus serve --watch): the header follows
        gr.Timer(HEADER_REFRESH_SECONDS).tick(lambda: header_text(library), outputs=[header], queue=False, api_visibility="private")
        # every answer of the conversation: {"turn", "cards", "choices": [(label, key, article, paragraph, hit id, collection)]}
        answers = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Chat", elem_id="chat", height=520, sanitize_html=True, render_markdown=True)
                question = gr.Textbox(placeholder="Ask a question about the corpus…", show_label=False, elem_id="question", submit_btn=True)
                collection = gr.Dropdown([ALL, *names], value=ALL, label="Collection", elem_id="collection", visible=several, interactive=True)
                if examples:
                    gr.Examples(examples, inputs=question, label="Examples", elem_id="examples")
                with gr.Accordion("Filters", open=False, elem_id="filters"):
                    with gr.Row():
                        source_filter = gr.Textbox(label="Sources", placeholder="sport/*, business/", elem_id="filter-source")
                        since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", elem_id="filter-since")
                        until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", elem_id="filter-until")
                        meta_filter = gr.Textbox(label="Metadata", placeholder="section=politics", elem_id="filter-meta")
                with gr.Accordion("Settings", open=False):
                    mode = gr.Radio(list(MODES), value="hybrid", label="Search mode")
                    passages = gr.Slider(1, 20, value=PASSAGES, step=1, label="Passages to quote from")
            with gr.Column(scale=2):
                sources = gr.HTML("<p>Sources of the answer appear here.</p>", elem_id="sources", label="Sources")
                article_choice = gr.Dropdown([], label="Open article", elem_id="open-article", interactive=True)
                article = gr.HTML("", elem_id="article")

        def on_submit(message: str, history: list, mode_: str, k: float, sources_: str, since_: str, until_: str, meta_: str, collection_: str | None, answers_: list) -> Iterator[tuple[Any, ...]]:
            history = list(history or [])
            past = list(history)
            # this answer's number in the conversation; a cleared or shortened chat drops the answers it lost
            turn = 1 + sum(1 for m in past if isinstance(m, dict) and m.get("role") == "user")
            earlier = [a for a in (answers_ or []) if a["turn"] < turn]
            history.append({"role": "user", "content": message})
            history.append({"role": "assistant", "content": "…"})
            yield history, "", gr.update(), earlier
            where = filter_clauses(sources_, since_, until_, meta_)
            chosen = member(library, collection_)
            for reply in respond(chosen, message, past, mode=mode_, k=int(k), cite=lambda n: f"#cite-{turn}-{n}", where=where):
                history[-1] = {"role": "assistant", "content": reply.markdown}
                if reply.final and reply.answer is not None:
                    cards, choices = sources_html(reply.answer, several, turn)
                    now = [*earlier, {"turn": turn, "cards": cards, "choices": choices}]
                    yield history, sources_panel(now), gr.update(choices=article_choices(now), value=None), now
                else:
                    yield history, passages_html(reply.passages) + sources_panel(earlier, newest_shown=False), gr.update(), earlier

        # the box is emptied as the question is taken (the question travels in a state), so a
        # question typed while an answer streams is never cleared by the end of the earlier one
        asked = gr.State("")
        question.submit(lambda text: ("", text), question, [question, asked], api_visibility="private", queue=False).then(
            on_submit, [asked, chatbot, mode, passages, source_filter, since, until, meta_filter, collection, answers], [chatbot, sources, article_choice, answers],
            api_visibility="private",
        )

        def on_open(key: str | None, answers_: list) -> str:
            for answer in answers_ or []:
                for item in answer["choices"]:
                    if item[1] == key:
                        return article_html(member(library, item[5]), item[2], item[3], item[4])
            return ""

        article_choice.change(on_open, [article_choice, answers], article, api_visibility="private").then(
            None, None, None, js=SCROLL_TO_CITED
        )

        @user_errors("/ask")
        def ask(question: str, history: list[dict] | None = None) -> dict:
            """Answer a question from the corpus: verbatim quotes with numbered sources, or a decline."""
            return library.ask(question, history or []).to_dict()

        @user_errors("/ask_filtered")
        def ask_filtered(question: str, history: list[dict] | None = None, where: list[str] | None = None) -> dict:
            """``/ask`` with filter clauses such as ``source=sport/*``, ``since=2005-01``, ``section=politics``
            (a separate endpoint: an HTTP call must send every input, so ``/ask`` keeps its two)."""
            return library.ask(question, history or [], where=where or None).to_dict()

        @user_errors("/ask_collection")
        def ask_collection(question: str, history: list[dict] | None = None, collection: str | None = None, where: list[str] | None = None) -> dict:
            """``/ask_filtered`` in one collection (by name; empty or "All collections": all of them)."""
            return member(library, collection).ask(question, history or [], where=where or None).to_dict()

        gr.api(ask, api_name="ask")
        gr.api(ask_filtered, api_name="ask_filtered")
        gr.api(ask_collection, api_name="ask_collection")
    return demo


def header_text(library: Library | Collections) -> str:
    """What the index holds and when it was last updated (the newest build of any collection)."""
    info = library.info()
    names = collection_names(library)
    listed = f"{len(names)} collections ({html.escape(', '.join(names))}) · " if len(names) > 1 else ""
    updated = info["built_at"].replace("T", " ").replace("+00:00", " UTC")
    return (
        f"### corpus-qa\n{listed}{counted(info['articles'], 'article')} · {counted(info['paragraphs'], 'paragraph')} · "
        f"model {html.escape(info['model'])} · updated {html.escape(updated)}"
    )


def user_errors(route: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An API function whose user errors (a malformed filter, an unknown collection, an empty
    question) reach the client as Gradio's error with the one-line message, and the server's
    log as one line, never a traceback."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except CorpusError as exc:
                log.warning("%s refused: %s", route, exc)
                raise gr.Error(str(exc), print_exception=False) from None

        return call

    return wrap


def member(library: Library | Collections, name: str | None) -> Library | Collections:
    """The collection of that name (all of them for none or "All collections")."""
    return collection_member(library, None if name == ALL else name)


def filter_clauses(sources: str, since: str, until: str, meta: str) -> list[str]:
    """The filter row's fields as ``key=value`` clauses (comma-separated patterns and pairs)."""
    clauses = [f"source={p.strip()}" for p in (sources or "").split(",") if p.strip()]
    clauses += [f"since={since.strip()}"] if since and since.strip() else []
    clauses += [f"until={until.strip()}"] if until and until.strip() else []
    clauses += [pair.strip() for pair in (meta or "").split(",") if pair.strip()]
    return clauses


def _card(turn: int, number: int, hit: Hit, several: bool = False) -> str:
    where = html.escape(shown_source(hit, several))
    return (
        f'<div class="source" id="cite-{turn}-{number}">'
        f'<div class="head">[{number}] {html.escape(hit.title)} · {hit.place}</div>'
        f'<div class="path">{where}</div>'
        + (f'<div class="path also-in">also in {html.escape(", ".join(hit.also_in))}</div>' if hit.also_in else "")
        + f"<p>{hit.marked()}</p></div>"
    )


def sources_html(answer: Answer, several: bool = False, turn: int = 1) -> tuple[str, list[tuple[str, str, str, int, str, str | None]]]:
    """The source cards of answer number ``turn`` (ids ``cite-TURN-N``), and the articles it can
    open as ``(label, key, article id, paragraph, hit id, collection)`` (``several``: name each
    source's collection)."""
    if answer.answered:
        hits = {q.citation: q.hit for q in reversed(answer.quotes)}
        numbered = [(s.number, hits[s.number]) for s in answer.sources]
        intro = ""
    else:
        numbered = list(enumerate(answer.closest, start=1))
        intro = f'<p class="declined">{html.escape(NOT_IN_CORPUS)} {html.escape(CLOSEST)}</p>'
    choices = [(f"[{n}] {h.title} · {h.place}", f"{turn}-{n}", h.article_id, h.paragraph, h.id, h.collection) for n, h in numbered]
    return intro + "".join(_card(turn, n, h, several) for n, h in numbered), choices


def sources_panel(answers: list[dict], *, newest_shown: bool = True) -> str:
    """Every answer's cards, each answer in its own group; only the newest is shown until a
    citation of another answer is clicked (the page's script switches the group)."""
    parts = []
    for i, answer in enumerate(answers):
        shown = newest_shown and i == len(answers) - 1
        head = f'<p class="answer-head">Sources of answer {answer["turn"]}</p>' if len(answers) > 1 else ""
        parts.append(f'<div class="answer-sources{"" if shown else " past"}" id="answer-{answer["turn"]}">{head}{answer["cards"]}</div>')
    return "".join(parts)


def article_choices(answers: list[dict]) -> list[tuple[str, str]]:
    """The "Open article" menu: the sources of every answer, newest answer first, as (label, key)."""
    several = len(answers) > 1
    return [
        (f"Answer {answer['turn']} · {label}" if several else label, key)
        for answer in reversed(answers)
        for label, key, *_ in answer["choices"]
    ]


def passages_html(hits) -> str:
    items = "".join(f"<li>{html.escape(h.title)} · {h.place}</li>" for h in hits)
    return f"<p>Reading:</p><ul>{items}</ul>"


def article_html(library: Library, article_id: str, paragraph: int, hit_id: str) -> str:
    """The whole article, escaped, with the cited paragraph marked (``.cited``) and, in a paged
    document, where each page begins ("p. 12")."""
    paragraphs = library.article_hits(article_id)
    if not paragraphs:
        return "<p>The article is no longer in the index.</p>"
    article = library.article(article_id)
    pages = list(enumerate(article.pages, start=1)) if article is not None else []
    first = paragraphs[0]
    parts = [f'<div class="title">{html.escape(first.title)}</div>', f'<div class="path">{html.escape(first.url or first.source)}</div>']
    for p in paragraphs:
        while pages and pages[0][1] <= p.start:  # a page that begins before this paragraph
            parts.append(f'<div class="page" id="page-{pages[0][0]}">p. {pages[0][0]}</div>')
            pages.pop(0)
        text, pos = [], p.start
        while pages and pages[0][1] < p.end:  # a page that begins inside it
            number, start = pages.pop(0)
            text += [html.escape(p.text[pos - p.start : start - p.start]), f'<span class="page" id="page-{number}">p. {number}</span>']
            pos = start
        text.append(html.escape(p.text[pos - p.start :]))
        cls = "para cited" if p.paragraph == paragraph else "para"
        parts.append(f'<p class="{cls}" id="para-{p.paragraph}"><b>¶{p.paragraph}</b> {"".join(text)}</p>')
    return "".join(parts)


def counted(n: int, noun: str) -> str:
    """"1 article", "2,225 articles"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def launch(library: Library | Collections, host: str = "127.0.0.1", port: int = 7860, warm: bool = True, access: Access | None = None, **kwargs) -> gr.Blocks:
    """Serve the chat. ``warm``: load the models in the background first (``corpus serve``
    starts that earlier itself, before Gradio is imported). ``access``: the logins the chat
    (Gradio's login page) and the API (bearer token or login) require."""
    if warm:
        warm_up(library)
    try:
        examples = example_questions(library)
    except Exception:  # noqa: BLE001 - the chat serves without examples rather than not at all
        log.warning("no example questions could be made", exc_info=True)
        examples = []
    demo = build_app(library, examples)
    demo.queue(default_concurrency_limit=CONCURRENT_ANSWERS)
    # the JSON API (ui/api.py) is mounted under /api before Gradio adds its own routes
    routes = [Mount("/api", app=api_app(library, access))]
    login = access.login if access is not None and access.users else None
    demo.launch(server_name=host, server_port=port, css=CSS, head=HEAD, theme=THEME, show_error=True, app_kwargs={"routes": routes}, auth=login,
                auth_message="corpus-qa: log in to read this corpus" if login else None, **kwargs)
    return demo
