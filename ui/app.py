"""The browser chat: a thin Gradio shell around :func:`qa.chat.respond`.

Layout: the chat on the left; on the right the sources panel (the cited
paragraphs, with the question's terms marked) and the article view (a whole
article with the cited paragraph marked and scrolled into view). Each ``[n]``
in an answer links to ``#cite-n``; a small script marks that source card and
scrolls to it. All corpus text is escaped on the server before it reaches the
page; the page loads nothing from outside the server.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from corpus.errors import QueryError  # noqa: E402
from qa.answer import CLOSEST, NOT_IN_CORPUS, Answer  # noqa: E402
from qa.chat import respond  # noqa: E402
from qa.collections import Collections, collection_names  # noqa: E402
from qa.hits import Hit, shown_source  # noqa: E402
from qa.library import MODES, Library  # noqa: E402

EXAMPLES = [
    "How many people did ISIS execute?",
    "Who led the rebellion?",
    "Where were the weapons stored?",
    "What did Abadi say in his radio broadcast?",
]

CSS = """
#sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 0 0 8px 0; }
#sources .source.active { border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft); }
#sources .head { font-weight: 600; }
#sources .path, #article .path { font-size: 0.85em; opacity: 0.75; word-break: break-all; }
#sources mark, #article mark { background: #ffe066; color: inherit; }
#article .para { margin: 0 0 10px 0; }
#article .para.cited { background: #fff3bf; outline: 2px solid #fab005; border-radius: 4px; padding: 4px; }
#sources .declined { font-weight: 600; color: #c92a2a; }
"""

# Marks the source card a citation points to and scrolls it into view, without leaving the page.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest('a[href^="#cite-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  document.querySelectorAll("#sources .source.active").forEach(function (el) { el.classList.remove("active"); });
  card.classList.add("active");
  card.scrollIntoView({ block: "nearest", behavior: "instant" });
}, true);
</script>
"""

SCROLL_TO_CITED = "() => { const p = document.querySelector('#article .cited'); if (p) p.scrollIntoView({block: 'center'}); }"


ALL = "All collections"


def build_app(library: Library | Collections) -> gr.Blocks:
    """The chat over one library, or over several collections with a chooser (all, or one)."""
    info = library.info()
    names = collection_names(library)
    several = len(names) > 1
    with gr.Blocks(title="corpus-qa") as demo:
        listed = f"{len(names)} collections ({html.escape(', '.join(names))}) · " if several else ""
        gr.Markdown(
            f"### corpus-qa\n{listed}{info['articles']:,} articles · {info['paragraphs']:,} paragraphs · "
            f"model {html.escape(info['model'])} · built {html.escape(info['built_at'])}",
            elem_id="header",
        )
        cited = gr.State([])  # [(label, article_id, paragraph, hit id, collection)] of the last answer
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Chat", elem_id="chat", height=520, sanitize_html=True, render_markdown=True)
                question = gr.Textbox(placeholder="Ask a question about the corpus…", show_label=False, elem_id="question", submit_btn=True)
                collection = gr.Dropdown([ALL, *names], value=ALL, label="Collection", elem_id="collection", visible=several, interactive=True)
                gr.Examples(EXAMPLES, inputs=question, label="Examples")
                with gr.Accordion("Filters", open=False, elem_id="filters"):
                    with gr.Row():
                        source_filter = gr.Textbox(label="Sources", placeholder="sport/*, business/", elem_id="filter-source")
                        since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", elem_id="filter-since")
                        until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", elem_id="filter-until")
                        meta_filter = gr.Textbox(label="Metadata", placeholder="section=politics", elem_id="filter-meta")
                with gr.Accordion("Settings", open=False):
                    mode = gr.Radio(list(MODES), value="hybrid", label="Search mode")
                    passages = gr.Slider(1, 20, value=5, step=1, label="Passages to quote from")
            with gr.Column(scale=2):
                sources = gr.HTML("<p>Sources of the answer appear here.</p>", elem_id="sources", label="Sources")
                article_choice = gr.Dropdown([], label="Open article", elem_id="open-article", interactive=True)
                article = gr.HTML("", elem_id="article")

        def on_submit(message: str, history: list, mode_: str, k: float, sources_: str, since_: str, until_: str, meta_: str, collection_: str | None) -> Iterator[tuple[Any, ...]]:
            history = list(history or [])
            past = list(history)
            history.append({"role": "user", "content": message})
            history.append({"role": "assistant", "content": "…"})
            yield history, "", gr.update(), []
            where = filter_clauses(sources_, since_, until_, meta_)
            chosen = member(library, collection_)
            for reply in respond(chosen, message, past, mode=mode_, k=int(k), cite=lambda n: f"#cite-{n}", where=where):
                history[-1] = {"role": "assistant", "content": reply.markdown}
                if reply.final and reply.answer is not None:
                    cards, choices = sources_html(reply.answer, several)
                    yield history, cards, gr.update(choices=[c[0] for c in choices], value=None), choices
                else:
                    yield history, passages_html(reply.passages), gr.update(), []

        question.submit(
            on_submit, [question, chatbot, mode, passages, source_filter, since, until, meta_filter, collection], [chatbot, sources, article_choice, cited],
            api_visibility="private",
        ).then(lambda: "", None, question, api_visibility="private")

        def on_open(label: str | None, choices: list) -> str:
            for item in choices:
                if item[0] == label:
                    return article_html(member(library, item[4]), item[1], item[2], item[3])
            return ""

        article_choice.change(on_open, [article_choice, cited], article, api_visibility="private").then(
            None, None, None, js=SCROLL_TO_CITED
        )

        def ask(question: str, history: list[dict] | None = None) -> dict:
            """Answer a question from the corpus: verbatim quotes with numbered sources, or a decline."""
            return library.ask(question, history or []).to_dict()

        def ask_filtered(question: str, history: list[dict] | None = None, where: list[str] | None = None) -> dict:
            """``/ask`` with filter clauses such as ``source=sport/*``, ``since=2005-01``, ``section=politics``
            (a separate endpoint: an HTTP call must send every input, so ``/ask`` keeps its two)."""
            return library.ask(question, history or [], where=where or None).to_dict()

        def ask_collection(question: str, history: list[dict] | None = None, collection: str | None = None, where: list[str] | None = None) -> dict:
            """``/ask_filtered`` in one collection (by name; empty or "All collections": all of them)."""
            return member(library, collection).ask(question, history or [], where=where or None).to_dict()

        gr.api(ask, api_name="ask")
        gr.api(ask_filtered, api_name="ask_filtered")
        gr.api(ask_collection, api_name="ask_collection")
    return demo


def member(library: Library | Collections, name: str | None) -> Library | Collections:
    """The collection of that name (all of them for none or "All collections")."""
    if not name or name == ALL:
        return library
    if isinstance(library, Collections):
        return library[name]
    if name != library.name:
        raise QueryError(f"no collection named {name!r}; there is {library.name!r}")
    return library


def filter_clauses(sources: str, since: str, until: str, meta: str) -> list[str]:
    """The filter row's fields as ``key=value`` clauses (comma-separated patterns and pairs)."""
    clauses = [f"source={p.strip()}" for p in (sources or "").split(",") if p.strip()]
    clauses += [f"since={since.strip()}"] if since and since.strip() else []
    clauses += [f"until={until.strip()}"] if until and until.strip() else []
    clauses += [pair.strip() for pair in (meta or "").split(",") if pair.strip()]
    return clauses


def _card(number: int, hit: Hit, several: bool = False) -> str:
    where = html.escape(shown_source(hit, several))
    return (
        f'<div class="source" id="cite-{number}">'
        f'<div class="head">[{number}] {html.escape(hit.title)} · paragraph {hit.paragraph}</div>'
        f'<div class="path">{where}</div>'
        + (f'<div class="path also-in">also in {html.escape(", ".join(hit.also_in))}</div>' if hit.also_in else "")
        + f"<p>{hit.marked()}</p></div>"
    )


def sources_html(answer: Answer, several: bool = False) -> tuple[str, list[tuple[str, str, int, str, str | None]]]:
    """The sources panel of an answer, and the articles it can open (``several``: name each source's collection)."""
    if answer.answered:
        hits = {q.citation: q.hit for q in reversed(answer.quotes)}
        numbered = [(s.number, hits[s.number]) for s in answer.sources]
        intro = ""
    else:
        numbered = list(enumerate(answer.closest, start=1))
        intro = f'<p class="declined">{html.escape(NOT_IN_CORPUS)} {html.escape(CLOSEST)}</p>'
    choices = [(f"[{n}] {h.title} · paragraph {h.paragraph}", h.article_id, h.paragraph, h.id, h.collection) for n, h in numbered]
    return intro + "".join(_card(n, h, several) for n, h in numbered), choices


def passages_html(hits) -> str:
    items = "".join(f"<li>{html.escape(h.title)} · paragraph {h.paragraph}</li>" for h in hits)
    return f"<p>Reading:</p><ul>{items}</ul>"


def article_html(library: Library, article_id: str, paragraph: int, hit_id: str) -> str:
    """The whole article, escaped, with the cited paragraph marked (``.cited``)."""
    paragraphs = library.article_hits(article_id)
    if not paragraphs:
        return "<p>The article is no longer in the index.</p>"
    first = paragraphs[0]
    parts = [f"<h3>{html.escape(first.title)}</h3>", f'<div class="path">{html.escape(first.url or first.source)}</div>']
    for p in paragraphs:
        cls = "para cited" if p.paragraph == paragraph else "para"
        parts.append(f'<p class="{cls}" id="para-{p.paragraph}"><b>¶{p.paragraph}</b> {html.escape(p.text)}</p>')
    return "".join(parts)


def launch(library: Library | Collections, host: str = "127.0.0.1", port: int = 7860, **kwargs) -> gr.Blocks:
    demo = build_app(library)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=host, server_port=port, css=CSS, head=HEAD, theme=gr.themes.Default(), show_error=True, **kwargs)
    return demo
