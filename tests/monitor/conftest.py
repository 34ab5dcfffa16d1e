"""Monitor fixtures: a real Redis ($SENTIMENTKIT_TEST_REDIS, a fresh stream per test), a real HTTP webhook receiver
in a thread, SQLite in tmp_path (and PostgreSQL with $SENTIMENTKIT_TEST_POSTGRES), and helpers to run a monitor in
a thread or as a subprocess."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("redis", reason="needs the stream extra")
pytest.importorskip("sqlalchemy", reason="needs the store extra")

from ..store.conftest import POSTGRES_ENV, FakePipeline, _postgres_database

REDIS_ENV = "SENTIMENTKIT_TEST_REDIS"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"needs Redis: set {REDIS_ENV} (e.g. `bash .ci/redis.sh start .redis-test 56400` prints one)")
    return url


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def stream(redis_client) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    redis_client.delete(name, f"{name}:dead")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path) -> Iterator[str]:
    """A SQLite file URL, or a fresh PostgreSQL database when $SENTIMENTKIT_TEST_POSTGRES is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"PostgreSQL case: set {POSTGRES_ENV}")
    yield from _postgres_database(server)


@pytest.fixture
def sqlite_db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


# --- the webhook receiver ----------------------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint: records (Idempotency-Key, body) of every request it accepts; `down` makes it answer 503
    (recorded in `refused`)."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, dict]] = []
        self.refused = 0
        self.down = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    if receiver.down:
                        receiver.refused += 1
                        self.send_response(503)
                    else:
                        receiver.accepted.append((self.headers.get("Idempotency-Key", ""), json.loads(body)))
                        self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def keys(self) -> list[str]:
        with self.lock:
            return [k for k, _ in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# --- configs and runs --------------------------------------------------------------------------------------------


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def redis_config(url: str, stream: str, db: str, webhook: str | None = None, **extra: Any) -> dict:
    config: dict[str, Any] = {
        "source": {"redis": {"url": url, "stream": stream, "group": "g", "block_ms": 200, "batch_size": 50}},
        "model": {"name": "fake-model"},
        "store": {"url": db},
        "rules": [],
        "sinks": {"store": True},
    }
    if webhook is not None:
        config["sinks"]["webhook"] = {"url": webhook, "backoff_s": 0.05, "max_backoff_s": 0.2, "retries": 1000}
    config.update(extra)
    return config


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Threaded:
    """A Monitor running in a thread with the keyword FakePipeline."""

    def __init__(self, config: dict, tmp_path: Path, pipeline: Any = None, **kwargs: Any) -> None:
        from sentimentkit.monitor.config import parse_config
        from sentimentkit.monitor.runner import Monitor

        parsed = parse_config(config, str(tmp_path / "monitor.yaml"))
        self.monitor = Monitor(parsed, pipeline=pipeline or FakePipeline(), **kwargs)
        self.status: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.status = self.monitor.run()

    def stop(self) -> int | None:
        self.monitor.stop()
        self.thread.join(timeout=60)
        self.monitor.store.close()
        return self.status


def count(db: str, sql: str) -> Any:
    from sentimentkit.store import Store

    with Store(db, migrate=False) as store:
        return store.query(sql)[1]


_SPAWNED: list[subprocess.Popen] = []


def spawn(config_path: Path, log: Path) -> subprocess.Popen:
    """`python -m sentimentkit.cli monitor CONFIG` in a new process (its output to `log`); killed after the test if
    it is still running."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "sentimentkit.cli", "monitor", str(config_path), "--log-level", "warning"],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    _SPAWNED.append(process)
    return process


@pytest.fixture(autouse=True)
def _no_leftover_monitors() -> Iterator[None]:
    """A failing test must not leave its monitor subprocesses running."""
    yield
    while _SPAWNED:
        process = _SPAWNED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def terminate(process: subprocess.Popen, timeout: float = 60) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server (append-only file in `directory`) that a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), 20, "redis-server to answer")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)  # a graceful shutdown flushes the append-only file
            self.process.wait(timeout=20)
            self.process = None


def _pings(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis(tmp_path, redis_url) -> Iterator[RedisServer]:
    """A redis-server of this test's own (the shared one must not be restarted); needs the redis-server binary."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server binary")
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()
