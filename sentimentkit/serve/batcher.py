"""`MicroBatcher`: coalesces concurrent requests into batches for one inference thread, with a bounded queue.

Requests put (items, options) into a queue and await a future. One asyncio worker takes the oldest request, waits
up to the batch window for more requests with equal options (up to `max_batch` items), runs them as one call in a
single inference thread (off the event loop, so the server keeps answering health checks and rejecting overload),
splits the results back and resolves each request's future. The queue is bounded in items: a request that would
overflow it is refused at once (`QueueFull`, answered 429 with Retry-After), so overload never builds a backlog.
`close()` stops taking work (`Draining`, answered 503) and `drain()` finishes what was accepted.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

RETRY_AFTER_CAP_S = 60


class Overloaded(Exception):
    """The batcher cannot take a request now; `retry_after` (whole seconds) says when to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(Overloaded):
    """The queue holds `max_queue` items already (HTTP 429)."""


class Draining(Overloaded):
    """The batcher is shutting down or not started (HTTP 503)."""


@dataclass(eq=False)
class _Job:
    items: Sequence[Any]
    options: Hashable
    future: asyncio.Future[list[Any]]
    enqueued: float
    queued: bool = field(default=True)


RunBatch = Callable[[list[Any], Any], Sequence[Any]]


class MicroBatcher:
    """Dynamic micro-batching over one inference thread.

    run(items, options) -> one result per item, in order; it is called in the inference thread with the items
    of several requests whose options are equal. isolate: exception types that one request's items can cause
    (bad input): a coalesced batch failing with one is rerun request by request, so only that request fails.
    on_batch(items, seconds) is called after each run (for metrics).
    """

    def __init__(
        self,
        run: RunBatch,
        *,
        window_s: float = 0.005,
        max_batch: int = 64,
        max_queue: int = 2048,
        retry_after_s: int = 1,
        isolate: tuple[type[Exception], ...] = (ValueError, TypeError),
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._run, self.window_s, self.max_batch, self.max_queue = run, window_s, max_batch, max_queue
        self.retry_after_s, self._isolate, self._on_batch = retry_after_s, isolate, on_batch
        self._jobs: deque[_Job] = deque()
        self._queued = 0  # items waiting (not yet taken into a batch)
        self._in_flight = 0  # items being run now
        self._seconds_per_item = 0.0  # moving average, for Retry-After
        self._closing = False
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    # --- state ---------------------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Items waiting in the queue (not counting the batch running now)."""
        return self._queued

    @property
    def in_flight(self) -> int:
        """Items of the batch the model is running now."""
        return self._in_flight

    @property
    def running(self) -> bool:
        """Started and taking work."""
        return self._worker is not None and not self._closing

    def retry_after(self) -> int:
        """Whole seconds until the queue has likely drained (at least `retry_after_s`)."""
        estimate = math.ceil((self._queued + self._in_flight) * self._seconds_per_item)
        return max(self.retry_after_s, min(estimate, RETRY_AFTER_CAP_S))

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker on the running event loop (and the inference thread)."""
        if self._worker is not None:
            return
        self._closing = False
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentimentkit-inference")
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="sentimentkit-batcher")

    def close(self) -> None:
        """Stop taking work: new requests get `Draining`; accepted ones still run. Call on the event loop."""
        self._closing = True
        if self._arrived is not None:
            self._arrived.set()

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Close, then wait (up to `timeout_s`) until every accepted request has its answer; stop the thread."""
        self.close()
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
            except asyncio.TimeoutError:
                log.warning("shutdown: %d queued items not scored after %.0f s; failing them", self._queued, timeout_s)
                self._worker.cancel()
                for job in self._jobs:
                    _fail(job, Draining("the server shut down before this request was scored", self.retry_after_s))
                self._jobs.clear()
                self._queued = 0
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._worker = self._executor = None

    # --- requests ------------------------------------------------------------------------------------------

    async def submit(self, items: Sequence[Any], options: Hashable) -> list[Any]:
        """Queue `items` with `options` and wait for their results (one per item, in order).

        Raises QueueFull when the queue cannot hold them, Draining when the batcher is not taking work, and
        whatever `run` raised for these items. Cancelling the caller drops the request from the queue.
        """
        if not self.running or self._arrived is None:
            raise Draining("the server is not taking requests (starting or shutting down)", self.retry_after())
        if self._queued + len(items) > self.max_queue:
            raise QueueFull(
                f"the queue is full ({self._queued} texts waiting, limit {self.max_queue})", self.retry_after()
            )
        loop = asyncio.get_running_loop()
        job = _Job(list(items), options, loop.create_future(), loop.time())
        job.future.add_done_callback(lambda _: self._forget(job))
        self._jobs.append(job)
        self._queued += len(job.items)
        self._arrived.set()
        return await job.future

    def _forget(self, job: _Job) -> None:
        """A request answered or cancelled while still queued leaves the queue (a client gone, a timeout)."""
        if job.queued:
            job.queued = False
            self._queued -= len(job.items)
            self._jobs.remove(job)

    # --- worker --------------------------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._jobs:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            first = self._jobs[0]
            deadline = first.enqueued + self.window_s
            # wait for more requests like the first, unless the batch is full, the window is over or we drain
            while first.queued and not self._closing and self._count(first.options) < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            if not first.queued:  # it was cancelled while we waited: start again from the oldest request
                continue
            batch = self._take(first.options)
            if not batch:
                await asyncio.sleep(0)  # only cancelled requests were waiting: let their callbacks run
                continue
            try:
                await self._run_batch(batch, first.options)
            except asyncio.CancelledError:
                for job in batch:
                    _fail(job, Draining("the server shut down while scoring this request", self.retry_after_s))
                raise
            except Exception as err:  # the worker must outlive any one batch
                log.exception("batch of %d requests failed", len(batch))
                for job in batch:
                    _fail(job, err)

    def _count(self, options: Hashable) -> int:
        return sum(len(job.items) for job in self._jobs if job.options == options)

    def _take(self, options: Hashable) -> list[_Job]:
        """The oldest queued requests with `options`, up to `max_batch` items (the first one always)."""
        batch: list[_Job] = []
        total = 0
        for job in list(self._jobs):
            if job.future.done():  # cancelled (client gone, timeout) before its done-callback ran
                self._forget(job)
                continue
            if job.options != options:
                continue
            if batch and total + len(job.items) > self.max_batch:
                break
            batch.append(job)
            total += len(job.items)
        for job in batch:
            self._forget(job)
        return batch

    async def _run_batch(self, batch: list[_Job], options: Hashable) -> None:
        items = [item for job in batch for item in job.items]
        loop = asyncio.get_running_loop()
        self._in_flight = len(items)
        started = loop.time()
        try:
            results = await loop.run_in_executor(self._executor, self._checked_run, items, options)
        except self._isolate as err:
            if len(batch) == 1:
                _fail(batch[0], err)
                return
            for job in batch:  # rerun one by one: only the request that caused the error gets it
                await self._run_batch([job], options)
            return
        finally:
            self._in_flight = 0
        elapsed = loop.time() - started
        self._seconds_per_item = 0.8 * self._seconds_per_item + 0.2 * elapsed / len(items)
        if self._on_batch is not None:
            self._on_batch(len(items), elapsed)
        start = 0
        for job in batch:
            part = list(results[start : start + len(job.items)])
            start += len(job.items)
            if not job.future.done():
                job.future.set_result(part)

    def _checked_run(self, items: list[Any], options: Any) -> Sequence[Any]:
        results = self._run(items, options)
        if len(results) != len(items):
            raise RuntimeError(f"the model returned {len(results)} results for {len(items)} inputs")
        return results


def _fail(job: _Job, err: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(err)
