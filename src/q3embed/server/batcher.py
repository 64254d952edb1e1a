"""Dynamic batching: rows from concurrent requests share forward passes under a token budget.

One worker thread per model owns every forward pass, so the event loop never blocks on
torch and the model is never entered from two threads at once. Requests wait in a bounded
queue (counted in rows); when it is full, ``submit`` raises ``QueueFullError`` at once, which
the HTTP layer turns into 429 + Retry-After, so memory stays bounded under any load.

Every forward pass is one budgeted batch, counted by the model's own rule
(``runtime.batching.batch_cost``: the sum of tokens for packed models, rows x longest for
padded ones). The worker fills a batch with rows from the oldest requests first and may take
part of a big request (a 1,000-document rerank) now and the rest in later passes, so one
batch's cost never passes the budget. Rows are taken round-robin over the waiting requests, so a
later small request rides in the next pass instead of waiting for a whole big request. A cancelled request's rows that have not run yet are dropped.

Each row's result depends only on its own tokens, so mixing requests in a batch gives the
same numbers as running each request alone.
"""

from __future__ import annotations

import concurrent.futures
import copy
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..runtime.batching import batch_cost

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
    order: list[int] = field(default_factory=list)  # row numbers, longest first: the order they are taken in
    taken: int = 0  # how many of ``order`` a batch has taken
    results: list = field(default_factory=list)
    left: int = 0  # rows without a result yet

    def __post_init__(self) -> None:
        if self.rows is not None:
            self.order = sorted(range(len(self.rows)), key=lambda r: -len(self.rows[r]))
            self.results = [None] * len(self.rows)
            self.left = len(self.rows)

    @property
    def size(self) -> int:  # rows it occupies in the queue
        return len(self.rows) if self.rows is not None else 1

    @property
    def waiting(self) -> int:  # rows not taken by a batch yet
        return len(self.order) - self.taken if self.rows is not None else 1


class DynamicBatcher:
    """Run ``forward`` over rows submitted by many requests.

    ``max_batch_tokens`` bounds each forward's cost under the model's rule (``packed``: the sum
    of tokens; otherwise rows x longest row); ``max_batch_size`` bounds rows. With
    ``batching=False`` each request runs on its own (the baseline for benchmarks).
    ``on_batch(rows, cost)`` is called after each forward, for metrics.
    """

    def __init__(self, forward: Forward, *, max_batch_tokens: int = 16384, max_batch_size: int = 64,
                 max_queue: int = 4096, max_wait_ms: float = 2.0, batching: bool = True, name: str = "model",
                 on_batch: Callable[[int, int], None] | None = None, packed: bool = False):
        self.forward = forward
        self.packed = packed
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
        rows = _own_rows(rows)
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
        job.future.add_done_callback(self._on_job_done)
        return job.future

    # -- cancellation hook: a client that leaves cancels its request's future, so its rows stop costing work --

    def _on_job_done(self, future: concurrent.futures.Future) -> None:
        """A cancelled request's rows leave the queue now, not when the worker next looks at it."""
        if future.cancelled():
            with self._cond:
                self._drop_cancelled()
                self._cond.notify()

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
            batch = self._take()
            if batch is None:
                return
            start = time.perf_counter()
            rows = len(batch) if isinstance(batch, list) else 1
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._running_rows -= rows
            elapsed = max(time.perf_counter() - start, 1e-6)
            rate = rows / elapsed
            self._rows_per_s = rate if self._rows_per_s == 0 else 0.8 * self._rows_per_s + 0.2 * rate

    def _take(self) -> list[tuple[_Job, int]] | _Job | None:
        """Block for work; return one budgeted batch as (job, row number) pairs, or a call job."""
        with self._cond:
            while True:
                self._drop_cancelled()
                if self._jobs:
                    break
                if self._closed:
                    return None
                self._cond.wait()
            if self.batching and self.max_wait > 0:
                # Wait briefly for requests that are still tokenizing, if any, to join this batch.
                deadline = time.monotonic() + self.max_wait
                while (self._arriving and (left := deadline - time.monotonic()) > 0 and not self._closed
                       and self._fits_more()):
                    self._cond.wait(left)
                self._drop_cancelled()
                if not self._jobs:
                    return []
            if self._jobs[0].rows is None:  # a call job runs alone
                job = self._jobs.popleft()
                self._queued_rows -= 1
                self._running_rows += 1
                return job
            # Take rows round-robin over the waiting requests (oldest first), so a small request
            # joins the next pass even behind a big one; stop where the budget is full.
            active = []
            for job in self._jobs if self.batching else [self._jobs[0]]:
                if job.rows is None:
                    break
                active.append(job)
            batch: list[tuple[_Job, int]] = []
            tokens = longest = 0
            full = False
            while not full and any(job.waiting for job in active):
                for job in active:
                    if not job.waiting:
                        continue
                    r = job.order[job.taken]
                    n = len(job.rows[r])
                    if batch and (len(batch) >= self.max_batch_size or batch_cost(
                            len(batch) + 1, tokens + n, max(longest, n), self.packed) > self.max_batch_tokens):
                        full = True
                        break
                    batch.append((job, r))
                    job.taken += 1
                    tokens, longest = tokens + n, max(longest, n)
            self._jobs = deque(j for j in self._jobs if j.rows is None or j.waiting)  # fully taken: answered later
            self._queued_rows -= len(batch)
            self._running_rows += len(batch)
            return batch

    def _drop_cancelled(self) -> None:
        """Forget the untaken rows of requests already answered: cancelled (the client went away) or failed.

        Rows a batch has already taken are skipped by ``_run`` (it checks each request's future).
        Called with ``self._cond`` held.
        """
        if not any(j.future.done() for j in self._jobs):
            return
        kept = deque()
        for job in self._jobs:
            if job.future.done():
                self._queued_rows -= job.waiting
            else:
                kept.append(job)
        self._jobs = kept

    def _fits_more(self) -> bool:
        """True while the queued rows fill less than one batch."""
        rows = tokens = longest = 0
        for job in self._jobs:
            if job.rows is None:
                return False
            for r in job.order[job.taken:]:
                n = len(job.rows[r])
                rows, tokens, longest = rows + 1, tokens + n, max(longest, n)
                if rows >= self.max_batch_size or batch_cost(rows, tokens, longest, self.packed) >= self.max_batch_tokens:
                    return False
        return True

    def _run(self, batch: list[tuple[_Job, int]] | _Job) -> None:
        if isinstance(batch, _Job):
            job = batch
            if not job.future.set_running_or_notify_cancel():
                return
            try:
                job.future.set_result(job.call())
            except BaseException as e:  # noqa: BLE001 - handed to the waiting request
                job.future.set_exception(e)
            return
        live = [(job, r) for job, r in batch if not job.future.done()]  # skip cancelled or failed requests
        if not live:
            return
        rows = [job.rows[r] for job, r in live]
        try:
            out = self.forward(rows)  # (len(rows), ...)
        except BaseException as e:  # noqa: BLE001 - every request in the batch gets the error
            for job in {id(j): j for j, _ in live}.values():
                _settle(job.future, exc=e)
            return
        if self.on_batch is not None:
            lengths = [len(r) for r in rows]
            self.on_batch(len(rows), batch_cost(len(rows), sum(lengths), max(lengths), self.packed))
        for (job, r), value in zip(live, out):
            job.results[r] = value
            job.left -= 1
            if job.left == 0:
                _settle(job.future, result=np.stack(job.results))


def _settle(future: concurrent.futures.Future, result=None, exc: BaseException | None = None) -> None:
    """Answer a request unless it is already answered or cancelled."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


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
        return self.batcher._enqueue(_Job(rows=_own_rows(rows), call=None), reserved=self.rows)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc) -> None:
        if self._open:  # the request failed before submitting (e.g. a 400): give the room back
            self._open = False
            self.batcher._release(self.rows)


def _own_rows(rows: Sequence[Sequence[int]]) -> list[list[int]]:
    """The batcher's own copies of the rows; a list subclass keeps its type and attributes (a Qwen3-VL
    ``VLRow`` carries its images, runtime/vl_prompt.py)."""
    return [copy.copy(r) if isinstance(r, list) else list(r) for r in rows]
