"""Prometheus metrics of one monitor process, in a registry of its own (several monitors can live in one test
process). Messages per second is `rate(sentimentkit_monitor_messages_total[1m])` in Prometheus."""

from __future__ import annotations

from typing import Any


class MonitorMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "sentimentkit_monitor_messages",
            "Messages by outcome: scored, failed (stored with an error), malformed (dead-lettered), replayed "
            "(already stored: a redelivery after a crash).",
            ["outcome"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "sentimentkit_monitor_batch_seconds",
            "Seconds from reading a batch to its commit and acknowledgement.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.lag = Gauge("sentimentkit_monitor_consumer_lag", "Entries not yet delivered to the group.", registry=r)
        self.pending = Gauge("sentimentkit_monitor_consumer_pending", "Delivered but not acknowledged.", registry=r)
        self.alerts_raised = Counter(
            "sentimentkit_monitor_alerts_raised", "Alerts raised or resolved by rules.", ["rule", "kind"], registry=r
        )
        self.alerts_sent = Counter(
            "sentimentkit_monitor_alerts_sent", "Alerts delivered.", ["rule", "sink"], registry=r
        )
        self.alerts_dead = Counter(
            "sentimentkit_monitor_alerts_dead", "Alerts given up on (dead-lettered).", ["rule", "sink"], registry=r
        )
        self.webhook_failures = Counter(
            "sentimentkit_monitor_webhook_failures", "Failed webhook attempts (errors and non-2xx).", registry=r
        )
        self.reconnects = Gauge("sentimentkit_monitor_source_reconnects", "Source reconnection attempts.", registry=r)
        for outcome in ("scored", "failed", "malformed", "replayed"):
            self.messages.labels(outcome)
        self._server: Any = None

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics on host:port (0: a free port); returns the port."""
        from prometheus_client import start_http_server

        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
