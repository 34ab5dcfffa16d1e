"""The stream monitor end to end against offline scoring of the same texts, in one run.

    python benchmarks/monitor_load.py [--messages 2000] [--aspects] [--rate 50] [--latency-messages 500]

The texts are SST-5 test sentences (repeated to --messages, each with its own id). Offline: the same pipeline in
this process scores them in batches of 32 after a warm-up (what `sentimentkit analyze` does on a file). Monitor:
the same loaded pipeline inside a `Monitor` (same process, same torch threads) reading a Redis stream through a
consumer group with two alert rules, writing a SQLite store, committing results + rule state + alerts per batch,
then acknowledging. Throughput: the messages are XADDed first, then the monitor drains the backlog; messages/s
from its start until the last commit, and the ratio to offline (target >= 0.70). Latency: a producer XADDs at a
constant rate (default: half the measured throughput, at most 100/s) and each message's time from XADD to its
committed result is recorded; p50 and p99. Redis: --redis URL, else a throwaway redis-server on a free port.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment

RULES = [
    {"name": "confident-negative", "when": {"polarity": "negative", "confidence_above": 0.9}, "cooldown_minutes": 1},
    {
        "name": "negative-share",
        "when": {"polarity": "negative"},
        "group_by": ["product"],
        "window": {"messages": 50},
        "share_at_least": 0.6,
        "min_count": 20,
    },
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    import redis

    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server not found: install Redis 7 or pass --redis URL")
    port = free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    server = subprocess.Popen([*command, "--save", "", "--appendonly", "yes"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return server, f"redis://127.0.0.1:{port}/0"
        except redis.RedisError:
            time.sleep(0.1)
    raise SystemExit("redis-server did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_monitor(url: str, stream: str, db: str, model: str, aspects: bool, batch: int, pipeline):
    from sentimentkit.monitor.config import parse_config
    from sentimentkit.monitor.runner import Monitor

    raw = {
        "source": {"redis": {"url": url, "stream": stream, "group": "bench", "batch_size": batch, "block_ms": 100}},
        "model": {"name": model, "aspects": aspects},
        "store": {"url": db},
        "rules": RULES,
        "sinks": {"store": True},
    }
    return Monitor(parse_config(raw, "benchmark"), pipeline=pipeline, drain_s=0)


def offline_rate(pipeline, texts: list[str]) -> float:
    """Texts/s of the pipeline on all the texts at once, in batches of 32 (what `analyze` does on a file)."""
    start = time.perf_counter()
    pipeline(texts, batch_size=32)
    return len(texts) / (time.perf_counter() - start)


def scored(monitor) -> float:
    return monitor.metrics.messages.labels("scored")._value.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-messages", type=int, default=500)
    parser.add_argument("--rate", type=float, default=None, help="messages/s of the latency run")
    parser.add_argument("--aspects", action="store_true", help="also find aspects (absa-en), offline and monitor")
    parser.add_argument("--model", default="sentiment-en")
    parser.add_argument("--batch-size", type=int, default=128, help="the monitor's micro-batch (messages per read)")
    parser.add_argument("--redis", default=None, help="Redis URL (default: a throwaway redis-server)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

    import redis
    import torch

    import sentimentkit
    from sentimentkit.data.datasets import load_dataset

    sentences = [x.text for x in load_dataset("sst5", "test", args.data_dir)]
    texts = [sentences[i % len(sentences)] for i in range(args.messages)]
    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    server = None
    url = args.redis
    if url is None:
        (tmp / "redis").mkdir()
        server, url = start_redis(tmp / "redis")
    client = redis.Redis.from_url(url)
    try:
        pipeline = sentimentkit.load(args.model, aspects="absa-en" if args.aspects else None)
        pipeline(texts[:64])  # warm-up
        offline_runs = [offline_rate(pipeline, texts)]

        # throughput: drain a backlog
        stream = f"bench-{os.getpid()}"
        pipe = client.pipeline(transaction=False)
        for i, text in enumerate(texts):
            pipe.xadd(stream, {"id": f"t{i}", "text": text, "product": f"P{i % 5}"})
        pipe.execute()
        db = f"sqlite:///{tmp / 'throughput.db'}"
        monitor = make_monitor(url, stream, db, args.model, args.aspects, args.batch_size, pipeline)
        runner = threading.Thread(target=monitor.run)
        start = time.perf_counter()
        runner.start()
        while scored(monitor) < len(texts) and runner.is_alive():
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        monitor.stop()
        runner.join()
        monitor.store.close()
        throughput = scored(monitor) / elapsed
        offline_runs.append(offline_rate(pipeline, texts))  # before and after: a busy machine drifts
        offline = sum(offline_runs) / 2
        print(f"offline: {offline:.1f} texts/s (runs {offline_runs[0]:.1f}, {offline_runs[1]:.1f}; {len(texts)} texts)")
        print(f"monitor: {throughput:.1f} messages/s end to end ({throughput / offline:.2f} of offline)")

        # latency: a constant rate
        rate = args.rate or min(100.0, throughput / 2)
        stream = f"bench-latency-{os.getpid()}"
        db = f"sqlite:///{tmp / 'latency.db'}"
        monitor = make_monitor(url, stream, db, args.model, args.aspects, args.batch_size, pipeline)
        sent: dict[str, float] = {}
        committed: dict[str, float] = {}
        process = monitor.process

        def timed(messages):  # the commit time of each message: when its batch's process() returned
            ok = process(messages)
            now = time.time()
            for m in messages:
                committed.setdefault(m.id, now)
            return ok

        monitor.process = timed
        runner = threading.Thread(target=monitor.run)
        runner.start()
        n = args.latency_messages
        start = time.perf_counter()
        for i in range(n):
            target = start + i / rate
            time.sleep(max(0.0, target - time.perf_counter()))
            sent[f"l{i}"] = time.time()
            client.xadd(stream, {"id": f"l{i}", "text": texts[i % len(texts)], "product": f"P{i % 5}"})
        deadline = time.time() + 120
        while len(committed) < n and time.time() < deadline:
            time.sleep(0.05)
        monitor.stop()
        runner.join()
        monitor.store.close()
        latencies = [(committed[k] - sent[k]) * 1000 for k in sent if k in committed]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"latency at {rate:.0f} messages/s: p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(latencies)}/{n} committed)")
    finally:
        client.close()
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    model = f"{args.model} + absa-en" if args.aspects else args.model
    common = {"suite": "monitor", "dataset": "sst5", "split": "test", "model": model, "backbone": "all-MiniLM-L6-v2"}
    settings = {"messages": len(texts), "batch_size": args.batch_size, "aspects": args.aspects, "rules": len(RULES)}
    settings |= {"store": "sqlite", "torch_threads": torch.get_num_threads(), "offline_runs": 2}
    rows = [
        common
        | {
            "task": "stream-throughput",
            "metrics": {
                "samples_per_s": summary([throughput]),
                "offline_samples_per_s": summary(offline_runs),
                "fraction_of_offline": summary([throughput / offline]),
            },
            "settings": settings,
            "command": command_line(),
            "env": environment(),
        },
        common
        | {
            "task": "stream-latency",
            "metrics": {"latency_ms_p50": summary([p50]), "latency_ms_p99": summary([p99])},
            "settings": settings | {"messages": n, "rate_per_s": round(rate, 1), "committed": len(latencies)},
            "command": command_line(),
            "env": environment(),
        },
    ]
    print(write_rows("monitor", rows))


if __name__ == "__main__":
    main()
