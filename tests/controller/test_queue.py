"""The work queue: deduplication, no concurrent processing of one key, backoff, bounded concurrency."""

from __future__ import annotations

import asyncio
import itertools

from federation.controller.queue import WorkQueue, run_workers


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
