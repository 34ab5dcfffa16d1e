"""Fuzz the REST service through its OpenAPI schema: 10,000+ generated requests, no 5xx, no hang.

    python benchmarks/serve_fuzz.py [--requests 10000] [--timeout 30]

A fresh `sentimentkit serve` (the shipped sentiment-en + absa-en, so the models see the odd texts too) runs on a
local port with tight limits (4 texts per request, 300 characters per text) so that each request costs little.
Schemathesis draws requests for every operation of /openapi.json, valid ones (positive mode) and invalid ones
(negative mode: wrong types, missing fields, odd strings), in equal shares, until the budget is spent. Then a fixed
set of hand-made bad requests (malformed JSON, wrong types, a huge body, invalid UTF-8, empty lists, a text too
long, too many texts) must each get a 4xx with a message. A request that gets no answer within --timeout counts as
a hang. The row goes to results/serve.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections import Counter

from common import command_line, summary, write_rows
from serve_load import free_port, start_server, stop

from sentimentkit.training.experiment import environment

MAX_TEXTS, MAX_CHARS = 4, 300


def bad_requests() -> list[tuple[str, bytes, dict]]:
    """(what, body, headers) of requests that must each get a 4xx with a message."""
    as_json = {"content-type": "application/json"}
    return [
        ("malformed JSON", b'{"texts": ["a", }', as_json),
        ("not an object", b'["a", "b"]', as_json),
        ("texts is a string", json.dumps({"texts": "a review"}).encode(), as_json),
        ("a text is a number", json.dumps({"texts": [3]}).encode(), as_json),
        ("empty list", json.dumps({"texts": []}).encode(), as_json),
        ("empty items", json.dumps({"items": []}).encode(), as_json),
        ("unknown field", json.dumps({"texts": ["a"], "colour": "red"}).encode(), as_json),
        ("invalid UTF-8", b'{"texts": ["\xff\xfe bad"]}', as_json),
        ("huge body", json.dumps({"texts": ["x" * 1000] * 20_000}).encode(), as_json),
        ("text too long", json.dumps({"texts": ["word " * MAX_CHARS]}).encode(), as_json),
        ("too many texts", json.dumps({"texts": ["a"] * (MAX_TEXTS + 1)}).encode(), as_json),
        ("wrong content type", b"texts=a", {"content-type": "application/x-www-form-urlencoded"}),
        ("empty body", b"", as_json),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    import httpx
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    limits = ["--max-texts", str(MAX_TEXTS), "--max-chars", str(MAX_CHARS), "--max-body-bytes", "1000000"]
    server = start_server(port, True, limits)
    statuses: Counter[str] = Counter()
    server_errors: list[str] = []
    start = time.perf_counter()
    try:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [op.ok() for op in schema.get_all_operations()]
        per_strategy = -(-args.requests // (2 * len(operations)))  # ceil

        def record(case: object, mode: str) -> None:
            try:
                response = case.call(base_url=url, timeout=args.timeout)
            except Exception as err:  # a hang (timeout) or a dropped connection: both count against the service
                statuses[f"{type(err).__name__}"] += 1
                server_errors.append(f"{case.method} {case.path} ({mode}): {type(err).__name__}")
                return
            statuses[str(response.status_code)] += 1
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.path} ({mode}) -> {response.status_code}")

        def fuzz(strategy: object, mode: str) -> None:
            @hypothesis_settings(
                max_examples=per_strategy,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(strategy)
            def run(case: object) -> None:
                record(case, mode)

            with contextlib.suppress(Unsatisfiable):  # e.g. no invalid request exists without parameters
                run()

        # Every operation once; then rounds over the operations that take input until the budget is spent
        # (an operation without parameters runs out of distinct requests after a few).
        rounds = [operations]
        with_input = [op for op in operations if op.method.upper() == "POST"]
        while True:
            for operation in rounds.pop(0):
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    fuzz(operation.as_strategy(generation_mode=mode), mode.value)
                print(f"{operation.label}: {sum(statuses.values())} requests so far, statuses {dict(statuses)}")
            left = args.requests - sum(statuses.values())
            if left <= 0 or not with_input:
                break
            per_strategy = max(10, -(-left // (2 * len(with_input))))
            rounds.append(with_input)
        generated = sum(statuses.values())
        elapsed = time.perf_counter() - start

        handmade = {}
        for what, body, headers in bad_requests():
            try:
                response = httpx.post(f"{url}/v1/analyze", content=body, headers=headers, timeout=args.timeout)
                message = (
                    response.json().get("detail")
                    if response.headers.get("content-type", "").startswith("application/json")
                    else response.text
                )
                handmade[what] = {"status": response.status_code, "message": bool(message)}
            except httpx.HTTPError as err:
                handmade[what] = {"status": type(err).__name__, "message": False}
    finally:
        stop(server)

    bad_handmade = [w for w, r in handmade.items() if not (isinstance(r["status"], int) and 400 <= r["status"] < 500
                                                           and r["message"])]  # fmt: skip
    print(f"{generated} generated requests in {elapsed:.0f} s: statuses {dict(statuses)}")
    print(f"5xx or no answer: {len(server_errors)}" + (f", e.g. {server_errors[:5]}" if server_errors else ""))
    print(f"hand-made bad requests: {json.dumps(handmade)}; not a 4xx with a message: {bad_handmade or 'none'}")
    hangs = sum(v for k, v in statuses.items() if not k.isdigit())
    row = {
        "suite": "serve",
        "task": "rest-fuzz",
        "dataset": "generated from /openapi.json",
        "split": "-",
        "model": "sentiment-en + absa-en",
        "backbone": "all-MiniLM-L6-v2",
        "metrics": {
            "requests": summary([float(generated)]),
            "server_errors": summary([float(sum(v for k, v in statuses.items() if k.isdigit() and int(k) >= 500))]),
            "hangs": summary([float(hangs)]),
            "handmade_not_4xx_with_message": summary([float(len(bad_handmade))]),
        },
        "settings": {
            "statuses": dict(statuses),
            "handmade": handmade,
            "max_texts": MAX_TEXTS,
            "max_chars": MAX_CHARS,
            "timeout_s": args.timeout,
            "seconds": round(elapsed),
        },
        "command": command_line(),
        "env": environment(),
    }
    print(write_rows("serve", [row]))


if __name__ == "__main__":
    main()
