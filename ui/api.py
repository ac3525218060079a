"""The HTTP JSON API, served under ``/api`` beside the chat: search, answers, articles and what
the index holds, for scripts and other services (any HTTP client; no Gradio protocol).

    GET  /api/search?q=…&k=10&mode=hybrid&where=source=sport/*&collection=…
    POST /api/search        {"q": …, "k": 10, "mode": "hybrid", "where": …, "collection": …}
    POST /api/ask           {"question": …, "history": [...], "where": …, "collection": …}
    GET  /api/articles/{id}?collection=…
    GET  /api/info
    GET  /api/openapi.json  (the schema)   GET /api/docs (the same, as a page)

A server shared beyond this machine asks for a login (see :mod:`ui.auth`): the API then
answers 401 to a request without its bearer token or a chat login (HTTP Basic).
Results are the library's own (``to_dict()``). Errors are JSON, ``{"error": "one line"}``:
400 for a bad query, filter or request, 404 for an unknown article or collection, 503 while
no index can be read. A user error is logged as one line, never a traceback.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from corpus.errors import CollectionNotFoundError, CorpusError, IndexCorruptError, IndexNotFoundError, ModelMismatchError
from qa.collections import Collections, member
from qa.library import Library

from .auth import Access

log = logging.getLogger(__name__)

#: The most hits one request may ask for.
MAX_K = 1000

Where = dict[str, Any] | list[str] | str | None


class SearchRequest(BaseModel):
    q: str = Field(description="Words or a question.")
    k: int = Field(10, ge=1, le=MAX_K, description="Number of paragraphs.")
    mode: str = Field("hybrid", description="hybrid, keyword or vector.")
    where: Where = Field(None, description='A filter: {"source": "sport/*", "since": "2005-01", "section": "politics"}, or "key=value" clauses.')
    collection: str | None = Field(None, description="One collection's name (default: all of them).")


class AskRequest(BaseModel):
    question: str = Field(description="The question.")
    history: list[Any] = Field(default_factory=list, description='The conversation so far: [{"role": "user", "content": …}, …], oldest first.')
    where: Where = Field(None, description="A filter, as for /api/search.")
    collection: str | None = Field(None, description="One collection's name (default: all of them).")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def api_app(library: Library | Collections, access: Access | None = None) -> FastAPI:
    """The API over an open library (or collections), as an application to mount at ``/api``.
    With ``access``, every request needs its bearer token or a chat login (HTTP Basic)."""
    api = FastAPI(
        title="corpus-qa",
        description="Search a corpus and answer questions from it with cited verbatim quotes.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )

    if access is not None and access.required:

        @api.middleware("http")
        async def login_required(request: Request, call_next):
            if access.allows(request.headers.get("authorization")):
                return await call_next(request)
            log.warning("api %s refused: no valid credentials", request.url.path)
            challenge = "Bearer" if access.token else 'Basic realm="corpus-qa"'
            return JSONResponse({"error": "log in: send the API token (Authorization: Bearer TOKEN) or a login"}, status_code=401, headers={"WWW-Authenticate": challenge})

    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid request")
        log.warning("api %s refused: %s", request.url.path, message)
        return JSONResponse({"error": message}, status_code=400)

    def run(route: str, fn):
        """Call ``fn``; a user error becomes its status and one line in the log."""
        try:
            return fn()
        except ApiError as exc:
            log.warning("api %s refused: %s", route, exc)
            raise
        except CollectionNotFoundError as exc:
            log.warning("api %s refused: %s", route, exc)
            raise ApiError(404, str(exc)) from None
        except (IndexNotFoundError, IndexCorruptError, ModelMismatchError) as exc:
            log.warning("api %s refused: %s", route, exc)
            raise ApiError(503, f"no index can be read now: {exc}") from None
        except (CorpusError, ValueError) as exc:
            message = (str(exc).splitlines() or [type(exc).__name__])[0]
            log.warning("api %s refused: %s", route, message)
            raise ApiError(400, message) from None

    def chosen(collection: str | None) -> Library | Collections:
        return member(library, collection)

    def search(body: SearchRequest) -> dict[str, Any]:  # the library checks the mode
        return chosen(body.collection).search(body.q, k=body.k, mode=body.mode, where=body.where or None).to_dict()

    @api.get("/search", summary="Ranked paragraphs for a query")
    def search_get(
        q: str = Query(description="Words or a question."),
        k: int = Query(10, ge=1, le=MAX_K, description="Number of paragraphs."),
        mode: str = Query("hybrid", description="hybrid, keyword or vector."),
        where: list[str] | None = Query(None, description="Filter clauses, repeatable: source=sport/*, since=2005-01, section=politics."),
        collection: str | None = Query(None, description="One collection's name (default: all of them)."),
    ) -> dict[str, Any]:
        """The ``k`` best paragraphs, each with its title, paragraph number (and page), source,
        score and highlighted terms; ``notices`` says how the query was understood."""
        return run("/search", lambda: search(SearchRequest(q=q, k=k, mode=mode, where=where, collection=collection)))

    @api.post("/search", summary="Ranked paragraphs for a query (JSON body)")
    def search_post(body: SearchRequest) -> dict[str, Any]:
        """As ``GET /api/search``, with the fields in a JSON body."""
        return run("/search", lambda: search(body))

    @api.post("/ask", summary="An answer in cited verbatim quotes, or a plain decline")
    def ask(body: AskRequest) -> dict[str, Any]:
        """Quotes from the corpus, each followed by ``[n]``, with the numbered sources; when the
        corpus does not answer, ``answered`` is false and ``closest`` lists the nearest passages."""
        return run("/ask", lambda: chosen(body.collection).ask(body.question, body.history, where=body.where or None).to_dict())

    @api.get("/articles/{article_id:path}", summary="One article, whole")
    def article(article_id: str, collection: str | None = Query(None, description="The collection holding it.")) -> dict[str, Any]:
        """The article's title, text, source, date, metadata and, for a paged document, where
        each page begins; its paragraphs with their numbers, offsets and pages."""

        def find() -> dict[str, Any]:
            lib = chosen(collection)
            found = lib.article(article_id)
            if found is None:
                raise ApiError(404, f"no article {article_id!r} in the index")
            data = found.to_dict()
            data["paragraphs"] = [{"paragraph": h.paragraph, "start": h.start, "end": h.end, "page": h.page, "text": h.text} for h in lib.article_hits(article_id)]
            return data

        return run("/articles", find)

    @api.get("/info", summary="What the index holds")
    def info() -> dict[str, Any]:
        """Counts, model, size, when it was built and from what (per collection when several)."""
        return run("/info", library.info)

    @api.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(api.openapi()))

    return api


def docs_page(schema: dict[str, Any]) -> str:
    """The OpenAPI schema as a plain page: served by the API itself, loading nothing from outside."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>corpus-qa API</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.45}"
        "code,pre{background:#f1f3f5;padding:2px 4px;border-radius:4px}pre{padding:8px;overflow-x:auto}"
        "h2{margin-top:1.6em;border-top:1px solid #dee2e6;padding-top:.8em}td,th{text-align:left;padding:2px 8px;vertical-align:top}</style></head><body>",
        f"<h1>{e(schema['info']['title'])} API</h1><p>{e(schema['info'].get('description', ''))}</p>",
        "<p>Errors are JSON, <code>{\"error\": \"…\"}</code>: 400 for a bad query, filter or request, 404 for an unknown article or collection, "
        "503 while no index can be read. The schema: <a href='openapi.json'><code>/api/openapi.json</code></a>.</p>",
    ]
    components = schema.get("components", {}).get("schemas", {})
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<h2><code>{e(method.upper())} /api{e(path)}</code></h2><p><b>{e(op.get('summary', ''))}</b></p><p>{e(op.get('description', ''))}</p>")
            rows = [(p["name"], p.get("in", ""), p.get("description", ""), p.get("required", False)) for p in op.get("parameters", [])]
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
            body = components.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
            rows += [(name, "JSON body", field.get("description", ""), name in body.get("required", [])) for name, field in body.get("properties", {}).items()]
            if rows:
                parts.append("<table><tr><th>field</th><th>in</th><th>required</th><th></th></tr>")
                parts += [f"<tr><td><code>{e(n)}</code></td><td>{e(where)}</td><td>{'yes' if req else ''}</td><td>{e(d)}</td></tr>" for n, where, d, req in rows]
                parts.append("</table>")
            if body:
                example = {name: _example(name) for name in body.get("properties", {}) if name in body.get("required", [])}
                parts.append(f"<pre>curl -s localhost:7860/api{e(path)} -H 'content-type: application/json' -d '{e(json.dumps(example))}'</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def _example(field: str) -> Any:
    return {"q": "rebellion in Mosul", "question": "Who led the rebellion?"}.get(field, "")
