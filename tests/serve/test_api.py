"""The routes with a fake pipeline: shapes, ids, metadata, options, limits and bad inputs (4xx, never 5xx)."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest

from sentimentkit.serve.settings import ServeSettings, SettingsError

from .conftest import FakePipeline


def test_analyze_returns_one_prediction_per_text_in_order_with_ids_and_metadata(make_client):
    client = make_client()
    body = {
        "items": [
            {"id": "r1", "text": "a good screen", "metadata": {"product_id": "PHONE_X", "stars": 4}},
            {"text": "bad battery"},
            {"id": "r3", "text": "so so"},
        ]
    }
    r = client.post("/v1/analyze", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["model"] == "fake-doc" and data["aspect_model"] == "fake-absa"
    rows = data["predictions"]
    assert [p["id"] for p in rows] == ["r1", "2", "r3"]  # a missing id is the position, from 1
    assert [p["label"] for p in rows] == ["positive", "negative", "neutral"]
    assert rows[0]["metadata"] == {"product_id": "PHONE_X", "stars": 4} and rows[1]["metadata"] is None
    assert rows[0]["aspects"] == [
        {"aspect": "screen", "start": 7, "end": 13, "polarity": "positive", "confidence": 0.8,
         "probabilities": {"negative": 0.1, "neutral": 0.1, "positive": 0.8}}
    ]  # fmt: skip
    assert rows[2]["aspects"] == []  # asked for, none found
    assert set(rows[0]) >= {"text", "polarity", "score", "probabilities", "truncated", "chunks", "error", "warnings"}


def test_texts_shorthand_and_aspect_options(make_client):
    pipeline = FakePipeline()
    client = make_client(pipeline)
    r = client.post("/v1/analyze", json={"texts": ["good food", "bad service"], "aspects": False})
    assert r.status_code == 200
    assert [p["id"] for p in r.json()["predictions"]] == ["1", "2"]
    assert all(p["aspects"] is None for p in r.json()["predictions"])  # not asked for
    assert r.json()["aspect_model"] is None
    assert pipeline.calls[-1][1] == {"long_texts": "truncate"}  # the document-only view ran, no aspect step
    r = client.post("/v1/analyze", json={"texts": ["the food"], "aspect_terms": ["food"], "long_texts": "chunks"})
    assert r.json()["predictions"][0]["aspects"][0]["aspect"] == "food"
    assert pipeline.calls[-1][1] == {"long_texts": "chunks", "aspects": ["food"]}


def test_aspects_route_runs_only_the_aspect_model(make_client):
    pipeline = FakePipeline()
    client = make_client(pipeline)
    r = client.post("/v1/aspects", json={"texts": ["not a good screen"]})
    assert r.status_code == 200
    p = r.json()["predictions"][0]
    assert p["label"] is None and p["aspects"][0]["polarity"] == "negative"
    assert r.json()["model"] == "fake-absa"
    assert pipeline.calls == []  # the document model was not called
    assert client.post("/v1/aspects", json={"texts": ["x"], "aspects": False}).status_code == 422


def test_a_server_without_aspect_model(make_client):
    client = make_client(FakePipeline(aspects=False), aspect_model=None)
    r = client.post("/v1/analyze", json={"texts": ["good"]})
    assert r.status_code == 200 and r.json()["predictions"][0]["aspects"] is None
    for route, body in [("/v1/analyze", {"texts": ["x"], "aspects": True}), ("/v1/aspects", {"texts": ["x"]})]:
        r = client.post(route, json=body)
        assert r.status_code == 422 and "no aspect model" in r.json()["detail"]
    assert client.get("/v1/models").json()["aspect_model"] is None


def test_blank_text_gets_an_error_row_not_a_failure(make_client):
    r = make_client().post("/v1/analyze", json={"texts": ["good", "  "]})
    assert r.status_code == 200
    assert r.json()["predictions"][1]["error"] == "blank text"


def test_models_route_lists_models_and_limits(make_client):
    data = make_client(max_texts=7).get("/v1/models").json()
    assert data["model"]["name"] == "fake-doc" and data["model"]["labels"] == ["negative", "neutral", "positive"]
    assert data["aspect_model"]["name"] == "fake-absa"
    assert data["limits"]["max_texts"] == 7


@pytest.mark.parametrize(
    ("overrides", "body", "needle"),
    [
        ({"max_texts": 2}, {"texts": ["a", "b", "c"]}, "texts: 3 texts; the limit is 2"),
        ({"max_chars": 5}, {"items": [{"text": "ok"}, {"text": "too long"}]}, "items[1].text: 8 characters"),
        ({"max_body_bytes": 100}, {"texts": ["x" * 200]}, "the limit is 100 bytes"),
    ],
)
def test_limits_answer_413_naming_what(make_client, overrides, body, needle):
    r = make_client(**overrides).post("/v1/analyze", json=body)
    assert r.status_code == 413
    assert needle in r.json()["detail"]


def test_chunked_body_over_the_limit_is_413(make_client):
    client = make_client(max_body_bytes=1000)

    def chunks():
        for _ in range(20):
            yield b" " * 100

    r = client.post("/v1/analyze", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("content", "headers", "status", "needle"),
    [
        (b'{"texts": ["unterminated', {}, 422, "invalid JSON"),
        (b'{"texts": ["\xff\xfe"]}', {}, 400, "error parsing the body"),  # invalid UTF-8
        (b"\xff\xfe\x00", {"content-type": None}, 422, "body"),  # not JSON at all, no content type
        (b'{"texts": []}', {}, 422, "texts"),  # empty list
        (b'{"items": []}', {}, 422, "items"),
        (b"{}", {}, 422, "either `items` or `texts`"),
        (b'{"texts": ["a"], "items": [{"text": "b"}]}', {}, 422, "not both"),
        (b'{"texts": [1]}', {}, 422, "body.texts[0]: Input should be a valid string"),  # wrong type
        (b'{"texts": ["a"], "aspects": "yes"}', {}, 422, "body.aspects"),  # strict: no string booleans
        (b'{"texts": ["a"], "colour": "red"}', {}, 422, "body.colour: Extra inputs are not permitted"),
        (b'{"texts": ["\\ud800"]}', {}, 422, "lone surrogate"),
        (b'{"texts": ["a\\u0000b"]}', {}, 422, "NUL"),
        (b'{"items": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}', {}, 422, "repeats items[0].id"),
        (b'{"items": [{"id": "", "text": "x"}]}', {}, 422, "body.items[0].id"),
        (b'{"texts": ["a"], "long_texts": "all"}', {}, 422, "long_texts"),
        (b'{"texts": ["a"], "aspects": false, "aspect_terms": ["a"]}', {}, 422, "aspect_terms"),
        (b'{"texts": ["a"], "aspect_terms": []}', {}, 422, "aspect_terms"),
        (b"[1, 2]", {}, 422, "body"),
        (b"", {}, 422, "body"),
        (b'{"texts": ["a"]}', {"content-type": "text/plain"}, 422, "body"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message(make_client, content, headers, status, needle):
    headers = {"content-type": "application/json", **headers}
    headers = {k: v for k, v in headers.items() if v is not None}
    r = make_client().post("/v1/analyze", content=content, headers=headers)
    assert r.status_code == status, r.text
    data = r.json()
    text = data.get("message", "") + json.dumps(data["detail"])
    assert needle in text, data
    if status == 422:
        assert data["message"]  # one readable line
        assert all("input" not in e for e in data["detail"])  # the (possibly huge) input is not echoed


def test_unknown_routes_and_methods_are_4xx(make_client):
    client = make_client()
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/analyze").status_code == 405


def test_file_upload_as_json_and_csv(make_client):
    client = make_client()
    data = b"review_id,text,product\nA1,good screen,P1\nA2,bad battery,P2\nA3,,P3\n"
    form = {"id_column": "review_id", "keep": "product"}
    r = client.post("/v1/analyze/file", files={"file": ("reviews.csv", data, "text/csv")}, data=form)
    assert r.status_code == 200, r.text
    rows = r.json()["predictions"]
    assert [p["id"] for p in rows] == ["A1", "A2", "A3"]
    assert [p["label"] for p in rows] == ["positive", "negative", None]
    assert rows[0]["metadata"] == {"product": "P1"} and rows[2]["error"] == "blank text"
    r = client.post("/v1/analyze/file?format=csv", files={"file": ("reviews.csv", data, "text/csv")}, data=form)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="reviews-sentiment.csv"' in r.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in table] == ["A1", "A2", "A3"]
    assert table[0]["product"] == "P1" and table[0]["label"] == "positive"
    assert json.loads(table[0]["aspects"])[0]["aspect"] == "screen"


def test_file_upload_txt_jsonl_gz_and_undecodable_lines(make_client):
    client = make_client()
    r = client.post("/v1/analyze/file", files={"file": ("r.txt", b"good\n\xff bad\nbad\n")})
    rows = r.json()["predictions"]
    assert [p["id"] for p in rows] == ["1", "2", "3"]
    assert "r.txt:2" in rows[1]["error"] and "not UTF-8" in rows[1]["error"]  # the upload's name, not a temp path
    jsonl = gzip.compress(b'{"body": "good", "n": 1}\n{"body": "bad", "n": 2}\n')
    r = client.post("/v1/analyze/file", files={"file": ("r.jsonl.gz", jsonl)}, data={"column": "body"})
    assert [p["label"] for p in r.json()["predictions"]] == ["positive", "negative"]


@pytest.mark.parametrize(
    ("name", "content", "form", "status", "needle"),
    [
        ("r.pdf", b"x", {}, 422, "unknown input format"),
        ("r.csv", b"body\nx\n", {}, 422, "no column 'text'"),
        ("r.csv.gz", b"not gzip", {}, 422, "r.csv.gz"),
        ("r.csv", b"text\n\xff\n", {}, 422, "r.csv"),
        ("r.csv", b"text\n", {}, 422, "no records"),
        ("r.txt", b"a\nb\nc\n", {}, 413, "more than 2 records"),
        ("r.txt", b"a\n" + b"x" * 50 + b"\n", {}, 413, "r.txt:2: the text has 50 characters"),
    ],
)
def test_bad_uploads_get_a_4xx_naming_the_file(make_client, name, content, form, status, needle):
    client = make_client(max_texts=2, max_chars=40)
    r = client.post("/v1/analyze/file", files={"file": (name, content)}, data=form)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
    assert "sentimentkit-upload" not in r.json()["detail"]  # no temporary path leaks


def test_upload_without_file_is_422(make_client):
    r = make_client().post("/v1/analyze/file", data={"column": "text"})
    assert r.status_code == 422 and "file" in r.json()["message"]


def test_static_page_and_health(make_client):
    client = make_client()
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert client.get("/static/does-not-exist.js").status_code == 404


def test_cors_only_when_configured(make_client):
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    r = make_client().options("/v1/analyze", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    client = make_client(cors_origins=("https://shop.example",))
    r = client.options("/v1/analyze", headers={**preflight, "Access-Control-Request-Headers": "X-API-Key"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://shop.example"
    r = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_settings_are_checked_with_the_setting_named():
    with pytest.raises(SettingsError, match="max_batch"):
        ServeSettings(max_batch=0)
    with pytest.raises(SettingsError, match="max_texts = 10 is larger than max_queue = 5"):
        ServeSettings(max_texts=10, max_queue=5)
    with pytest.raises(SettingsError, match="batch_window_ms"):
        ServeSettings(batch_window_ms=-1)
