"""Faults the monitor must survive: kill -9 in the middle of 10,000 messages (monitor subprocesses with a tiny
random model), two monitors sharing one consumer group, and Redis restarted mid-stream."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections import Counter

import pytest

from sentimentkit.monitor.config import parse_config
from sentimentkit.monitor.rules import Event, RuleState
from sentimentkit.types import Prediction

from .conftest import Threaded, count, free_port, redis_config, spawn, terminate, wait_for, write_config

N = 10_000
RULES = [
    {  # bursts of "bad" messages per product, in the last 10 messages of that product
        "name": "bad-burst",
        "when": {"fields": {"mood": "bad"}},
        "group_by": ["product"],
        "window": {"messages": 10},
        "count_at_least": 6,
    },
    {"name": "vip", "when": {"fields": {"vip": "yes"}}},  # one alert per VIP message
]


def message(i: int) -> dict:
    return {
        "id": f"m{i:05d}",
        "text": f"message number {i} about the screen",
        "product": f"P{i % 7}",
        "mood": "bad" if (i // 100) % 3 == 0 else "fine",
        "vip": "yes" if i % 997 == 0 else "no",
    }


def fill(client, stream: str, start: int, stop: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(start, stop):
        pipe.xadd(stream, message(i))
    pipe.execute()


def expected_keys(client, stream: str, config: dict) -> set[str]:
    """The alert keys of an uninterrupted run: the same rules fed every message once, in stream order."""
    rules = parse_config(config).rules
    events = []
    for ref, fields in client.xrange(stream):
        fields = {k.decode(): v.decode() for k, v in fields.items()}
        ident = fields.pop("id")
        events.append(Event(ident, int(ref.decode().split("-")[0]) / 1000, Prediction(fields.pop("text")), fields))
    keys = set()
    for rule in rules:
        keys |= {a.key for a in RuleState(rule).feed(events)}
    return keys


def stored(db: str) -> int:
    """Documents stored so far (0 before the monitor has created the database)."""
    from sentimentkit.store import StoreError

    try:
        return count(db, "SELECT count(*) FROM documents")[0][0]
    except StoreError:
        return 0


@pytest.mark.parametrize(
    "kill_at",
    [pytest.param((5000,), id="one-kill"), pytest.param((2500, 6000), marks=pytest.mark.slow, id="two-kills")],
)
def test_kill_9_mid_stream_stores_once_and_alerts_once(
    kill_at, tiny_model_dir, redis_client, redis_url, stream, receiver, tmp_path
):
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    config = redis_config(redis_url, stream, db, receiver.url, rules=RULES)
    config["source"]["redis"] |= {"consumer": "c1", "batch_size": 200}
    config["model"] = {"name": str(tiny_model_dir)}
    path = write_config(tmp_path / "monitor.yaml", config)
    fill(redis_client, stream, 0, N)
    expected = expected_keys(redis_client, stream, config)
    assert len(expected) > 20
    log = tmp_path / "monitor.log"
    kills = 0
    for threshold in kill_at:
        process = spawn(path, log)
        wait_for(lambda t=threshold: stored(db) >= t, 120, f"{threshold} stored ({log})")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        assert stored(db) < N, "the kill should land mid-stream"
    process = spawn(path, log)
    try:
        wait_for(lambda: stored(db) == N, 180, f"all {N} stored ({log})")
        wait_for(lambda: set(receiver.keys) >= expected, 60, "every expected alert delivered")
    finally:
        assert terminate(process) == 0, log.read_text()[-3000:]
    assert count(db, "SELECT count(DISTINCT id), count(*) FROM documents") == [(N, N)]
    assert count(db, "SELECT count(*) FROM document_predictions") == [(N,)]
    assert set(receiver.keys) == expected  # nothing lost, nothing extra
    resent = [k for k, n in Counter(receiver.keys).items() if n > 1]
    assert len(receiver.keys) - len(expected) <= kills and all(Counter(receiver.keys)[k] == 2 for k in resent)
    assert count(db, "SELECT count(DISTINCT idempotency_key) FROM alerts WHERE sink = 'webhook'") == [(len(expected),)]
    assert redis_client.xpending(stream, "g")["pending"] == 0


def scrape(port: int) -> dict[str, float]:
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in page.splitlines():
        if line.startswith("sentimentkit_monitor_messages_total{"):
            name, value = line.rsplit(" ", 1)
            out[name.split('"')[1]] = float(value)
    return out


def test_two_monitors_share_one_group(tiny_model_dir, redis_client, redis_url, stream, tmp_path):
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    ports, processes = [free_port(), free_port()], []
    for n, port in enumerate(ports):
        config = redis_config(redis_url, stream, db, rules=RULES[:1], metrics={"port": port})
        config["source"]["redis"] |= {"consumer": f"c{n}", "batch_size": 20}
        config["model"] = {"name": str(tiny_model_dir)}
        processes.append(spawn(write_config(tmp_path / f"m{n}.yaml", config), tmp_path / f"m{n}.log"))
    total = 2000
    try:
        for port in ports:
            wait_for(lambda p=port: _answers(p), 120, "both monitors to start")
        for start in range(0, total, 100):
            fill(redis_client, stream, start, start + 100)
            time.sleep(0.05)
        wait_for(lambda: stored(db) == total, 120, f"{total} stored")
        wait_for(lambda: sum(scrape(p)["scored"] for p in ports) == total, 30, "both monitors' counts to add up")
        counts = [scrape(p) for p in ports]
    finally:
        for process in processes:
            terminate(process)
    assert all(c["scored"] > 0 for c in counts), counts  # each got some
    assert sum(c["scored"] for c in counts) == total and all(c["replayed"] == 0 for c in counts)  # no duplicates
    assert count(db, "SELECT count(DISTINCT id) FROM documents") == [(total,)]
    assert redis_client.xpending(stream, "g")["pending"] == 0


def _answers(port: int) -> bool:
    try:
        scrape(port)
        return True
    except OSError:
        return False


def test_redis_restarted_mid_stream(private_redis, sqlite_db, tmp_path):
    import redis

    stream = "restart"
    config = redis_config(private_redis.url, stream, sqlite_db)
    client = redis.Redis.from_url(private_redis.url)
    fill(client, stream, 0, 300)
    run = Threaded(config, tmp_path)
    try:
        wait_for(lambda: stored(sqlite_db) == 300, 60, "the first 300")
        client.close()
        private_redis.stop()
        time.sleep(1.0)  # the monitor meets a closed port and backs off
        private_redis.start()
        client = redis.Redis.from_url(private_redis.url)
        fill(client, stream, 300, 600)
        wait_for(lambda: stored(sqlite_db) == 600, 60, "the next 300 after the restart")
        wait_for(lambda: client.xpending(stream, "g")["pending"] == 0, 30, "every message acknowledged")
    finally:
        assert run.stop() == 0
    assert run.monitor.source.reconnects > 0
    assert count(sqlite_db, "SELECT count(DISTINCT id), count(*) FROM documents") == [(600, 600)]
    client.close()


def test_sigterm_finishes_the_batch_and_exits_0(tiny_model_dir, redis_client, redis_url, stream, tmp_path):
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    config = redis_config(redis_url, stream, db)
    config["model"] = {"name": str(tiny_model_dir)}
    fill(redis_client, stream, 0, 3000)
    process = spawn(write_config(tmp_path / "m.yaml", config), tmp_path / "m.log")
    wait_for(lambda: stored(db) > 0, 120, "a first batch")
    assert terminate(process) == 0
    done = stored(db)
    assert redis_client.xpending(stream, "g")["pending"] == 0  # what was read was committed and acknowledged
    assert done == int(redis_client.xinfo_groups(stream)[0]["entries-read"])
    assert os.path.exists(tmp_path / "monitor.db")
