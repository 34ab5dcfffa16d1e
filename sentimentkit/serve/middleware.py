"""ASGI middleware that acts before a request reaches a route: the body-size limit, the API-key check and the
request metrics. Written against plain ASGI so that they answer before any body is read or parsed (an
unauthenticated or oversized request costs the server nothing) and work with every FastAPI the project allows
(FastAPI's own `max_body_size` is recent and answers in plain text)."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Collection, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import ServiceMetrics

# Everything else needs a key, when keys exist. The API description (docs page, its assets, the schema) holds no
# data and a browser cannot send the key header when it follows a link, so it is open.
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/favicon.ico", "/docs", "/openapi.json"})
OPEN_PREFIXES = ("/static/", "/docs-assets/")


async def _send_json(send: Send, status: int, body: dict, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": data})


class BodyLimitMiddleware:
    """Answers 413 when a request body exceeds `max_bytes`: at once when Content-Length says so, else as soon
    as the bytes read pass the limit (chunked uploads), before anything parses the body. In the second case the
    app sees the client disconnect and whatever it answers to that is dropped (the 413 has gone out)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _message(self, size: int | None) -> dict:
        got = f"{size} bytes" if size is not None else f"more than {self.max_bytes} bytes"
        return {"detail": f"the request body has {got}; the limit is {self.max_bytes} bytes"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await _send_json(send, 413, self._message(length), [(b"connection", b"close")])
            return
        received = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not started:
                    rejected = True
                    await _send_json(send, 413, self._message(None), [(b"connection", b"close")])
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 was sent; the app's answer to the "disconnect" goes nowhere
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except Exception:
            if not rejected:
                raise


class ApiKeyMiddleware:
    """Requires one of `keys` in `X-API-Key: <key>` or `Authorization: Bearer <key>` on every path but the page,
    its static files and the health checks. Keys are compared in constant time against every configured key;
    a failure is 401 `{"detail": "unauthorized"}` with no hint of why, and nothing about keys is logged."""

    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [k.encode("utf-8") for k in keys]

    def _allowed(self, scope: Scope) -> bool:
        given = None
        for name, value in scope.get("headers", ()):
            if name == b"x-api-key":
                given = value.strip()
                break
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        if not given:
            return False
        found = False
        for key in self.keys:  # no early exit: the time taken does not say which key came close
            found |= hmac.compare_digest(key, given)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not self.keys
            or path in OPEN_PATHS
            or path.startswith(OPEN_PREFIXES)
            or self._allowed(scope)
        ):
            await self.app(scope, receive, send)
            return
        await _send_json(send, 401, {"detail": "unauthorized"}, [(b"www-authenticate", b"ApiKey")])


class MetricsMiddleware:
    """Counts every response by route (one of the app's paths, "/static" or "unmatched": fuzzed URLs must not
    grow the label set), method and status, and times it. The service's routes have no path parameters, so a
    route is its path, known before routing (401 and 413 answers never reach the router)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, paths: Collection[str]) -> None:
        self.app, self.metrics, self.paths = app, metrics, frozenset(paths)

    def _route(self, scope: Scope) -> str:
        path = scope.get("path", "")
        if path in self.paths:
            return path
        return "/static" if path.startswith("/static/") else "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route(scope)
        status = 500
        start = time.perf_counter()

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            self.metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
