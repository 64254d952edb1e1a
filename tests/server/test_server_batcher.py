"""DynamicBatcher on a fake forward: merging, budgets, the bounded queue, cancellation, draining."""

from __future__ import annotations

import concurrent.futures
import threading

import numpy as np
import pytest

from q3embed.server.batcher import BatcherClosedError, DynamicBatcher, QueueFullError


class RecordingForward:
    """Row -> [sum of ids, length]; records the rows of every forward call. Can hold the first call."""

    def __init__(self, hold_first: bool = False):
        self.calls: list[list[list[int]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, rows):
        self.entered.set()
        assert self.release.wait(10)
        self.calls.append(rows)
        return np.array([[sum(r), len(r)] for r in rows], dtype=np.float32)


def expected(rows):
    return np.array([[sum(r), len(r)] for r in rows], dtype=np.float32)


def make_jobs(n):
    rng = np.random.default_rng(0)
    return [[rng.integers(0, 100, rng.integers(1, 12)).tolist() for _ in range(rng.integers(1, 4))] for _ in range(n)]


def test_concurrent_requests_share_a_forward_and_keep_their_results():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd, max_batch_tokens=10_000, max_batch_size=64, max_wait_ms=0)
    try:
        first = b.submit([[1, 2, 3]])
        assert fwd.entered.wait(10)  # the worker now holds the first job inside forward
        jobs = make_jobs(12)
        futures = [b.submit(rows) for rows in jobs]  # all queue up behind it
        fwd.release.set()
        np.testing.assert_array_equal(first.result(10), expected([[1, 2, 3]]))
        for rows, f in zip(jobs, futures):
            np.testing.assert_array_equal(f.result(10), expected(rows))
        assert len(fwd.calls) == 2  # the 12 queued requests ran as one forward pass
        assert len(fwd.calls[1]) == sum(len(j) for j in jobs)
    finally:
        b.close()


def test_batching_off_runs_each_request_alone():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd, batching=False)
    try:
        b.submit([[1]])
        assert fwd.entered.wait(10)
        jobs = make_jobs(5)
        futures = [b.submit(rows) for rows in jobs]
        fwd.release.set()
        for rows, f in zip(jobs, futures):
            np.testing.assert_array_equal(f.result(10), expected(rows))
        assert [len(c) for c in fwd.calls[1:]] == [len(j) for j in jobs]
    finally:
        b.close()


def test_token_budget_and_batch_size_bound_every_forward():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd, max_batch_tokens=40, max_batch_size=3, max_wait_ms=0)
    try:
        b.submit([[0]])
        assert fwd.entered.wait(10)
        jobs = [[[7] * 10, [7] * 3], [[1] * 8], [[2] * 12, [3] * 2, [4] * 5]]
        futures = [b.submit(rows) for rows in jobs]
        fwd.release.set()
        for rows, f in zip(jobs, futures):
            np.testing.assert_array_equal(f.result(10), expected(rows))
        for rows in fwd.calls:
            assert len(rows) <= 3 and len(rows) * max(map(len, rows)) <= 40
    finally:
        b.close()


def test_full_queue_raises_with_retry_after_and_frees_up_again():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd, max_queue=5)
    try:
        running = b.submit([[1], [2]])
        assert fwd.entered.wait(10)
        waiting = b.submit([[3], [4], [5]])  # 2 running + 3 queued = the limit
        with pytest.raises(QueueFullError) as e:
            b.submit([[6]])
        assert e.value.retry_after >= 1
        with pytest.raises(QueueFullError):
            b.reserve(1)  # the same answer before any work is done for a request
        fwd.release.set()
        running.result(10), waiting.result(10)
        assert b.submit([[6]]).result(10).shape == (1, 2)  # room again
    finally:
        b.close()


def test_cancelled_request_is_skipped():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd, max_wait_ms=0)
    try:
        b.submit([[1]])
        assert fwd.entered.wait(10)
        doomed = b.submit([[9, 9, 9, 9]])
        kept = b.submit([[2, 2]])
        assert doomed.cancel()
        fwd.release.set()
        np.testing.assert_array_equal(kept.result(10), expected([[2, 2]]))
        assert all([9, 9, 9, 9] not in call for call in fwd.calls)
    finally:
        b.close()


def test_forward_error_reaches_every_waiting_request():
    def broken(rows):
        raise RuntimeError("boom")

    b = DynamicBatcher(broken)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            b.submit([[1]]).result(10)
        assert b.submit_call(lambda: 42).result(10) == 42  # the worker survives
    finally:
        b.close()


def test_close_drains_queued_work_then_refuses_new_work():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd)
    futures = [b.submit([[i]]) for i in range(4)]
    assert fwd.entered.wait(10)
    closer = threading.Thread(target=b.close)
    closer.start()
    fwd.release.set()
    closer.join(10)
    assert all(isinstance(f.result(0), np.ndarray) for f in futures)
    with pytest.raises(BatcherClosedError):
        b.submit([[1]])


def test_many_threads_get_their_own_results():
    b = DynamicBatcher(RecordingForward(), max_batch_tokens=64, max_batch_size=8, max_wait_ms=1)
    jobs = make_jobs(60)
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda rows: b.submit(rows).result(10), jobs))
        for rows, got in zip(jobs, results):
            np.testing.assert_array_equal(got, expected(rows))
    finally:
        b.close()


def test_reservations_hold_room_and_give_it_back():
    fwd = RecordingForward()
    b = DynamicBatcher(fwd, max_queue=4, max_wait_ms=0)
    try:
        with b.reserve(3) as slot:
            with pytest.raises(QueueFullError):
                b.submit([[1], [2]])  # 3 reserved + 2 > 4
            future = slot.submit([[5], [6], [7]])
        np.testing.assert_array_equal(future.result(10), expected([[5], [6], [7]]))
        with pytest.raises(ValueError):
            with b.reserve(4):
                raise ValueError("tokenization failed")  # e.g. a 400: the room comes back
        assert b.submit([[1], [2], [3], [4]]).result(10).shape == (4, 2)
    finally:
        b.close()


def test_worker_waits_for_requests_that_are_still_tokenizing():
    fwd = RecordingForward()
    b = DynamicBatcher(fwd, max_wait_ms=10_000)  # long: the test must not depend on timing
    try:
        with b.reserve(1) as late:  # a request still tokenizing
            early = b.submit([[1, 2]])
            assert not early.done()  # held back: company is on its way
            future = late.submit([[3]])
        early.result(10), future.result(10)
        assert len(fwd.calls) == 1 and sorted(map(len, fwd.calls[0])) == [1, 2]  # one forward for both
        alone = b.submit([[4]])  # nobody arriving: no wait at all
        np.testing.assert_array_equal(alone.result(10), expected([[4]]))
    finally:
        b.close()


def test_packed_rule_counts_the_sum_of_tokens_and_reports_it():
    fwd, seen = RecordingForward(hold_first=True), []
    b = DynamicBatcher(fwd, max_batch_tokens=20, max_batch_size=64, max_wait_ms=0, packed=True,
                       on_batch=lambda rows, cost: seen.append((rows, cost)))
    try:
        b.submit([[0]])
        assert fwd.entered.wait(10)
        jobs = [[[1] * 9, [1] * 2], [[2] * 5], [[3] * 4, [3] * 7]]
        futures = [b.submit(rows) for rows in jobs]
        fwd.release.set()
        for rows, f in zip(jobs, futures):
            np.testing.assert_array_equal(f.result(10), expected(rows))
        for rows in fwd.calls:
            assert sum(map(len, rows)) <= 20  # packed: the sum, not rows x longest (which would be 4 x 9 = 36)
        assert any(len(rows) * max(map(len, rows)) > 20 for rows in fwd.calls)
        assert [c for _, c in seen] == [sum(map(len, rows)) for rows in fwd.calls]  # metrics count the same rule
    finally:
        b.close()


def test_a_big_request_is_split_into_budgeted_passes_and_a_small_one_rides_along():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd, max_batch_tokens=8, max_batch_size=64, max_wait_ms=0, packed=True)
    try:
        b.submit([[0]])
        assert fwd.entered.wait(10)
        big = b.submit([[5] * 4 for _ in range(10)])  # 40 tokens: five passes of 8
        small = b.submit([[6, 6]])
        fwd.release.set()
        np.testing.assert_array_equal(big.result(10), expected([[5] * 4 for _ in range(10)]))
        np.testing.assert_array_equal(small.result(10), expected([[6, 6]]))
        assert all(sum(map(len, rows)) <= 8 for rows in fwd.calls)
        assert [6, 6] in fwd.calls[1]  # in the first pass after the held one, not after the big request
    finally:
        b.close()


def test_cancelling_a_request_mid_way_drops_its_remaining_rows():
    fwd = RecordingForward(hold_first=True)
    b = DynamicBatcher(fwd, max_batch_tokens=4, max_batch_size=64, max_wait_ms=0, packed=True)
    try:
        b.submit([[0]])
        assert fwd.entered.wait(10)
        doomed = b.submit([[9] * 4 for _ in range(6)])
        assert doomed.cancel()
        fwd.release.set()
        assert b.submit([[1]]).result(10).shape == (1, 2)
        assert all([9] * 4 not in call for call in fwd.calls) and b.queued_rows == 0
    finally:
        b.close()
