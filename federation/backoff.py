"""Retry timing shared by the cloud and Kubernetes adapters: capped exponential backoff with full jitter,
bounded both in attempts and in total time.

"Full jitter" (sleep a uniform random time in [0, min(cap, base * 2**n)]) spreads clients that failed
together, as described in the AWS Architecture Blog post "Exponential Backoff And Jitter". What is worth
repeating is each adapter's decision; this module only says how long to wait and when to give up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # first call included
    base_delay: float = 0.2  # seconds
    max_delay: float = 5.0
    max_elapsed: float = 30.0  # no retry starts (its wait included) later than this after the first call

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("base_delay and max_delay must be >= 0")
        if self.max_elapsed < 0:
            raise ValueError("max_elapsed must be >= 0")

    def delay(self, retry_number: int, rng: random.Random) -> float:
        """Seconds to wait before retry ``retry_number`` (0 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** min(retry_number, 62)))
        return rng.uniform(0.0, ceiling)

    def allows(self, attempts: int, elapsed: float, wait: float) -> bool:
        """Whether one more attempt fits: ``attempts`` made so far, ``elapsed`` seconds since the first
        began, ``wait`` seconds before the next would start."""
        return attempts < self.max_attempts and elapsed + wait <= self.max_elapsed


NO_RETRY = RetryPolicy(max_attempts=1)
