"""Retry policy for Alibaba Cloud calls: capped exponential backoff with full jitter.

The SDK never retries alidns, SLB or Cbn actions (its ``retry_config.json`` lists ECS only), so the
project does it here. "Full jitter" (sleep a uniform random time in [0, min(cap, base * 2**n)]) spreads
clients that were throttled together, as described in the AWS Architecture Blog post
"Exponential Backoff And Jitter".
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # first call included
    base_delay: float = 0.2  # seconds
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("base_delay and max_delay must be >= 0")

    def delay(self, retry_number: int, rng: random.Random) -> float:
        """Seconds to wait before retry ``retry_number`` (0 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry_number))
        return rng.uniform(0.0, ceiling)


NO_RETRY = RetryPolicy(max_attempts=1)
