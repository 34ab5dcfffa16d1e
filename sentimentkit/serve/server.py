"""`DrainingServer`: uvicorn's server, telling the service it is draining the moment a shutdown signal arrives.

uvicorn itself, on SIGTERM or Ctrl-C, stops accepting connections, waits (up to `timeout_graceful_shutdown`)
for in-flight requests and then runs the app's lifespan shutdown, which drains the batcher. Marking the service
draining first makes /readyz answer 503 at once, so a load balancer stops sending before the port closes, and
makes requests arriving on open keep-alive connections get 503 with Retry-After instead of being cut off.
"""

from __future__ import annotations

from types import FrameType
from typing import Any

import uvicorn


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose shutdown signal first calls `service.request_drain()`."""

    def __init__(self, config: uvicorn.Config, service: Any) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.service.request_drain()
        super().handle_exit(sig, frame)

    def stop(self) -> None:
        """Shut down as after a signal (used when the models fail to load)."""
        self.service.request_drain()
        self.should_exit = True
