"""`Service`: the state of one running app (settings, metrics, the loaded engine, the batcher, draining) and its
life cycle: start (load the models in the background), score (through the batcher, turning overload, shutdown
and store failures into 429/503 with Retry-After), drain and stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request

from ..types import Prediction, TextExample
from .batcher import Draining, MicroBatcher, Overloaded
from .engine import Engine, Options, StoreWriteError, load_pipeline, open_store
from .metrics import ServiceMetrics
from .settings import ServeSettings

log = logging.getLogger("sentimentkit.serve")

DRAIN_TIMEOUT_S = 30.0


class Service:
    """The state of one running app: settings, metrics, the engine once loaded, the batcher, draining."""

    def __init__(
        self,
        settings: ServeSettings,
        pipeline: Any | None = None,
        loader: Callable[[ServeSettings], Any] | None = None,
        store: Any | None = None,
    ) -> None:
        self.settings, self.metrics = settings, ServiceMetrics()
        self._pipeline, self._loader, self._store = pipeline, loader or load_pipeline, store
        self.engine: Engine | None = None
        self.load_error: str | None = None
        self.draining = False
        self.batcher = MicroBatcher(
            self._run,
            window_s=settings.batch_window_ms / 1000,
            max_batch=settings.max_batch,
            max_queue=settings.max_queue,
            retry_after_s=settings.retry_after_s,
            on_batch=self.metrics.observe_batch,
        )
        self.metrics.track_queue(lambda: self.batcher.depth)
        self._loading: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_load_error: Callable[[], None] | None = None  # the CLI stops the server: a failed load is fatal

    @property
    def ready(self) -> bool:
        return self.engine is not None and not self.draining

    # --- life cycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the batcher and load the models in the background (the server answers meanwhile). A pipeline
        given ready-made (tests) with nothing else to open is ready when start-up ends."""
        self._loop = asyncio.get_running_loop()
        self.batcher.start()
        if self._pipeline is not None and (self._store is not None or self.settings.store_url is None):
            self.engine = self._engine(self._pipeline, self._store)
            return
        self._loading = self._loop.create_task(self._load(), name="sentimentkit-load")

    def _engine(self, pipeline: Any, store: Any | None) -> Engine:
        return Engine(pipeline, self.settings, store, on_store_error=self.metrics.store_failures.inc)

    async def _load(self) -> None:
        settings = self.settings

        def load() -> Engine:
            pipeline = self._pipeline if self._pipeline is not None else self._loader(settings)
            store = self._store
            if store is None and settings.store_url is not None:
                store = open_store(settings.store_url)
            return self._engine(pipeline, store)

        try:
            engine = await asyncio.to_thread(load)
        except Exception as err:
            self.load_error = f"{type(err).__name__}: {err}"
            log.exception("loading the models failed; the server stays unready")
            if self.on_load_error is not None:
                self.on_load_error()
            return
        self.engine = engine
        log.info("ready: model %s, aspect model %s", engine.model_name, engine.aspect_model_name)

    def begin_drain(self) -> None:
        """Stop taking work: /readyz and new requests answer 503; accepted requests still complete."""
        if self.batcher.running:
            log.info("draining: finishing %d queued texts, taking no new requests", self.batcher.depth)
        self.draining = True
        self.batcher.close()

    def request_drain(self) -> None:
        """`begin_drain` from a signal handler or another thread (it runs on the event loop)."""
        self.draining = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.begin_drain)

    async def stop(self) -> None:
        """Drain (wait for every accepted request), then release the models and the store."""
        self.begin_drain()
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        await self.batcher.drain(DRAIN_TIMEOUT_S)
        if self.engine is not None:
            await asyncio.to_thread(self.engine.close)

    # --- scoring -------------------------------------------------------------------------------------------

    def _run(self, examples: list[TextExample], options: Options) -> list[Prediction]:
        assert self.engine is not None
        return self.engine.run(examples, options)

    def require_engine(self) -> Engine:
        """The engine, or 503 with Retry-After while loading, after a failed load and while draining."""
        if self.engine is None or self.draining:
            why = "shutting down" if self.draining else "loading its models" if self.load_error is None else "unready"
            raise _unavailable(f"the server is {why}; try again", self.settings.retry_after_s)
        return self.engine

    async def score(self, examples: list[TextExample], options: Options) -> list[Prediction]:
        """Predictions for `examples` through the batcher; overload, shutdown and store failures become 429/503."""
        try:
            return await asyncio.wait_for(self.batcher.submit(examples, options), self.settings.request_timeout_s)
        except Draining as err:
            raise _unavailable(str(err), err.retry_after) from None
        except Overloaded as err:
            raise HTTPException(429, str(err), headers={"Retry-After": str(err.retry_after)}) from None
        except asyncio.TimeoutError:
            message = f"no answer within {self.settings.request_timeout_s:g} s; the server is busy, try again"
            raise _unavailable(message, self.batcher.retry_after()) from None
        except StoreWriteError as err:
            raise _unavailable(str(err), self.settings.retry_after_s) from None
        except (ValueError, TypeError) as err:
            raise HTTPException(422, str(err)) from None


def _unavailable(message: str, retry_after: int) -> HTTPException:
    return HTTPException(503, message, headers={"Retry-After": str(retry_after)})


def service_of(request: Request) -> Service:
    return request.app.state.service
