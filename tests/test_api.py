"""The HTTP JSON API (ui/api.py) over a real index: the library's results, typed JSON errors,
the schema and its page."""

from __future__ import annotations

import pytest

from corpus.errors import IndexCorruptError
from qa import Library

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from ui.api import api_app  # noqa: E402

QUESTION = "How many people did ISIS execute?"


@pytest.fixture(scope="module")
def lib(seed_index):
    with Library.open(seed_index) as library:
        yield library


@pytest.fixture(scope="module")
def client(lib):
    return TestClient(api_app(lib))


def test_search_by_get_and_post_gives_the_librarys_hits(client, lib):
    expected = lib.search("drowning dissenters", k=3, mode="keyword").to_dict()
    got = client.get("/search", params={"q": "drowning dissenters", "k": 3, "mode": "keyword"})
    assert got.status_code == 200 and got.json() == expected
    posted = client.post("/search", json={"q": "drowning dissenters", "k": 3, "mode": "keyword"})
    assert posted.status_code == 200 and posted.json() == expected


def test_filters_by_query_clauses_or_json(client, lib):
    where = ["source=seeds/*", "since=2000"]
    expected = lib.search("rebellion", k=2, where=where)
    got = client.get("/search", params=[("q", "rebellion"), ("k", "2"), ("where", where[0]), ("where", where[1])]).json()
    assert [h["id"] for h in got["hits"]] == [h.id for h in expected]
    nothing = client.post("/search", json={"q": "rebellion", "where": {"source": "sport/*"}}).json()
    assert nothing["hits"] == [] and any("no article matches" in n for n in nothing["notices"])


def test_ask_answers_with_the_librarys_answer_and_follows_a_conversation(client, lib):
    answer = client.post("/ask", json={"question": QUESTION})
    assert answer.status_code == 200
    data = answer.json()
    assert data == lib.ask(QUESTION).to_dict()
    assert data["answered"] and "58 people" in data["quotes"][0]["text"] and data["sources"][0]["paragraph"] == 2
    followup = client.post("/ask", json={"question": "When did that happen?", "history": [{"role": "user", "content": "Who led the rebellion?"}]}).json()
    assert followup["answered"] and "days before" in followup["text"]


def test_an_article_and_the_index_info(client, lib):
    article_id = lib.article_ids()[0]
    got = client.get(f"/articles/{article_id}")  # the id holds a slash
    assert got.status_code == 200
    data = got.json()
    assert data["id"] == article_id and data["title"].startswith("ISIS Quashes")
    assert [p["paragraph"] for p in data["paragraphs"]] == list(range(1, 13))
    assert all(data["text"][p["start"] : p["end"]] == p["text"] for p in data["paragraphs"])
    info = client.get("/info").json()
    assert info["articles"] == 1 and info["paragraphs"] == 12


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("get", "/search?q=rebellion&where=since=yesterday", None, 400, "yesterday"),
        ("get", "/search?q=rebellion&where=no+equals+sign", None, 400, "key=value"),
        ("get", "/search?q=rebellion&mode=fuzzy", None, 400, "unknown search mode"),
        ("get", "/search?q=%20%20", None, 400, "empty"),
        ("get", "/search?q=rebellion&k=0", None, 400, "k"),
        ("get", "/search", None, 400, "q"),
        ("post", "/ask", {"question": QUESTION, "where": ["until=soon"]}, 400, "soon"),
        ("post", "/ask", {"question": QUESTION, "history": "not a list"}, 400, "history"),
        ("post", "/ask", {"q": QUESTION}, 400, "question"),
        ("post", "/ask", {"question": QUESTION, "collection": "papers"}, 404, "papers"),
        ("get", "/articles/no-such-article", None, 404, "no-such-article"),
    ],
)
def test_user_errors_are_typed_one_line_json(client, method, path, body, status, words, caplog):
    response = client.request(method.upper(), path, json=body)
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert words in message and "\n" not in message and "Traceback" not in message
    assert "Traceback" not in caplog.text


def test_a_malformed_json_body_is_a_400(client):
    response = client.post("/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


def test_an_index_that_cannot_be_read_is_a_503(lib, monkeypatch):
    def broken():
        raise IndexCorruptError("paragraph store cannot be read")

    monkeypatch.setattr(lib, "info", broken)
    response = TestClient(api_app(lib)).get("/info")
    assert response.status_code == 503 and "cannot be read" in response.json()["error"]


def test_the_schema_and_its_page(client):
    schema = client.get("/openapi.json").json()
    assert {"/search", "/ask", "/articles/{article_id}", "/info"} <= set(schema["paths"])
    assert set(schema["paths"]["/search"]) == {"get", "post"}
    page = client.get("/docs")
    assert page.status_code == 200 and "POST /api/ask" in page.text
    assert "http://" not in page.text.replace("http://127.0.0.1", "") and "https://" not in page.text  # loads nothing from outside
