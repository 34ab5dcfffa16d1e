"""The alert outbox in the store, and its sender.

Alerts are written (one row per sink) in the batch transaction that raised them; `Sender` then delivers each sink's
pending rows oldest first. A row is marked sent in its own short transaction right after the sink accepted it, so
the only window for a duplicate is a crash between the webhook's 2xx and that commit: the alert is then sent once
more after the restart, with the same Idempotency-Key (at-least-once, deduplicable by the receiver). While a sink
fails, its head row is retried with exponential backoff and nothing behind it is sent (order is kept); after
`retries` failed attempts or `give_up_after_s` the row goes to the dead-letter file and is marked dead.

Only one process sends per sink: a lease row in `monitor_state` (renewed while sending, taken over when expired),
so the monitors of one consumer group do not deliver the same alert twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..store.schema import alerts, monitor_state, utcnow
from .config import Sinks, WebhookSink
from .metrics import MonitorMetrics
from .rules import AlertEvent, alert_text

log = logging.getLogger(__name__)
alert_log = logging.getLogger("sentimentkit.monitor.alerts")
LEASE_S = 10.0  # a crashed sender blocks delivery at most this long


class DeliveryError(RuntimeError):
    """A sink did not accept an alert (network error or a non-2xx answer)."""


def sink_names(sinks: Sinks) -> list[str]:
    """The sinks that get a row per alert: webhook and log are delivered, store is the row itself (sent at once)."""
    names = (["webhook"] if sinks.webhook else []) + (["log"] if sinks.log else [])
    return names + (["store"] if sinks.store else [])


def add_alerts(conn: Connection, events: Sequence[AlertEvent], sinks: Sinks) -> None:
    """Outbox rows for new alerts (inside the batch transaction); a key already there is not added again."""
    if not events:
        return
    now = utcnow()
    names = sink_names(sinks)
    keys = [e.key for e in events]
    existing = set(
        conn.execute(sa.select(alerts.c.idempotency_key, alerts.c.sink).where(alerts.c.idempotency_key.in_(keys))).all()
    )
    rows = []
    for e in events:
        for sink in names:
            if (e.key, sink) in existing:
                continue
            stored = sink == "store"
            rows.append(
                {
                    "idempotency_key": e.key,
                    "sink": sink,
                    "rule": e.rule,
                    "group_key": e.group_key,
                    "kind": e.kind,
                    "status": "sent" if stored else "pending",
                    "payload": e.payload,
                    "created_at": now,
                    "sent_at": now if stored else None,
                    "attempts": 0,
                    "last_error": None,
                }
            )
    if rows:
        conn.execute(sa.insert(alerts), rows)


def slack_body(row: dict[str, Any]) -> dict[str, Any]:
    """Slack-compatible JSON (`text` and a section block) plus our own fields."""
    event = AlertEvent(row["idempotency_key"], row["rule"], row["group_key"], row["kind"], 0.0, 0.0, row["payload"])
    text = alert_text(event)
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "idempotency_key": row["idempotency_key"],
        "rule": row["rule"],
        "group_key": row["group_key"],
        "kind": row["kind"],
        "alert": row["payload"],
    }


class Sender:
    """Delivers the outbox of one store, per sink, in a background thread (`start`, `notify`, `stop`)."""

    def __init__(self, store: Any, sinks: Sinks, scope: str, owner: str, metrics: MonitorMetrics) -> None:
        self.store, self.sinks, self.scope, self.owner, self.metrics = store, sinks, scope, owner, metrics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        if sinks.webhook is not None:
            import httpx

            self._client = httpx.Client(timeout=sinks.webhook.timeout_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="monitor-sender", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop the thread; with `drain_s`, first give it that long to deliver what is pending."""
        deadline = time.monotonic() + drain_s
        while drain_s and time.monotonic() < deadline and self.pending():
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._client is not None:
            self._client.close()

    def pending(self) -> int:
        names = [n for n in sink_names(self.sinks) if n != "store"]
        if not names:
            return 0
        with self.store.engine.connect() as conn:
            where = alerts.c.sink.in_(names) & (alerts.c.status == "pending")
            return int(conn.execute(sa.select(sa.func.count()).where(where)).scalar_one())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver()
            except Exception:  # the sender must outlive a database hiccup; it tries again on the next wake-up
                log.exception("alert delivery failed; retrying")
                self._stop.wait(1.0)
            self._wake.wait(0.5)
            self._wake.clear()

    def deliver(self) -> int:
        """Deliver every sink's pending rows in order while the sink accepts them; returns how many were sent."""
        sent = 0
        for sink in sink_names(self.sinks):
            if sink == "store" or not self._lease(sink):
                continue
            while not self._stop.is_set():
                row = self._head(sink)
                if row is None:
                    break
                if not self._deliver_row(sink, row):
                    break
                sent += 1
                self._lease(sink)
        return sent

    def _head(self, sink: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as conn:
            where = (alerts.c.sink == sink) & (alerts.c.status == "pending")
            row = conn.execute(sa.select(alerts).where(where).order_by(alerts.c.id).limit(1)).mappings().first()
            return dict(row) if row is not None else None

    def _deliver_row(self, sink: str, row: dict[str, Any]) -> bool:
        """One row to its sink, retried with backoff; True when it is sent or dead, False when stopping."""
        if sink == "log":
            alert_log.warning(json.dumps(slack_body(row), ensure_ascii=False, default=str))
            self._mark(row, "sent")
            return True
        config = self.sinks.webhook
        assert config is not None
        import tenacity

        attempts = 0

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self._post(config, row)
            except DeliveryError as err:
                self.metrics.webhook_failures.inc()
                self._failed(row, str(err))
                raise

        too_old = _older_than(_aware(row["created_at"]), config)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(config.retries + 1) | too_old | (lambda state: self._stop.is_set()),
            wait=tenacity.wait_exponential(multiplier=config.backoff_s, max=config.max_backoff_s),
            retry=tenacity.retry_if_exception_type(DeliveryError),
            sleep=self._stop.wait,
            reraise=True,
        )
        try:
            retrying(attempt)
        except DeliveryError as err:
            if self._stop.is_set():
                return False
            self._dead(row, config, str(err))
            return True
        self._mark(row, "sent")
        return True

    def _post(self, config: WebhookSink, row: dict[str, Any]) -> None:
        import httpx

        headers = {"Idempotency-Key": row["idempotency_key"], "Content-Type": "application/json"}
        body = json.dumps(slack_body(row), ensure_ascii=False, default=str)
        try:
            response = self._client.post(config.url, content=body.encode("utf-8"), headers=headers)
        except httpx.HTTPError as err:
            raise DeliveryError(f"{type(err).__name__}: {err}") from err
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")

    def _mark(self, row: dict[str, Any], status: str, error: str | None = None) -> None:
        """The row's new status, in its own short transaction (the at-least-once window ends here)."""
        with self.store.engine.begin() as conn:
            values: dict[str, Any] = {"status": status, "attempts": alerts.c.attempts + int(status == "sent")}
            if status == "sent":
                values["sent_at"] = utcnow()
            if error is not None:
                values["last_error"] = error
            conn.execute(sa.update(alerts).where(alerts.c.id == row["id"]).values(**values))
        counter = self.metrics.alerts_sent if status == "sent" else self.metrics.alerts_dead
        counter.labels(row["rule"], row["sink"]).inc()

    def _failed(self, row: dict[str, Any], error: str) -> None:
        log.warning("webhook: alert %s not accepted: %s", row["idempotency_key"], error)
        with self.store.engine.begin() as conn:
            update = sa.update(alerts).where(alerts.c.id == row["id"])
            conn.execute(update.values(attempts=alerts.c.attempts + 1, last_error=error[:1000]))

    def _dead(self, row: dict[str, Any], config: WebhookSink, error: str) -> None:
        log.error("webhook: giving up on alert %s after repeated failures: %s", row["idempotency_key"], error)
        record = {"reason": error, "sink": row["sink"], **slack_body(row)}
        with open(config.dead_letter, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._mark(row, "dead", error[:1000])

    def _lease(self, sink: str) -> bool:
        """Hold (or take over an expired) lease on delivering this sink; False while another process holds it."""
        key = f"lease:{sink}"
        now = time.time()
        with locked(self.store) as conn:
            where = (monitor_state.c.scope == self.scope) & (monitor_state.c.key == key)
            current = conn.execute(sa.select(monitor_state.c.state).where(where)).scalar()
            if current and current.get("owner") != self.owner and current.get("until", 0) > now:
                return False
            state = {"owner": self.owner, "until": now + LEASE_S}
            if current is None:
                conn.execute(sa.insert(monitor_state), {"scope": self.scope, "key": key, "state": state})
            else:
                conn.execute(sa.update(monitor_state).where(where).values(state=state, updated_at=utcnow()))
        return True

    def release(self) -> None:
        """Give up this process's leases (at a graceful stop), so another monitor can send at once."""
        with locked(self.store) as conn:
            for sink in sink_names(self.sinks):
                where = (monitor_state.c.scope == self.scope) & (monitor_state.c.key == f"lease:{sink}")
                current = conn.execute(sa.select(monitor_state.c.state).where(where)).scalar()
                if current and current.get("owner") == self.owner:
                    conn.execute(sa.delete(monitor_state).where(where))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _older_than(created: datetime, config: WebhookSink) -> Any:
    """A tenacity stop condition: the alert has waited longer than `give_up_after_s` since it was raised."""

    def stop(state: Any) -> bool:
        return (datetime.now(timezone.utc) - created).total_seconds() >= config.give_up_after_s

    return stop


@contextmanager
def locked(store: Any) -> Iterator[Connection]:
    """A write transaction holding the store's writer lock (BEGIN IMMEDIATE on SQLite, the advisory lock on
    PostgreSQL)."""
    with store.engine.begin() as conn:
        store._lock(conn)
        yield conn
