"""Dynamic batching: rows from concurrent requests share forward passes under a token budget.

One worker thread per model owns every forward pass, so the event loop never blocks on
torch and the model is never entered from two threads at once. Requests wait in a bounded
queue (counted in rows); when it is full, ``submit`` raises ``QueueFullError`` at once, which
the HTTP layer turns into 429 + Retry-After, so memory stays bounded under any load.

Each row's result depends only on its own tokens (right padding plus an attention mask), so
mixing requests in a batch gives the same numbers as running each request alone.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..runtime.batching import length_sorted_batches

Forward = Callable[[list[list[int]]], np.ndarray]  # rows -> (len(rows), ...) results


class QueueFullError(Exception):
    """The queue holds ``max_queue`` rows already; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, queued: int, limit: int):
        super().__init__(f"server busy: {queued} rows queued (limit {limit}); retry after {retry_after}s")
        self.retry_after = retry_after


class BatcherClosedError(Exception):
    """The server is shutting down and takes no new work."""


@dataclass
class _Job:
    rows: list[list[int]] | None  # token ids; None for a call job
    call: Callable[[], object] | None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)

    @property
    def size(self) -> int:  # rows it occupies in the queue
        return len(self.rows) if self.rows is not None else 1

    @property
    def tokens(self) -> int:
        return sum(len(r) for r in self.rows) if self.rows is not None else 0


class DynamicBatcher:
    """Run ``forward`` over rows submitted by many requests.

    ``max_batch_tokens`` bounds rows x longest row per forward; ``max_batch_size`` bounds rows.
    With ``batching=False`` each request runs on its own (the baseline for benchmarks).
    ``on_batch(rows, padded_tokens)`` is called after each forward, for metrics.
    """

    def __init__(self, forward: Forward, *, max_batch_tokens: int = 16384, max_batch_size: int = 64,
                 max_queue: int = 4096, max_wait_ms: float = 2.0, batching: bool = True, name: str = "model",
                 on_batch: Callable[[int, int], None] | None = None):
        self.forward = forward
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.max_wait = max_wait_ms / 1000.0
        self.batching = batching
        self.name = name
        self.on_batch = on_batch
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._queued_rows = 0  # waiting in the deque
        self._running_rows = 0  # taken by the worker, not yet answered
        self._reserved_rows = 0  # promised to requests still tokenizing (see ``reserve``)
        self._arriving = 0  # how many such requests
        self._rows_per_s = 0.0  # smoothed throughput, for Retry-After
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"q3embed-batcher-{name}", daemon=True)
        self._thread.start()

    # -- request side (any thread) -------------------------------------------------------

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def running_rows(self) -> int:
        return self._running_rows

    def submit(self, rows: Sequence[Sequence[int]]) -> concurrent.futures.Future:
        """Queue rows; the future resolves to ``forward``'s results for them, in order."""
        rows = [list(r) for r in rows]
        if not rows:
            f: concurrent.futures.Future = concurrent.futures.Future()
            f.set_result(np.zeros((0,), dtype=np.float32))
            return f
        return self._enqueue(_Job(rows=rows, call=None))

    def submit_call(self, call: Callable[[], object]) -> concurrent.futures.Future:
        """Run ``call()`` on the worker thread between batches (e.g. a whole retrieval)."""
        return self._enqueue(_Job(rows=None, call=call))

    def reserve(self, rows: int) -> "Reservation":
        """Hold room for ``rows`` before the request tokenizes; ``QueueFullError`` at once if there is none.

        Use as ``with batcher.reserve(n) as slot: ...; future = slot.submit(rows)``. The room
        counts against ``max_queue`` from now on, so load is shed before any work is spent on
        it; and while requests hold reservations, the worker knows company is on its way and
        waits (up to ``max_wait_ms``) for it instead of running a batch of one.
        """
        with self._cond:
            self._check_room(rows)
            self._reserved_rows += rows
            self._arriving += 1
        return Reservation(self, rows)

    def _release(self, rows: int) -> None:
        with self._cond:
            self._reserved_rows -= rows
            self._arriving -= 1
            self._cond.notify()

    def _check_room(self, rows: int) -> None:
        if self._closed:
            raise BatcherClosedError(f"{self.name}: shutting down")
        in_system = self._queued_rows + self._running_rows + self._reserved_rows
        if in_system + rows > self.max_queue:
            raise QueueFullError(self._retry_after(in_system), in_system, self.max_queue)

    def _enqueue(self, job: _Job, reserved: int = 0) -> concurrent.futures.Future:
        with self._cond:
            if reserved:  # the room was taken by reserve(): move it from reserved to queued
                self._reserved_rows -= reserved
                self._arriving -= 1
                if job.size > reserved:
                    self._check_room(job.size - reserved)
            else:
                self._check_room(job.size)
            self._jobs.append(job)
            self._queued_rows += job.size
            self._cond.notify()
        return job.future

    def _retry_after(self, backlog: int) -> int:
        if self._rows_per_s <= 0:
            return 1
        return int(min(60, max(1, math.ceil(backlog / self._rows_per_s))))

    def close(self, timeout: float | None = None) -> None:
        """Finish every queued job, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- worker side ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            start = time.perf_counter()
            rows = sum(j.size for j in jobs)
            try:
                self._run(jobs)
            finally:
                with self._cond:
                    self._running_rows -= rows
            elapsed = max(time.perf_counter() - start, 1e-6)
            rate = rows / elapsed
            self._rows_per_s = rate if self._rows_per_s == 0 else 0.8 * self._rows_per_s + 0.2 * rate

    def _take(self) -> list[_Job] | None:
        """Block for the next job; with batching on, gather more jobs that fit the budget."""
        with self._cond:
            while not self._jobs:
                if self._closed:
                    return None
                self._cond.wait()
            if self.batching and self.max_wait > 0:
                # Wait briefly for requests that are still tokenizing, if any, to join this batch.
                deadline = time.monotonic() + self.max_wait
                while (self._arriving and (left := deadline - time.monotonic()) > 0 and not self._closed
                       and self._fits_more()):
                    self._cond.wait(left)
            jobs = [self._jobs.popleft()]
            if jobs[0].rows is not None and self.batching:
                rows, tokens = jobs[0].size, jobs[0].tokens
                while self._jobs and self._jobs[0].rows is not None:
                    nxt = self._jobs[0]
                    if rows + nxt.size > self.max_batch_size or tokens + nxt.tokens > self.max_batch_tokens:
                        break
                    jobs.append(self._jobs.popleft())
                    rows, tokens = rows + nxt.size, tokens + nxt.tokens
            taken = sum(j.size for j in jobs)
            self._queued_rows -= taken
            self._running_rows += taken
            return jobs

    def _fits_more(self) -> bool:
        """True while the queued row jobs fill less than one batch."""
        rows = tokens = 0
        for job in self._jobs:
            if job.rows is None:
                return False
            rows, tokens = rows + job.size, tokens + job.tokens
        return rows < self.max_batch_size and tokens < self.max_batch_tokens

    def _run(self, jobs: list[_Job]) -> None:
        live = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # drop cancelled requests
        if not live:
            return
        if live[0].rows is None:
            job = live[0]
            try:
                job.future.set_result(job.call())
            except BaseException as e:  # noqa: BLE001 - handed to the waiting request
                job.future.set_exception(e)
            return
        # Flatten every request's rows; owner[k] = (job index, row index) of flat row k.
        flat = [row for job in live for row in job.rows]
        owner = [(j, r) for j, job in enumerate(live) for r in range(job.size)]
        results: list[np.ndarray | None] = [None] * len(flat)
        try:
            for batch in length_sorted_batches(flat, self.max_batch_size, self.max_batch_tokens):
                out = self.forward([flat[k] for k in batch])  # (len(batch), ...)
                for k, value in zip(batch, out):
                    results[k] = value
                if self.on_batch is not None:
                    self.on_batch(len(batch), len(batch) * max(len(flat[k]) for k in batch))
        except BaseException as e:  # noqa: BLE001 - every waiting request gets the error
            for job in live:
                job.future.set_exception(e)
            return
        per_job: list[list] = [[] for _ in live]
        for (j, _), value in zip(owner, results):
            per_job[j].append(value)
        for job, values in zip(live, per_job):
            job.future.set_result(np.stack(values))


class Reservation:
    """Room held in a batcher for one request; see ``DynamicBatcher.reserve``."""

    def __init__(self, batcher: DynamicBatcher, rows: int):
        self.batcher = batcher
        self.rows = rows
        self._open = True

    def submit(self, rows: Sequence[Sequence[int]]) -> concurrent.futures.Future:
        """Queue the request's token rows in the room held for them."""
        if not self._open:
            raise RuntimeError("this reservation was already used")
        self._open = False
        return self.batcher._enqueue(_Job(rows=[list(r) for r in rows], call=None), reserved=self.rows)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc) -> None:
        if self._open:  # the request failed before submitting (e.g. a 400): give the room back
            self._open = False
            self.batcher._release(self.rows)
