"""A client-side token bucket: pacing on our side turns bursts into short waits instead of the
server's throttling answers (Alibaba ``Throttling.*``, Kubernetes ``429``). Used per Alibaba API action
and per Kubernetes cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; ``acquire`` waits for one token."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> float:
        """Take a token if one is there (returns 0.0), else return the seconds until one will be."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    async def acquire(self) -> None:
        async with self._lock:  # FIFO: waiters are served in arrival order
            wait = self.try_acquire()
            while wait > 0:  # a timed wait, nothing to watch: tokens accrue with the clock
                await asyncio.sleep(wait)
                wait = self.try_acquire()
