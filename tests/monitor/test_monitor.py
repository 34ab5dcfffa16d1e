"""The monitor in a thread against a real Redis and a real webhook receiver (the keyword FakePipeline scores):
stored once, alerts through the outbox, malformed messages dead-lettered, the webhook down and back, metrics,
JSON Lines follow + restart, stdin."""

from __future__ import annotations

import io
import json
import urllib.request

from .conftest import Threaded, count, redis_config, wait_for

NEG_RULE = {
    "name": "neg-burst",
    "when": {"polarity": "negative"},
    "group_by": ["product"],
    "window": {"messages": 5},
    "count_at_least": 3,
}


def add(client, stream, n, start=0, text="The screen is bad.", **fields):
    pipe = client.pipeline()
    for i in range(start, start + n):
        pipe.xadd(stream, {"id": f"m{i}", "text": text, "product": "P1", **fields})
    pipe.execute()


def stored(db):
    return count(db, "SELECT count(*) FROM documents")[0][0]


def test_messages_are_stored_once_and_alerts_delivered(any_db, redis_client, redis_url, stream, receiver, tmp_path):
    config = redis_config(redis_url, stream, any_db, receiver.url, rules=[NEG_RULE], metrics={"port": 0})
    add(redis_client, stream, 10)
    add(redis_client, stream, 5, start=10, text="Great camera, good battery.")
    add(redis_client, stream, 5, start=15)
    run = Threaded(config, tmp_path)
    try:
        wait_for(lambda: stored(any_db) == 20, what="20 stored messages")
        # P1: 10 negatives raise once; 5 positives clear the last-5 window (resolved); 5 negatives raise again
        wait_for(lambda: len(receiver.accepted) == 3, what="3 alerts delivered")
        page = urllib.request.urlopen(f"http://127.0.0.1:{run.monitor.metrics_port}/metrics").read().decode()
    finally:
        assert run.stop() == 0
    kinds = [body["kind"] for _, body in receiver.accepted]
    assert kinds == ["raised", "resolved", "raised"]
    assert len(set(receiver.keys)) == 3
    body = receiver.accepted[0][1]
    assert body["text"].startswith("ALERT [neg-burst] product=P1") and body["blocks"][0]["type"] == "section"
    rows = count(any_db, "SELECT sink, status, kind FROM alerts ORDER BY id")
    assert sorted(rows) == sorted([("webhook", "sent", k) for k in kinds] + [("store", "sent", k) for k in kinds])
    assert count(any_db, "SELECT DISTINCT source, product_id FROM documents") == [(f"monitor:{stream}", "P1")]
    assert redis_client.xpending(stream, "g")["pending"] == 0
    assert 'sentimentkit_monitor_messages_total{outcome="scored"} 20.0' in page
    assert 'sentimentkit_monitor_alerts_raised_total{kind="raised",rule="neg-burst"} 2.0' in page
    assert "sentimentkit_monitor_consumer_lag" in page and "sentimentkit_monitor_consumer_pending" in page


def test_malformed_messages_are_dead_lettered_and_counted(sqlite_db, redis_client, redis_url, stream, tmp_path):
    config = redis_config(redis_url, stream, sqlite_db, max_text_chars=1000)
    redis_client.xadd(stream, {"id": "ok1", "text": "fine"})
    redis_client.xadd(stream, {"id": "notext", "product": "P1"})
    redis_client.xadd(stream, {"id": "blank", "text": "   "})
    redis_client.xadd(stream, {"id": "latin1", "text": "caf\xe9".encode("latin-1")})
    redis_client.xadd(stream, {"id": "huge", "text": "x" * 1001})
    redis_client.xadd(stream, {"data": "{not json"})
    redis_client.xadd(stream, {"data": json.dumps({"id": "j1", "text": "a JSON payload", "product": "P2"})})
    redis_client.xadd(stream, {"id": "ok2", "text": "also fine"})
    run = Threaded(config, tmp_path)
    try:
        wait_for(lambda: stored(sqlite_db) == 3, what="the 3 good messages")
        wait_for(lambda: redis_client.xlen(f"{stream}:dead") == 5, what="5 dead letters")
    finally:
        assert run.stop() == 0
    dead = {}
    for _, entry in redis_client.xrange(f"{stream}:dead"):
        entry = {k.decode(): v.decode("utf-8", "replace") for k, v in entry.items()}
        dead[entry["reason"].split(" (")[0].split(":")[0]] = entry
    assert set(dead) == {
        "no text field",
        "blank text",
        "not UTF-8",
        "text of 1001 characters is over max_text_chars",
        "bad JSON",
    }
    assert json.loads(dead["no text field"]["payload"]) == {"id": "notext", "product": "P1"}
    assert dead["not UTF-8"]["id"] and dead["bad JSON"]["payload"] == json.dumps({"data": "{not json"})
    metric = run.monitor.metrics.messages.labels("malformed")._value.get()
    assert metric == 5
    assert count(sqlite_db, "SELECT id FROM documents ORDER BY id") == [("j1",), ("ok1",), ("ok2",)]
    assert redis_client.xpending(stream, "g")["pending"] == 0


def test_webhook_down_then_back_delivers_in_order_without_duplicates(
    sqlite_db, redis_client, redis_url, stream, receiver, tmp_path
):
    rule = {"name": "each-negative", "when": {"polarity": "negative"}}
    config = redis_config(redis_url, stream, sqlite_db, receiver.url, rules=[rule])
    receiver.down = True
    add(redis_client, stream, 8)
    run = Threaded(config, tmp_path)
    try:
        wait_for(lambda: stored(sqlite_db) == 8 and receiver.refused >= 3, what="refused deliveries")
        add(redis_client, stream, 4, start=8)
        wait_for(lambda: stored(sqlite_db) == 12, what="12 stored while the webhook is down")
        assert receiver.accepted == []
        receiver.down = False
        wait_for(lambda: len(receiver.accepted) == 12, what="12 alerts after the webhook returned")
    finally:
        assert run.stop() == 0
    ids = [body["alert"]["message_id"] for _, body in receiver.accepted]
    assert ids == [f"m{i}" for i in range(12)]  # in order
    assert len(set(receiver.keys)) == 12
    rows = count(sqlite_db, "SELECT count(*), min(attempts), max(attempts) FROM alerts WHERE sink = 'webhook'")
    assert rows[0][0] == 12 and rows[0][2] > 1


def test_webhook_that_keeps_failing_dead_letters(sqlite_db, redis_client, redis_url, stream, receiver, tmp_path):
    config = redis_config(redis_url, stream, sqlite_db, receiver.url, rules=[{"name": "each", "when": {}}])
    dead = tmp_path / "dead.jsonl"
    config["sinks"]["webhook"] |= {"retries": 2, "dead_letter": str(dead)}
    receiver.down = True
    add(redis_client, stream, 2)
    run = Threaded(config, tmp_path)
    try:
        wait_for(lambda: dead.exists() and len(dead.read_text().splitlines()) == 2, what="2 dead-lettered alerts")
    finally:
        run.stop()
    assert receiver.refused == 6  # 3 attempts each
    assert count(sqlite_db, "SELECT status FROM alerts WHERE sink = 'webhook'") == [("dead",), ("dead",)]
    assert json.loads(dead.read_text().splitlines()[0])["reason"].startswith("HTTP 503")


def test_jsonl_follow_and_restart_resume_from_the_offset(sqlite_db, tmp_path):
    path = tmp_path / "in.jsonl"
    config = {
        "source": {"jsonl": {"path": str(path), "follow": True, "poll_ms": 50}},
        "model": {"name": "fake-model"},
        "store": {"url": sqlite_db},
        "rules": [{"name": "each", "when": {"polarity": "negative"}}],
    }
    lines = [json.dumps({"id": f"l{i}", "text": "bad screen" if i % 2 else "good"}) for i in range(10)]
    path.write_text("\n".join(lines[:4]) + "\n" + lines[4][:10])  # a partial last line
    run = Threaded(config, tmp_path)
    try:
        wait_for(lambda: stored(sqlite_db) == 4, what="4 complete lines")
        with path.open("a") as f:
            f.write(lines[4][10:] + "\n" + lines[5] + "\nnot json\n")
        wait_for(lambda: stored(sqlite_db) == 6, what="the completed line and one more")
    finally:
        run.stop()
    with path.open("a") as f:
        f.write("\n".join(lines[6:]) + "\n")
    again = Threaded(config, tmp_path)
    try:
        wait_for(lambda: stored(sqlite_db) == 10, what="the rest after a restart")
    finally:
        again.stop()
    assert again.monitor.metrics.messages.labels("replayed")._value.get() == 0  # resumed, not re-read
    assert count(sqlite_db, "SELECT count(*) FROM alerts") == [(5,)]
    dead = [json.loads(x) for x in (tmp_path / "in.jsonl.dead.jsonl").read_text().splitlines()]
    assert len(dead) == 1 and dead[0]["reason"].startswith("bad JSON") and dead[0]["payload"] == "not json"


def test_stdin_until_end_of_input(sqlite_db, tmp_path):
    from sentimentkit.monitor.config import parse_config
    from sentimentkit.monitor.runner import Monitor

    from ..store.conftest import FakePipeline

    data = "".join(json.dumps({"id": f"s{i}", "text": "bad" if i < 3 else "fine"}) + "\n" for i in range(7))
    data += "\xff broken\n"
    config = {
        "source": {"stdin": {"dead_letter": str(tmp_path / "dead.jsonl")}},
        "model": {"name": "fake-model"},
        "store": {"url": sqlite_db},
        "rules": [{"name": "burst", "when": {"polarity": "negative"}, "window": {"messages": 3}, "count_at_least": 3}],
    }
    monitor = Monitor(parse_config(config), pipeline=FakePipeline(), stdin=io.BytesIO(data.encode("latin-1")))
    assert monitor.run() == 0
    monitor.store.close()
    assert stored(sqlite_db) == 7
    assert count(sqlite_db, "SELECT kind FROM alerts ORDER BY id") == [("raised",), ("resolved",)]
    assert "not UTF-8" in (tmp_path / "dead.jsonl").read_text()


def test_a_crashed_consumers_pending_messages_are_claimed(sqlite_db, redis_client, redis_url, stream, tmp_path):
    config = redis_config(redis_url, stream, sqlite_db)
    config["source"]["redis"] |= {"claim_idle_ms": 200, "consumer": "survivor"}
    redis_client.xgroup_create(stream, "g", id="0", mkstream=True)
    add(redis_client, stream, 5)
    taken = redis_client.xreadgroup("g", "crashed", {stream: ">"}, count=5)  # read, never acknowledged
    assert len(taken[0][1]) == 5
    add(redis_client, stream, 5, start=5)
    run = Threaded(config, tmp_path)
    try:
        wait_for(lambda: stored(sqlite_db) == 10, what="the crashed consumer's 5 and the 5 new ones")
        wait_for(lambda: redis_client.xpending(stream, "g")["pending"] == 0, what="all acknowledged")
    finally:
        assert run.stop() == 0


def test_a_message_the_model_fails_on_is_dead_lettered(sqlite_db, redis_client, redis_url, stream, tmp_path):
    from ..store.conftest import FakePipeline

    class Poisoned(FakePipeline):
        def __call__(self, inputs, **options):
            if any("POISON" in x.text for x in inputs):
                raise RuntimeError("the model choked")
            return super().__call__(inputs, **options)

    add(redis_client, stream, 3)
    redis_client.xadd(stream, {"id": "p", "text": "POISON pill"})
    add(redis_client, stream, 3, start=3)
    run = Threaded(redis_config(redis_url, stream, sqlite_db), tmp_path, pipeline=Poisoned())
    try:
        wait_for(lambda: stored(sqlite_db) == 6, what="the 6 good messages")
        wait_for(lambda: redis_client.xlen(f"{stream}:dead") == 1, what="the poison message dead-lettered")
    finally:
        assert run.stop() == 0
    ((_, entry),) = redis_client.xrange(f"{stream}:dead")
    assert entry[b"reason"].startswith(b"scoring failed: RuntimeError: the model choked")
    assert b"POISON pill" in entry[b"payload"]
