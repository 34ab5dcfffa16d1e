"""Schemathesis over /openapi.json: a few hundred generated requests, valid and invalid (wrong types, missing
fields, odd strings), against the app with a fake pipeline. None may get a 5xx; every 4xx of the API says why.

The benchmark (`benchmarks/`) runs the same with 10,000+ requests."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis (the dev extra)")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from sentimentkit.serve.app import create_app  # noqa: E402
from sentimentkit.serve.settings import ServeSettings  # noqa: E402

from .conftest import FakePipeline, running_server  # noqa: E402

EXAMPLES = 40  # per operation and mode: about 500 requests over the 7 operations, in well under a minute


SETTINGS = ServeSettings(model="fake-doc", aspect_model="fake-absa", max_texts=50, max_chars=2000)

# The schema is read from an app object (no lifespan, nothing loaded); the requests go over HTTP to a running
# server, started once for the module. (schemathesis' ASGI mode shuts the app's lifespan down after the first
# operation, and its `from_fixture` does not work with pytest 9.)
schema = schemathesis.openapi.from_dict(create_app(SETTINGS, FakePipeline()).openapi())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES)


@pytest.fixture(scope="module")
def server_url():
    with running_server(create_app(SETTINGS, FakePipeline())) as server:
        yield server.base_url


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error(case, server_url):
    response = case.call(base_url=server_url, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
    if 400 <= response.status_code < 500 and case.path.startswith("/v1/"):
        body = response.json()
        assert body.get("detail"), body  # a message, not a bare status
