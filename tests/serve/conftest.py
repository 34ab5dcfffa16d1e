"""Fakes for fast service tests: a pipeline that labels by keyword (and can be held mid-batch), and a store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra")

from fastapi.testclient import TestClient

from sentimentkit.inference.pipeline import as_examples
from sentimentkit.labels import POLARITY3
from sentimentkit.serve.app import create_app
from sentimentkit.serve.settings import ServeSettings
from sentimentkit.types import AspectPrediction, Prediction

HOLD_S = 10  # the longest a held fake pipeline waits to be released (a failing test ends, never hangs)
ASPECT_WORDS = ("screen", "battery", "food", "service")


class FakeAspects:
    """Aspects: every occurrence of an ASPECT_WORD (or the given terms), positive unless "not" precedes it."""

    def __call__(self, inputs: Any, batch_size: int | None = None, aspects: Any = None, **options: Any) -> list:
        if options:
            raise TypeError(f"unknown option(s) for aspect sentiment: {', '.join(sorted(options))}")
        out = []
        for x in as_examples(inputs):
            found = []
            for term in aspects or ASPECT_WORDS:
                start = x.text.lower().find(term)
                if start >= 0:
                    polarity = "negative" if "not" in x.text.lower()[:start] else "positive"
                    probs = {"negative": 0.1, "neutral": 0.1, "positive": 0.8}
                    found.append(AspectPrediction(term, start, start + len(term), polarity, 0.8, probs))
            out.append(Prediction(text=x.text, id=x.id, aspects=tuple(found), fields=x.fields))
        return out


class FakePipeline:
    """A document model: "bad" -> negative, "good" -> positive, else neutral; a blank text gets an error.

    `calls` records (texts, options) of every call (shared with copies, as the document-only view is one);
    `hold()` makes calls wait until released, to keep a batch in flight; `fail_on` raises ValueError for a text.
    """

    labels = POLARITY3

    def __init__(self, aspects: bool = True) -> None:
        self.aspect_pipeline: Any = FakeAspects() if aspects else None
        self.calls: list[tuple[list[str], dict]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail_on: str | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.release.clear()
        self.entered.clear()
        try:
            yield
        finally:
            self.release.set()

    def __call__(self, inputs: Any, batch_size: int | None = None, **options: Any) -> list[Prediction]:
        examples = as_examples(inputs)
        self.calls.append(([x.text for x in examples], dict(options)))
        self.entered.set()
        assert self.release.wait(HOLD_S), "the held fake pipeline was never released"
        terms = options.pop("aspects", None)
        options.pop("long_texts", None)
        if options:
            raise TypeError(f"unknown option(s): {sorted(options)}")
        if self.fail_on is not None and any(x.text == self.fail_on for x in examples):
            raise ValueError(f"cannot score {self.fail_on!r}")
        out = []
        for x in examples:
            if not x.text.strip():
                out.append(Prediction(text=x.text, id=x.id, error="blank text", fields=x.fields))
                continue
            label = "negative" if "bad" in x.text else "positive" if "good" in x.text else "neutral"
            probs = {name: (0.8 if name == label else 0.1) for name in POLARITY3.names}
            score = {"negative": -0.7, "neutral": 0.0, "positive": 0.7}[label]
            out.append(Prediction(x.text, label, label, score, probs, id=x.id, fields=x.fields))
        if self.aspect_pipeline is not None:
            found = self.aspect_pipeline(examples, aspects=terms)
            out = [replace(p, aspects=a.aspects) if p.error is None else p for p, a in zip(out, found, strict=True)]
        return out


class FakeStore:
    """Records writes; raises when `fail` is set."""

    def __init__(self) -> None:
        self.writes: list[tuple[list[Prediction], str, str | None, str]] = []
        self.fail = False
        self.closed = False

    def write(
        self, predictions: Sequence[Prediction], *, model: str, source: str, aspect_model: str | None = None
    ) -> None:
        if self.fail:
            raise RuntimeError("database is locked")
        self.writes.append((list(predictions), model, aspect_model, source))

    def close(self) -> None:
        self.closed = True


Factory = Callable[..., TestClient]


@pytest.fixture
def make_client() -> Iterator[Factory]:
    """make_client(pipeline=None, store=None, **settings) -> a started TestClient (closed after the test)."""
    clients: list[TestClient] = []

    def make(pipeline: Any = None, store: Any = None, **overrides: Any) -> TestClient:
        settings = ServeSettings(**{"model": "fake-doc", "aspect_model": "fake-absa", **overrides})
        app = create_app(settings, pipeline if pipeline is not None else FakePipeline(), store=store)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        wait_ready(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def wait_ready(client: TestClient, timeout_s: float = 10) -> None:
    """Wait until /readyz says 200 (models load in the background)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.01)
    raise AssertionError("the service did not become ready")


@contextmanager
def running_server(app: Any, timeout_s: float = 60) -> Iterator[Any]:
    """A real uvicorn server (DrainingServer) for `app` on a free 127.0.0.1 port, in a thread; yields the server
    (its `base_url` attribute is set) once /readyz answers 200, and stops it afterwards."""
    import socket
    import time
    import urllib.error
    import urllib.request

    import uvicorn

    from sentimentkit.serve.server import DrainingServer

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound here and handed over: no race for the port
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=timeout_s)
    server = DrainingServer(config, app.state.service)
    server.base_url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="test-server")
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(server.base_url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not become ready"
            time.sleep(0.05)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()
