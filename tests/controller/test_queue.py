"""The work queue: deduplication, no concurrent processing of one key, backoff and the overall token
bucket, bounded concurrency."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.controller.queue import TokenBucket, WorkQueue, run_workers


async def test_a_key_is_queued_once_and_never_processed_twice_at_once() -> None:
    q = WorkQueue()
    running: dict[str, int] = {}
    overlap = False
    seen: list[str] = []
    gate = asyncio.Event()

    async def handle(key: str) -> None:
        nonlocal overlap
        running[key] = running.get(key, 0) + 1
        overlap = overlap or running[key] > 1
        seen.append(key)
        if len(seen) == 1:
            q.add("a")  # added while being processed: runs again afterwards, not concurrently
            await gate.wait()
        running[key] -= 1

    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    workers = asyncio.create_task(run_workers(q, handle, 4, "test"))
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.sleep(0.05)
    await q.shutdown()
    await workers
    assert sorted(seen) == ["a", "a", "b"]
    assert not overlap


async def test_failures_back_off_exponentially_and_success_forgets() -> None:
    q = WorkQueue(base_delay=0.01, max_delay=0.08)
    times: list[float] = []
    loop = asyncio.get_running_loop()

    async def handle(key: str) -> None:
        times.append(loop.time())
        if len(times) < 5:
            raise RuntimeError("member unreachable")

    q.add("k")
    workers = asyncio.create_task(run_workers(q, handle, 1, "test"))
    for _ in range(200):
        if len(times) >= 5:
            break
        await asyncio.sleep(0.01)
    await q.shutdown()
    await workers
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 5
    assert gaps[2] > gaps[0]  # grows
    assert max(gaps) < 0.08 * 1.25 + 0.05  # capped (with jitter)
    assert q.failures("k") == 0


async def test_concurrency_is_bounded() -> None:
    q = WorkQueue()
    active = peak = 0

    async def handle(key: str) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1

    for i in range(20):
        q.add(f"k{i}")
    workers = asyncio.create_task(run_workers(q, handle, 3, "test"))
    for _ in range(100):
        if q.idle:
            break
        await asyncio.sleep(0.01)
    await q.shutdown()
    await workers
    assert peak == 3


def test_token_bucket_allows_a_burst_then_spaces_reservations_at_its_rate() -> None:
    now = [100.0]
    bucket = TokenBucket(qps=10, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [bucket.reserve() for _ in range(3)]  # reservations queue up behind each other
    assert waits == pytest.approx([0.1, 0.2, 0.3])
    now[0] += 10  # a quiet period refills the bucket, never beyond its burst
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() > 0


@given(
    qps=st.floats(0.5, 100),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_token_bucket_never_lets_more_through_than_burst_plus_rate(
    qps: float, burst: int, gaps: list[float]
) -> None:
    """Over any run, the k-th reservation starts no earlier than (k - burst) / qps after the first."""
    now = [0.0]
    bucket = TokenBucket(qps=qps, burst=burst, clock=lambda: now[0])
    starts = []
    for gap in gaps:
        now[0] += gap
        starts.append(now[0] + bucket.reserve())
    for k, start in enumerate(starts):
        assert start >= (k + 1 - burst) / qps - 1e-6


async def test_the_overall_bucket_delays_retries_when_many_keys_fail_at_once() -> None:
    q = WorkQueue(base_delay=0.001, max_delay=0.001, qps=10, burst=5)
    delays = [q.add_rate_limited(f"app{i}") for i in range(8)]
    await q.shutdown()
    assert all(d < 0.01 for d in delays[:5])  # the burst
    assert delays[5:] == pytest.approx([0.1, 0.2, 0.3], abs=0.02)  # then 10 per second


async def test_a_retry_waits_at_least_what_the_failure_asked_for() -> None:
    q = WorkQueue(base_delay=0.01, max_delay=1.0)
    assert q.add_rate_limited("k", at_least=5.0) == 5.0
    await q.shutdown()


async def test_news_about_owned_objects_does_not_pull_a_backing_off_key_forward() -> None:
    q = WorkQueue(base_delay=10.0, max_delay=10.0)
    q.add_rate_limited("failing")  # scheduled ~10 s from now
    q.nudge("failing")
    assert len(q) == 0  # its retry stands
    q.add("failing")  # a change to the app itself still runs it now
    assert len(q) == 1
    q.nudge("healthy")
    assert len(q) == 2
    await q.shutdown()


class Paused(Exception):
    """What a step raises when its provider is paused: nothing was tried."""

    deferred = True
    retry_after = 0.05


async def test_a_deferred_failure_is_retried_after_its_pause_without_growing_the_backoff() -> None:
    q = WorkQueue(base_delay=10.0, max_delay=10.0)
    calls = 0

    async def handle(key: str) -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise Paused()

    q.add("k")
    workers = asyncio.create_task(run_workers(q, handle, 1, "test"))
    for _ in range(100):
        if calls >= 4:
            break
        await asyncio.sleep(0.02)
    await q.shutdown()
    await workers
    assert calls == 4  # three pauses of 0.05 s, not a 10 s backoff
    assert q.failures("k") == 0


async def test_urgent_keys_go_first_and_a_waiting_key_moves_up_once() -> None:
    q = WorkQueue()
    for key in ("news-1", "news-2", "spec-a"):
        q.add(key)
    q.add("spec-b", urgent=True)
    q.add("spec-a", urgent=True)  # already waiting among the follow-ups: moves up, still queued once
    assert len(q) == 4
    order = [await q.get() for _ in range(4)]
    assert order == ["spec-b", "spec-a", "news-1", "news-2"]
    for taken in order:
        assert taken is not None
        q.done(taken)
    assert q.idle


async def test_an_urgent_add_while_processing_requeues_the_key_ahead_of_the_others() -> None:
    q = WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    q.add("b")
    q.add("a", urgent=True)  # the user's change arrives during a follow-up reconcile of "a"
    q.done("a")
    assert [await q.get(), await q.get()] == ["a", "b"]


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.booleans(), st.booleans()), max_size=40))
def test_every_added_key_comes_out_once_and_urgent_before_the_rest(
    ops: list[tuple[str, bool, bool]],
) -> None:
    async def scenario() -> None:
        q = WorkQueue()
        urgent: set[str] = set()
        added: set[str] = set()
        for key, is_urgent, take in ops:
            q.add(key, urgent=is_urgent)
            added.add(key)
            if is_urgent:
                urgent.add(key)
            if take:
                got = await q.get()
                assert got is not None
                # a key is handed out only if no urgent key is waiting, or it is urgent itself
                assert got in urgent or not (urgent & (added - {got}))
                added.discard(got)
                urgent.discard(got)
                q.done(got)
        while len(q):
            got = await q.get()
            assert got is not None
            assert got in urgent or not urgent
            added.discard(got)
            urgent.discard(got)
            q.done(got)
        assert not added
        assert q.idle

    asyncio.run(scenario())


async def test_a_reconcile_that_never_returns_is_reported_with_where_it_waits(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import federation.controller.queue as queue_module

    monkeypatch.setattr(queue_module, "STUCK_AFTER", 0.1)
    q = WorkQueue()
    hang = asyncio.Event()

    async def wait_for_an_answer_that_never_comes() -> None:
        await hang.wait()

    async def handle(key: str) -> None:
        if key == "stuck":
            await wait_for_an_answer_that_never_comes()

    q.add("stuck")
    q.add("fine")
    workers = asyncio.create_task(run_workers(q, handle, 2, "app"))
    for _ in range(100):
        if "still running" in caplog.text:
            break
        await asyncio.sleep(0.02)
    running = q.longest_running()
    assert running is not None
    assert running[0] == "stuck"
    assert running[1] >= 0.1
    q.add("stuck")  # news while it hangs: marked to run again, not lost
    assert q.describe("stuck").startswith("processing for ")
    assert "queued again after it" in q.describe("stuck")
    assert q.describe("fine") == "idle"
    stuck = [r for r in caplog.records if "still running" in r.getMessage()]
    assert len(stuck) == 1  # the finished key is not reported
    assert "app stuck:" in stuck[0].getMessage()
    assert "wait_for_an_answer_that_never_comes" in stuck[0].getMessage()
    hang.set()
    await q.shutdown()
    await workers
    assert q.longest_running() is None
