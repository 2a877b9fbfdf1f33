"""A work queue keyed by object: deduplicated, rate-limited retries, bounded concurrency.

The semantics are client-go's workqueue: a key waiting in the queue is not queued twice; a key being
processed is never processed by two workers at once (if it is added meanwhile it is marked dirty and
queued again when the worker finishes, so no change is lost).

A key added ``urgent`` (a change the user made, e.g. a new spec) is handed out before the others (the
follow-ups the controller schedules for itself: members' news, resyncs, retries), and a key already
waiting among those moves up: under load, a spec update does not queue behind a backlog of rollout
progress reconciles.

Retries follow client-go's default controller rate limiter: the later of a per-key exponential delay
(``base_delay * 2**failures``, capped at ``max_delay``; ``forget`` resets it after a success) and an
overall token bucket (``qps`` retries per second, ``burst`` at once) shared by every key, so a failure
that hits every app at once (a throttled cloud API) cannot turn the queue into a hot loop.

A key being processed remembers since when (client-go's "longest running processor" reading): a
reconcile that never returns holds its key forever, every later change of that object only marks it
dirty, and its status goes stale with no error anywhere. :func:`run_workers` therefore logs a reconcile
still running after ``STUCK_AFTER`` seconds, with the coroutine's stack, and ``/metrics`` exports the
longest running one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from federation import metrics

log = logging.getLogger(__name__)

DEFERRED_FLOOR = 0.05  # seconds: a deferred key never comes back sooner than this
STUCK_AFTER = 120.0  # seconds: a reconcile running this long is reported (every request times out sooner)


class TokenBucket:
    """``qps`` tokens per second, at most ``burst`` saved up; :meth:`reserve` takes one and says how long
    to wait for it (like Go's ``rate.Limiter.Reserve``: a reservation is never refused, only delayed)."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if qps <= 0:
            raise ValueError(f"qps: must be > 0, got {qps}")
        if burst < 1:
            raise ValueError(f"burst: must be >= 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def reserve(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.qps)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps


class WorkQueue:
    def __init__(
        self,
        *,
        base_delay: float = 0.05,
        max_delay: float = 300.0,
        qps: float = 10.0,
        burst: int = 100,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.bucket = TokenBucket(qps, burst)
        # a key in _queued sits in _urgent or _queue (or both, after moving up: the entry whose key is
        # no longer in _queued when popped is stale and skipped)
        self._urgent: deque[str] = deque()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._queued_urgent: set[str] = set()
        self._processing: dict[str, float] = {}  # key -> time.monotonic() its processing began
        self._dirty: dict[str, bool] = {}  # key -> urgent
        self._failures: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def idle(self) -> bool:
        """Nothing queued, in flight or scheduled for later."""
        return not self._queued and not self._processing and not self._timers

    @property
    def busy(self) -> bool:
        """Something queued or in flight (keys scheduled for later do not count)."""
        return bool(self._queued or self._processing)

    def add(self, key: str, *, urgent: bool = False) -> None:
        if self._shutdown:
            return
        if key in self._processing:
            self._dirty[key] = self._dirty.get(key, False) or urgent
            return
        if key in self._queued:
            if urgent and key not in self._queued_urgent:
                self._queued_urgent.add(key)
                self._urgent.append(key)
            return
        self._queued.add(key)
        if urgent:
            self._queued_urgent.add(key)
            self._urgent.append(key)
        else:
            self._queue.append(key)
        self._wake_one()

    def nudge(self, key: str) -> None:
        """:meth:`add`, unless the key is waiting out a backoff after failing: then its scheduled retry
        (which reads everything afresh) stands, so news that cannot fix the failure does not pull it
        forward again and again."""
        if self._failures.get(key) and key in self._timers:
            return
        self.add(key)

    def add_after(self, key: str, delay: float) -> None:
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        due = loop.time() + delay
        if existing is not None:
            if existing.when() <= due:
                return
            existing.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str, at_least: float = 0.0) -> float:
        """Requeue after a failure; returns the delay chosen (the per-key backoff, with +-25% jitter so
        keys that failed together do not retry together, or later if the overall bucket is empty, and
        never before ``at_least``: what failed said when it can be tried again)."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        per_key = min(self.max_delay, self.base_delay * (2 ** min(n, 62))) * (0.75 + random.random() / 2)
        delay = max(per_key, self.bucket.reserve(), at_least)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def longest_running(self) -> tuple[str, float] | None:
        """The key processed for the longest time now, and for how many seconds."""
        if not self._processing:
            return None
        key, since = min(self._processing.items(), key=lambda kv: kv[1])
        return key, time.monotonic() - since

    def describe(self, key: str) -> str:
        """Where a key stands (for diagnostics): processing, queued, scheduled or idle, and its failures."""
        parts = []
        since = self._processing.get(key)
        if since is not None:
            parts.append(f"processing for {time.monotonic() - since:.1f}s")
            if key in self._dirty:
                parts.append("queued again after it")
        if key in self._queued:
            parts.append("queued" + (" (urgent)" if key in self._queued_urgent else ""))
        timer = self._timers.get(key)
        if timer is not None:
            parts.append(f"scheduled in {max(0.0, timer.when() - asyncio.get_running_loop().time()):.1f}s")
        if self._failures.get(key):
            parts.append(f"{self._failures[key]} failures")
        return ", ".join(parts) or "idle"

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def get(self) -> str | None:
        """The next key (now being processed), or None after shutdown."""
        while not self._queued and not self._shutdown:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._wake_one()  # pass the wake-up on rather than lose it
                raise
        if self._shutdown:
            return None
        key = self._pop()
        self._queued.discard(key)
        self._queued_urgent.discard(key)
        self._processing[key] = time.monotonic()
        if self._queued:
            self._wake_one()
        return key

    def _pop(self) -> str:
        """The next queued key, urgent ones first (called only while ``_queued`` is not empty)."""
        while True:
            key = (self._urgent or self._queue).popleft()
            if key in self._queued:
                return key

    def done(self, key: str) -> None:
        self._processing.pop(key, None)
        if key in self._dirty:
            self.add(key, urgent=self._dirty.pop(key))

    async def shutdown(self) -> None:
        self._shutdown = True
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)


async def run_workers(
    queue: WorkQueue, handler: Callable[[str], Awaitable[None]], workers: int, name: str
) -> None:
    """Process keys with ``workers`` concurrent workers until the queue shuts down (or cancellation).

    ``handler`` raising means "retry with backoff" (not before the exception's ``retry_after`` seconds,
    if it has one; an exception marked ``deferred``, where nothing was tried, is retried after
    ``retry_after`` without growing the backoff); returning means success (the backoff is forgotten).
    """

    loop = asyncio.get_running_loop()

    async def worker(i: int) -> None:
        while True:
            key = await queue.get()
            if key is None:
                return
            started = time.monotonic()
            watchdog = loop.call_later(STUCK_AFTER, _report_stuck, name, key, asyncio.current_task())
            try:
                await handler(key)
            except asyncio.CancelledError:
                queue.done(key)
                raise
            except Exception as exc:
                metrics.reconciled(name, False, time.monotonic() - started)
                metrics.retried(name)
                retry_after = float(getattr(exc, "retry_after", 0.0) or 0.0)
                if getattr(exc, "deferred", False):
                    # nothing was tried (e.g. a provider's pause): not one more failure for the backoff
                    delay = max(retry_after, DEFERRED_FLOOR)
                    queue.add_after(key, delay)
                else:
                    delay = queue.add_rate_limited(key, at_least=retry_after)
                log.info("%s %s: retrying in %.1fs: %s", name, key, delay, exc)
            else:
                metrics.reconciled(name, True, time.monotonic() - started)
                queue.forget(key)
            finally:
                watchdog.cancel()
            queue.done(key)

    await asyncio.gather(*(worker(i) for i in range(workers)))


def _report_stuck(name: str, key: str, task: asyncio.Task[None] | None) -> None:
    log.warning(
        "%s %s: the reconcile is still running after %gs; where it waits:\n%s",
        name,
        key,
        STUCK_AFTER,
        "\n".join(_awaiting(task.get_coro() if task is not None else None)),
    )


def _awaiting(coro: Any) -> list[str]:
    """The chain of awaits a suspended coroutine sits in, outermost first (``Task.get_stack`` shows
    only the task's own frame)."""
    lines = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines
