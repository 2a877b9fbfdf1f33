"""Polling a condition from a test: the one place that decides how long and how often to look."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(check: Callable[[], Awaitable[Any]], within: float = 15.0, what: str = "condition") -> Any:
    """Await ``check()`` until it returns something truthy (returned), or fail after ``within`` s with
    the last value seen, so a timeout says what the world looked like."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last value: {last!r}")
