"""The monitor loop: read a batch, score it, commit results + rule state + new alerts in ONE store transaction,
then dead-letter the malformed messages and acknowledge the batch.

Why that order survives `kill -9`: a batch whose transaction did not commit is redelivered (Redis: still pending
under this consumer, read again first on restart, or claimed by another consumer; a file: its offset was not
committed) and processed as if for the first time. A batch that committed but was not acknowledged is redelivered
too, but its messages are in the store already: they are neither written again nor fed to the rules again (the
rule state committed with them has counted them). Alerts leave through the outbox (see `outbox`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy import Connection

from ..store.schema import documents, monitor_state, utcnow
from ..types import Prediction, TextExample
from .config import MonitorConfig, RedisSource
from .metrics import MonitorMetrics
from .outbox import Sender, add_alerts
from .rules import AlertEvent, Event, RuleState
from .sources import JsonlSource, Message, RedisStreamSource, StdinSource

log = logging.getLogger(__name__)
IN_CHUNK = 500


def load_pipeline(config: MonitorConfig) -> Any:
    """The document model (with the aspect model attached when configured), on one shared backbone."""
    from ..inference.pipeline import Pipeline

    m = config.model
    return Pipeline.load(m.name, aspects=m.aspect_model if m.aspects else None, batch_size=m.batch_size)


class Monitor:
    """One monitor process. `run()` loops until stopped (SIGTERM/SIGINT, `stop()`) or a file/stdin source ends,
    finishing the batch in hand first; it returns the exit status (0)."""

    def __init__(
        self,
        config: MonitorConfig,
        pipeline: Any | None = None,
        store: Any | None = None,
        stdin: BinaryIO | None = None,
        drain_s: float = 5.0,
    ) -> None:
        from ..store import Store

        self.config = config
        self.stop_event = threading.Event()
        self.metrics = MonitorMetrics()
        self.store = store if store is not None else Store(config.store_url)
        self.pipeline = pipeline if pipeline is not None else load_pipeline(config)
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.drain_s = drain_s
        self.metrics_port: int | None = None
        source = config.source
        if isinstance(source, RedisSource):
            self.source: Any = RedisStreamSource(source, config.max_text_chars, self.stop_event)
        elif source.path is not None:
            offset = int((self._read_state("offset") or {}).get("offset", 0))
            self.source = JsonlSource(source, config.max_text_chars, self.stop_event, offset)
        else:
            self.source = StdinSource(source, config.max_text_chars, self.stop_event, stdin)
        self.sender = Sender(self.store, config.sinks, config.scope, self.owner, self.metrics)
        self._fingerprints = {r.name: _fingerprint(r) for r in config.rules}

    # --- the loop ------------------------------------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        self.stop_event.set()

    def run(self) -> int:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        if self.config.metrics is not None:
            self.metrics_port = self.metrics.serve(self.config.metrics.host, self.config.metrics.port)
            log.info("metrics on http://%s:%d/metrics", self.config.metrics.host, self.metrics_port)
        self.sender.start()
        size = self.config.source.batch_size
        next_lag = 0.0
        try:
            while not self.stop_event.is_set():
                try:
                    messages = self.source.read(size)
                except Exception:
                    if self.stop_event.is_set():
                        break
                    raise
                if messages:
                    if not self.process(messages):
                        break
                elif self.source.exhausted:
                    break
                if time.monotonic() >= next_lag:
                    self._update_lag()
                    next_lag = time.monotonic() + 1.0
        finally:
            self._update_lag()
            self.sender.stop(drain_s=self.drain_s)
            try:
                self.sender.release()
            except Exception as err:  # the store may be the thing that failed; the lease expires by itself
                log.warning("could not release the sender lease: %s", err)
            self.source.close()
            self.metrics.close()
        return 0

    def process(self, messages: Sequence[Message]) -> bool:
        """Score, commit, dead-letter and acknowledge one batch; False when stopped before it could commit."""
        from ..store import StoreError

        start = time.perf_counter()
        good: dict[str, Message] = {}
        for m in messages:
            if m.error is None:
                good.pop(m.id, None)
                good[m.id] = m  # an id given twice in a batch: the last one counts, as in the store
        bad = [m for m in messages if m.error is not None]
        predictions = self._score(good, bad)
        outcome: dict[str, Any] = {}
        delay = 0.5
        while True:
            try:
                self._commit(list(good.values()), predictions, self.source.checkpoint(list(messages)), outcome)
                break
            except StoreError as err:
                log.error("committing a batch of %d messages failed: %s; retrying in %.1f s", len(messages), err, delay)
                if self.stop_event.wait(delay):
                    return False
                delay = min(delay * 2, 10.0)
        self.source.dead_letter(bad)
        self.source.ack(list(messages))
        m = self.metrics
        m.messages.labels("malformed").inc(len(bad))
        m.messages.labels("replayed").inc(outcome["replayed"])
        m.messages.labels("failed").inc(outcome["failed"])
        m.messages.labels("scored").inc(outcome["scored"])
        for alert in outcome["alerts"]:
            m.alerts_raised.labels(alert.rule, alert.kind).inc()
        m.batch_seconds.observe(time.perf_counter() - start)
        for message in bad:
            log.warning("malformed message %s (%s): %s", message.id, message.ref, message.error)
        if outcome["alerts"]:
            self.sender.notify()
        return True

    def _score(self, good: dict[str, Message], bad: list[Message]) -> list[Prediction]:
        """Predictions for the good messages, in order. When the model fails on the batch, each message is scored
        alone and the ones it fails on move to `bad` (dead-lettered with the error), so one poison message cannot
        stop the stream."""
        examples = [TextExample(text=m.text, id=m.id, fields=tuple(m.fields.items())) for m in good.values()]
        if not examples:
            return []
        try:
            return list(self.pipeline(examples))
        except Exception as err:
            log.warning(
                "scoring a batch of %d failed (%s: %s); scoring one by one", len(examples), type(err).__name__, err
            )
        predictions = []
        for example in examples:
            try:
                predictions.extend(self.pipeline([example]))
            except Exception as err:
                m = good.pop(str(example.id))
                bad.append(replace(m, error=f"scoring failed: {type(err).__name__}: {err}"[:1000], raw=m.raw))
        return predictions

    def _commit(
        self,
        messages: list[Message],
        predictions: list[Prediction],
        checkpoint: dict[str, Any] | None,
        outcome: dict[str, Any],
    ) -> None:
        def in_transaction(conn: Connection) -> None:
            stored = _existing(conn, [p.id for p in predictions if p.id is not None])
            fresh = [(m, p) for m, p in zip(messages, predictions, strict=True) if m.id not in stored]
            events = [Event(m.id, m.time, p, m.fields) for m, p in fresh if p.error is None]
            raised: list[AlertEvent] = []
            states = self._load_states(conn)
            for rule in self.config.rules:
                state = RuleState(rule, states.get(rule.name))
                raised.extend(state.feed(events))
                self._save(conn, f"rule:{rule.name}", state.to_json() | {"fingerprint": self._fingerprints[rule.name]})
            add_alerts(conn, raised, self.config.sinks)
            if checkpoint is not None:
                self._save(conn, "offset", checkpoint)
            outcome.update(
                replayed=len(predictions) - len(fresh),
                failed=sum(p.error is not None for _, p in fresh),
                scored=sum(p.error is None for _, p in fresh),
                alerts=raised,
            )

        m = self.config.model
        self.store.write(
            predictions,
            model=m.name,
            aspect_model=m.aspect_model if m.aspects else None,
            source=self.config.source_name,
            product_field=self.config.product_field,
            in_transaction=in_transaction,
        )

    # --- state rows --------------------------------------------------------------------------------------------

    def _load_states(self, conn: Connection) -> dict[str, dict[str, Any]]:
        keys = [f"rule:{r.name}" for r in self.config.rules]
        if not keys:
            return {}
        where = (monitor_state.c.scope == self.config.scope) & monitor_state.c.key.in_(keys)
        out = {}
        for key, state in conn.execute(sa.select(monitor_state.c.key, monitor_state.c.state).where(where)):
            name = key.removeprefix("rule:")
            if state.get("fingerprint") == self._fingerprints.get(name):
                out[name] = state  # a rule whose definition changed starts afresh
        return out

    def _save(self, conn: Connection, key: str, state: dict[str, Any]) -> None:
        where = (monitor_state.c.scope == self.config.scope) & (monitor_state.c.key == key)
        updated = conn.execute(sa.update(monitor_state).where(where).values(state=state, updated_at=utcnow()))
        if updated.rowcount == 0:
            row = {"scope": self.config.scope, "key": key, "state": state, "updated_at": utcnow()}
            conn.execute(sa.insert(monitor_state), row)

    def _read_state(self, key: str) -> dict[str, Any] | None:
        where = (monitor_state.c.scope == self.config.scope) & (monitor_state.c.key == key)
        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(monitor_state.c.state).where(where)).scalar()

    def _update_lag(self) -> None:
        lag, pending = self.source.lag()
        if lag is not None:
            self.metrics.lag.set(lag)
        if pending is not None:
            self.metrics.pending.set(pending)
        self.metrics.reconnects.set(getattr(self.source, "reconnects", 0))


def _existing(conn: Connection, ids: list[str]) -> set[str]:
    """The ids among these that the store holds already (a redelivered batch that was committed before)."""
    found: set[str] = set()
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        found.update(conn.execute(sa.select(documents.c.id).where(documents.c.id.in_(chunk))).scalars())
    return found


def _fingerprint(rule: Any) -> str:
    return hashlib.sha256(repr(rule).encode("utf-8")).hexdigest()[:16]
