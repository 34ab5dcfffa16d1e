"""The micro-batcher through the app: coalescing, backpressure (429), timeouts, readiness, draining and the
isolation of a request that makes its batch fail. A held fake pipeline keeps a batch in flight."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from sentimentkit.serve.app import create_app
from sentimentkit.serve.batcher import Draining, MicroBatcher, QueueFull
from sentimentkit.serve.settings import ServeSettings

from .conftest import HOLD_S, FakePipeline

WAIT_S = 10


def _until(condition, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def _in_flight(client: TestClient, pipeline: FakePipeline, pool: ThreadPoolExecutor, texts=("first",)):
    """Send a request and wait until the (held) pipeline is running it."""
    future = pool.submit(client.post, "/v1/analyze", json={"texts": list(texts)})
    assert pipeline.entered.wait(WAIT_S)
    return future


def test_concurrent_requests_are_coalesced_and_each_gets_its_own_predictions(make_client):
    pipeline = FakePipeline()
    client = make_client(pipeline, batch_window_ms=50)
    batcher = client.app.state.service.batcher
    requests = [[f"good {i}-{j}" if j % 2 else f"bad {i}-{j}" for j in range(i + 1)] for i in range(5)]
    with ThreadPoolExecutor(8) as pool:
        with pipeline.hold():
            first = _in_flight(client, pipeline, pool)
            futures = [pool.submit(client.post, "/v1/analyze", json={"texts": texts}) for texts in requests]
            _until(lambda: batcher.depth == sum(map(len, requests)))
        responses = [f.result(HOLD_S) for f in futures]
        assert first.result(HOLD_S).status_code == 200
    assert len(pipeline.calls) == 2  # the first request, then the five others in one batch
    assert sorted(pipeline.calls[1][0]) == sorted(t for texts in requests for t in texts)
    for texts, r in zip(requests, responses, strict=True):
        assert r.status_code == 200
        rows = r.json()["predictions"]
        assert [p["text"] for p in rows] == texts  # exactly its own, in order
        assert [p["id"] for p in rows] == [str(i) for i in range(1, len(texts) + 1)]
        assert [p["label"] for p in rows] == ["negative" if j % 2 == 0 else "positive" for j in range(len(texts))]


def test_requests_with_different_options_are_not_mixed(make_client):
    pipeline = FakePipeline()
    client = make_client(pipeline, batch_window_ms=50)
    batcher = client.app.state.service.batcher
    with ThreadPoolExecutor(4) as pool:
        with pipeline.hold():
            _in_flight(client, pipeline, pool)
            a = pool.submit(client.post, "/v1/analyze", json={"texts": ["good a"], "aspects": False})
            b = pool.submit(client.post, "/v1/analyze", json={"texts": ["good b"], "aspects": True})
            c = pool.submit(client.post, "/v1/analyze", json={"texts": ["good c"], "aspects": False})
            _until(lambda: batcher.depth == 3)
        assert [f.result(HOLD_S).status_code for f in (a, b, c)] == [200, 200, 200]
    batches = sorted(sorted(texts) for texts, _ in pipeline.calls[1:])
    assert batches == [["good a", "good c"], ["good b"]]
    assert b.result().json()["predictions"][0]["aspects"] == []
    assert a.result().json()["predictions"][0]["aspects"] is None


def test_a_full_queue_answers_429_with_retry_after_at_once(make_client):
    pipeline = FakePipeline()
    client = make_client(pipeline, max_queue=4, max_texts=4)
    batcher = client.app.state.service.batcher
    with ThreadPoolExecutor(4) as pool:
        with pipeline.hold():
            first = _in_flight(client, pipeline, pool)
            queued = pool.submit(client.post, "/v1/analyze", json={"texts": ["a", "b", "c"]})
            _until(lambda: batcher.depth == 3)
            started = time.monotonic()
            r = client.post("/v1/analyze", json={"texts": ["d", "e"]})
            assert time.monotonic() - started < 2  # refused at once, not after a wait
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) >= 1
            assert "queue is full" in r.json()["detail"]
        assert first.result(HOLD_S).status_code == 200 and queued.result(HOLD_S).status_code == 200


def test_a_request_that_breaks_its_batch_fails_alone(make_client):
    pipeline = FakePipeline()
    pipeline.fail_on = "poison"
    client = make_client(pipeline, batch_window_ms=50)
    batcher = client.app.state.service.batcher
    with ThreadPoolExecutor(4) as pool:
        with pipeline.hold():
            _in_flight(client, pipeline, pool)
            good = pool.submit(client.post, "/v1/analyze", json={"texts": ["good"]})
            bad = pool.submit(client.post, "/v1/analyze", json={"texts": ["poison"]})
            _until(lambda: batcher.depth == 2)
        assert good.result(HOLD_S).status_code == 200
        r = bad.result(HOLD_S)
        assert r.status_code == 422 and "poison" in r.json()["detail"]


def test_a_request_waiting_too_long_gets_503(make_client):
    pipeline = FakePipeline()
    client = make_client(pipeline, request_timeout_s=0.2)
    with ThreadPoolExecutor(2) as pool, pipeline.hold():
        first = _in_flight(client, pipeline, pool)
        r = first.result(HOLD_S)
        assert r.status_code == 503 and "retry-after" in r.headers


def test_readyz_until_loaded_and_load_failure():
    gate = threading.Event()

    def slow_loader(settings):
        assert gate.wait(HOLD_S)
        return FakePipeline()

    settings = ServeSettings(model="fake-doc", aspect_model="fake-absa")
    with TestClient(create_app(settings, loader=slow_loader)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json() == {"status": "loading"} and "retry-after" in r.headers
        assert client.get("/healthz").status_code == 200  # alive while loading
        r = client.post("/v1/analyze", json={"texts": ["good"]})
        assert r.status_code == 503 and "loading" in r.json()["detail"] and "retry-after" in r.headers
        gate.set()
        _until(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/v1/analyze", json={"texts": ["good"]}).status_code == 200

    def broken_loader(settings):
        raise FileNotFoundError("no such model folder")

    with TestClient(create_app(settings, loader=broken_loader)) as client:
        _until(lambda: client.get("/healthz").status_code == 503)
        assert client.get("/readyz").json() == {"status": "failed"}


def test_graceful_drain_finishes_in_flight_requests_and_refuses_new_ones():
    pipeline = FakePipeline()
    settings = ServeSettings(model="fake-doc", aspect_model="fake-absa")
    app = create_app(settings, pipeline)
    service = app.state.service
    with ThreadPoolExecutor(2) as pool:
        with TestClient(app) as client:
            _until(lambda: client.get("/readyz").status_code == 200)
            with pipeline.hold():
                first = _in_flight(client, pipeline, pool, texts=("good in flight",))
                service.request_drain()  # what SIGTERM does
                _until(lambda: client.get("/readyz").status_code == 503)
                assert client.get("/readyz").json() == {"status": "draining"}
                r = client.post("/v1/analyze", json={"texts": ["late"]})
                assert r.status_code == 503 and "retry-after" in r.headers
            r = first.result(HOLD_S)
            assert r.status_code == 200 and r.json()["predictions"][0]["label"] == "positive"
        # leaving the client ran the lifespan shutdown: the batcher has stopped
        assert not service.batcher.running


def test_batcher_drain_answers_queued_requests_before_stopping():
    """At the batcher level: requests queued when shutdown starts still get their results."""
    calls: list[list[int]] = []

    def run(items, options):
        time.sleep(0.01)
        calls.append(list(items))
        return [x * 10 for x in items]

    async def main():
        batcher = MicroBatcher(run, window_s=0.001, max_batch=2, max_queue=10)
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit([i], "same")) for i in range(5)]
        await asyncio.sleep(0)  # let them queue
        batcher.close()  # what the shutdown does first
        drained = asyncio.create_task(batcher.drain(timeout_s=WAIT_S))
        with pytest.raises(Draining):
            await batcher.submit([99], "same")
        results = await asyncio.gather(*tasks)
        await drained
        return results

    results = asyncio.run(asyncio.wait_for(main(), WAIT_S))
    assert results == [[0], [10], [20], [30], [40]]
    assert all(len(batch) <= 2 for batch in calls) and sum(map(len, calls)) == 5


def test_batcher_refuses_what_the_queue_cannot_hold():
    async def main():
        batcher = MicroBatcher(lambda items, options: items, window_s=1.0, max_batch=100, max_queue=3)
        batcher.start()
        waiting = asyncio.create_task(batcher.submit([1, 2], "o"))  # waits out the 1 s window in the queue
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFull) as err:
            await batcher.submit([3, 4], "o")
        assert err.value.retry_after >= 1 and batcher.depth == 2
        waiting.cancel()  # a client that goes away leaves the queue
        await asyncio.sleep(0.01)
        assert batcher.depth == 0
        started = time.monotonic()
        assert await batcher.submit([5], "o") == [5]  # the worker went on past the cancelled request ...
        assert time.monotonic() - started < 1.5  # ... with a window of its own
        await batcher.drain(timeout_s=WAIT_S)

    asyncio.run(asyncio.wait_for(main(), WAIT_S))
