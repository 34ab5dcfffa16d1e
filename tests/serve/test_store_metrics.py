"""The service's store writes (--store) and its Prometheus metrics."""

from __future__ import annotations

import re

import pytest

from sentimentkit.serve.engine import content_id

from .conftest import FakePipeline, FakeStore

QUERY = "SELECT aspect_term, sentiment_score FROM reviews WHERE product_id = 'PHONE_X' ORDER BY sentiment_score DESC"


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, value = line.rsplit(" ", 1)
            found = dict(re.findall(r'(\w+)="([^"]*)"', head))
            if head.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
                return float(value)
    return 0.0


def test_scored_batches_are_written_with_ids_before_the_answer(make_client):
    store = FakeStore()
    client = make_client(store=store)
    body = {"items": [{"id": "r1", "text": "good screen", "metadata": {"product_id": "PHONE_X"}}, {"text": "bad"}]}
    r = client.post("/v1/analyze", json=body)
    assert r.status_code == 200
    assert [p["id"] for p in r.json()["predictions"]] == ["r1", "2"]  # the response numbers by position ...
    (predictions, model, aspect_model, source), *_ = store.writes
    assert [p.id for p in predictions] == ["r1", content_id("bad")]  # ... the store keys a text without id by content
    assert predictions[0].fields == (("product_id", "PHONE_X"),) and predictions[0].aspects
    assert (model, aspect_model, source) == ("fake-doc", "fake-absa", "api")
    client.post("/v1/aspects", json={"texts": ["the food"]})
    assert store.writes[-1][1:] == ("fake-absa", None, "api")


def test_a_failed_store_write_answers_503_and_is_counted(make_client, caplog):
    store = FakeStore()
    store.fail = True
    client = make_client(store=store)
    r = client.post("/v1/analyze", json={"texts": ["good"]})
    assert r.status_code == 503 and "retry-after" in r.headers
    assert "could not be stored" in r.json()["detail"]
    assert "database is locked" in caplog.text  # the reason is logged for the operator
    assert _metric(client.get("/metrics").text, "sentimentkit_store_write_failures_total") == 1
    store.fail = False
    assert client.post("/v1/analyze", json={"texts": ["good"]}).status_code == 200  # the retry succeeds


def test_store_is_closed_at_shutdown(make_client):
    store = FakeStore()
    client = make_client(store=store)
    client.__exit__(None, None, None)
    assert store.closed


def test_real_sqlite_store_holds_what_the_service_answered(make_client, tmp_path):
    pytest.importorskip("sqlalchemy", reason="needs the store extra")
    from sentimentkit.store import Store

    url = f"sqlite:///{tmp_path / 'service.db'}"
    client = make_client(FakePipeline(), store_url=url)
    body = {
        "items": [{"id": "r1", "text": "good screen but not a good battery", "metadata": {"product_id": "PHONE_X"}}]
    }
    assert client.post("/v1/analyze", json=body).status_code == 200
    assert client.post("/v1/analyze", json=body).status_code == 200  # idempotent by id
    client.__exit__(None, None, None)
    store = Store(url)
    try:
        _, rows = store.query(QUERY)
    finally:
        store.close()
    assert [term for term, _ in rows] == ["screen", "battery"]


def test_metrics_count_requests_by_route_and_status_and_batches(make_client):
    client = make_client(api_keys=("key-1",))
    key = {"X-API-Key": "key-1"}
    for _ in range(2):
        client.post("/v1/analyze", json={"texts": ["good", "bad"]}, headers=key)
    client.post("/v1/analyze", json={"texts": []}, headers=key)
    client.post("/v1/analyze", json={"texts": ["x"]})
    client.get("/v1/random/path/123", headers=key)
    text = client.get("/metrics", headers=key).text
    requests = "sentimentkit_http_requests_total"
    assert _metric(text, requests, route="/v1/analyze", method="POST", status="200") == 2
    assert _metric(text, requests, route="/v1/analyze", method="POST", status="422") == 1
    assert _metric(text, requests, route="/v1/analyze", method="POST", status="401") == 1
    assert _metric(text, requests, route="unmatched", method="GET", status="404") == 1  # no label per raw path
    assert _metric(text, "sentimentkit_http_request_duration_seconds_count", route="/v1/analyze") == 4
    assert _metric(text, "sentimentkit_batch_size_count") == 2 and _metric(text, "sentimentkit_batch_size_sum") == 4
    assert "sentimentkit_queue_depth 0.0" in text
    assert "sentimentkit_batch_duration_seconds_count 2.0" in text
