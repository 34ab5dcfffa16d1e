"""A real uvicorn server on a free 127.0.0.1 port with the shipped models (`sentiment-en` + `absa-en`), and the
`serve` command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from sentimentkit.serve.app import create_app
from sentimentkit.serve.settings import ServeSettings

from .conftest import running_server

REVIEW = "The battery life is great but the screen is dim."
WAIT_S = 60


def _post(url: str, body: dict, timeout: float = WAIT_S) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def real_server():
    settings = ServeSettings(model="sentiment-en", aspect_model="absa-en")
    with running_server(create_app(settings)) as server:
        yield server


def test_analyze_with_the_shipped_models(real_server):
    status, data = _post(real_server.base_url + "/v1/analyze", {"items": [{"id": "r1", "text": REVIEW}]})
    assert status == 200
    assert (data["model"], data["aspect_model"]) == ("sentiment-en", "absa-en")
    p = data["predictions"][0]
    assert p["id"] == "r1" and p["label"] in ("very negative", "negative", "neutral", "positive", "very positive")
    assert -1 <= p["score"] <= 1 and abs(sum(p["probabilities"].values()) - 1) < 1e-3
    found = {(a["aspect"], a["polarity"]) for a in p["aspects"]}
    assert found == {("battery life", "positive"), ("screen", "negative")}
    screen = next(a for a in p["aspects"] if a["aspect"] == "screen")
    assert REVIEW[screen["start"] : screen["end"]] == "screen"


def test_aspects_route_with_given_terms(real_server):
    status, data = _post(real_server.base_url + "/v1/aspects", {"texts": [REVIEW], "aspect_terms": ["screen"]})
    assert status == 200
    [aspect] = data["predictions"][0]["aspects"]
    assert aspect["aspect"] == "screen" and aspect["polarity"] == "negative"


def test_graceful_shutdown_finishes_the_request_in_flight():
    """SIGTERM (handle_exit) while a large request is being scored: it still gets its 200; readyz says draining."""
    settings = ServeSettings(model="sentiment-en", aspect_model=None, max_batch=512)
    app = create_app(settings)
    service = app.state.service
    texts = [f"{REVIEW} Review number {i}." for i in range(256)]
    with running_server(app) as server:
        result: dict = {}
        sender = threading.Thread(
            target=lambda: result.update(answer=_post(server.base_url + "/v1/analyze", {"texts": texts}))
        )
        sender.start()
        deadline = time.monotonic() + WAIT_S
        while service.batcher.in_flight == 0:
            assert time.monotonic() < deadline and sender.is_alive(), "the request never reached the model"
            time.sleep(0.002)
        server.handle_exit(signal.SIGTERM, None)
        assert service.draining
        sender.join(WAIT_S)
        status, data = result["answer"]
        assert status == 200 and len(data["predictions"]) == 256
    assert not service.batcher.running


def test_serve_command_fails_fast_on_a_wrong_model_and_keeps_analyze_light():
    cli = [sys.executable, "-m", "sentimentkit.cli"]
    r = subprocess.run([*cli, "serve", "--model", "no-such-model"], capture_output=True, text=True, timeout=WAIT_S)
    assert r.returncode == 2 and "no-such-model" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [*cli, "serve", "--aspects", "x", "--no-aspects"], capture_output=True, text=True, timeout=WAIT_S
    )
    assert r.returncode == 2 and "--no-aspects" in r.stderr
    code = "import sys, sentimentkit.cli; print(sorted(m for m in ('fastapi', 'uvicorn', 'torch') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT_S)
    assert r.stdout.strip() == "[]"  # mounting `serve` imports none of the web stack


def test_serve_command_runs_answers_with_a_key_and_stops_on_sigterm(tmp_path):
    import socket

    keys = tmp_path / "keys.txt"
    keys.write_text("cli-test-key\n", encoding="utf-8")
    with socket.socket() as probe:  # a free port (released just before the server binds it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "sentimentkit.cli", "serve", "--port", str(port), "--no-aspects",
               "--api-keys-file", str(keys), "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the server did not become ready"
            time.sleep(0.1)
        assert _post(base + "/v1/analyze", {"texts": ["Great."]})[0] == 401
        request = urllib.request.Request(
            base + "/v1/analyze",
            data=json.dumps({"texts": ["Great."]}).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": "cli-test-key"},
        )
        with urllib.request.urlopen(request, timeout=WAIT_S) as r:
            assert json.loads(r.read())["predictions"][0]["aspects"] is None
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "cli-test-key" not in output
