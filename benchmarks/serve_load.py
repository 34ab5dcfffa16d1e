"""Load on the REST service against offline scoring of the same texts, in one run.

    python benchmarks/serve_load.py [--texts 640] [--clients 1 8 32] [--no-aspects] [--burst 256]

The texts are SST-5 test sentences. Offline: `sentimentkit.load(...)` in this process scores them in batches of
32 (after a warm-up): the throughput a user gets from `analyze` on a file. Service: `sentimentkit serve` in a
fresh process on a local port, with the same models; C concurrent clients each send one text per request (what an
application calling the service does), so the service's micro-batcher must coalesce them. For each C: texts/s,
p50 and p99 request latency, and the ratio to offline throughput. Then an overload burst against a second server
started with a small queue: every request must get 200, 429 or 503 (with Retry-After), none a timeout or 5xx.
Clients and servers share the machine's cores, so the ratio is a lower bound on what a separate client would see.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, aspects: bool, extra: list[str]) -> subprocess.Popen:
    """`sentimentkit serve` on 127.0.0.1:port, waited for until /readyz answers 200 (at most 120 s)."""
    import httpx

    command = [sys.executable, "-m", "sentimentkit.cli", "serve", "--port", str(port), "--log-level", "warning"]
    command += [] if aspects else ["--no-aspects"]
    env = {**os.environ, "SENTIMENTKIT_API_KEYS": ""}
    server = subprocess.Popen([*command, *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    server.terminate()
    raise SystemExit("the server was not ready within 120 s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


async def drive(url: str, texts: list[str], clients: int, per_request: int, timeout: float) -> dict:
    """`clients` workers send the texts, `per_request` at a time; latencies in ms and statuses per request."""
    import httpx

    chunks = [texts[i : i + per_request] for i in range(0, len(texts), per_request)]
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    retry_after = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            nonlocal retry_after
            while True:
                try:
                    chunk = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                try:
                    response = await client.post("/v1/analyze", json={"texts": chunk})
                    statuses[str(response.status_code)] += 1
                    retry_after += "retry-after" in response.headers and response.status_code in (429, 503)
                except httpx.TimeoutException:
                    statuses["timeout"] += 1
                except httpx.HTTPError as err:
                    statuses[type(err).__name__] += 1
                latencies.append((time.perf_counter() - start) * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    ok = statuses.get("200", 0) * per_request
    return {"texts_per_s": ok / elapsed, "latencies": latencies, "statuses": dict(statuses), "retry_after": retry_after}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=640)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--no-aspects", action="store_true", help="document model only (service and offline)")
    parser.add_argument("--burst", type=int, default=256, help="concurrent requests of the overload burst")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    aspects = not args.no_aspects

    import sentimentkit
    from sentimentkit.data.datasets import load_dataset

    texts = [x.text for x in load_dataset("sst5", "test", args.data_dir)][: args.texts]
    port = free_port()
    server = start_server(port, aspects, [])
    try:
        pipeline = sentimentkit.load("sentiment-en", aspects="absa-en" if aspects else None)
        pipeline(texts[:64])  # warm-up
        start = time.perf_counter()
        pipeline(texts, batch_size=32)
        offline = len(texts) / (time.perf_counter() - start)
        del pipeline
        print(f"offline: {offline:.1f} texts/s")
        url = f"http://127.0.0.1:{port}"
        asyncio.run(drive(url, texts[:32], 4, 1, 120))  # warm the server
        runs = {}
        for clients in args.clients:
            runs[clients] = asyncio.run(drive(url, texts, clients, 1, 120))
            r = runs[clients]
            print(
                f"{clients:>3} clients: {r['texts_per_s']:.1f} texts/s ({r['texts_per_s'] / offline:.2f} of offline), "
                f"p50 {percentile(r['latencies'], 0.5):.0f} ms, p99 {percentile(r['latencies'], 0.99):.0f} ms, "
                f"statuses {r['statuses']}"
            )
    finally:
        stop(server)

    port = free_port()
    small = start_server(port, aspects, ["--max-queue", "64", "--max-texts", "8", "--request-timeout", "20"])
    try:
        burst_texts = (texts * (1 + 8 * args.burst // len(texts)))[: 8 * args.burst]
        burst = asyncio.run(drive(f"http://127.0.0.1:{port}", burst_texts, args.burst, 8, 60))
    finally:
        stop(small)
    print(f"overload burst ({args.burst} concurrent requests of 8 texts, queue of 64 texts): {burst['statuses']}")

    models = "sentiment-en + absa-en" if aspects else "sentiment-en"
    rows = []
    for clients, r in runs.items():
        rows.append(
            {
                "suite": "serve",
                "task": "rest-load",
                "dataset": "sst5",
                "split": "test",
                "model": models,
                "backbone": "all-MiniLM-L6-v2",
                "metrics": {
                    "samples_per_s": summary([r["texts_per_s"]]),
                    "offline_samples_per_s": summary([offline]),
                    "fraction_of_offline": summary([r["texts_per_s"] / offline]),
                    "latency_ms_p50": summary([percentile(r["latencies"], 0.5)]),
                    "latency_ms_p99": summary([percentile(r["latencies"], 0.99)]),
                },
                "settings": {
                    "clients": clients,
                    "texts": len(texts),
                    "texts_per_request": 1,
                    "statuses": r["statuses"],
                    "server": "sentimentkit serve (defaults: 5 ms window, batches of up to 64 texts)",
                },
                "command": command_line(),
                "env": environment(),
            }
        )
    rows.append(
        {
            "suite": "serve",
            "task": "rest-overload",
            "dataset": "sst5",
            "split": "test",
            "model": models,
            "backbone": "all-MiniLM-L6-v2",
            "metrics": {
                "ok_fraction": summary([burst["statuses"].get("200", 0) / args.burst]),
                "rejected_fraction": summary(
                    [(burst["statuses"].get("429", 0) + burst["statuses"].get("503", 0)) / args.burst]
                ),
                "timeouts": summary([float(burst["statuses"].get("timeout", 0))]),
                "latency_ms_p99": summary([percentile(burst["latencies"], 0.99)]),
            },
            "settings": {
                "concurrent_requests": args.burst,
                "texts_per_request": 8,
                "max_queue": 64,
                "statuses": burst["statuses"],
                "rejections_with_retry_after": burst["retry_after"],
            },
            "command": command_line(),
            "env": environment(),
        }
    )
    print(write_rows("serve", rows))


if __name__ == "__main__":
    main()
