"""Per-cluster fault switches: API down (listening socket closed), hanging, slow, or failing a fraction
of requests with 500, 503 or 429 (+Retry-After). A fault may be limited to some HTTP methods (``GET``
for reads, ``POST``/``PUT``/``PATCH``/``DELETE`` for writes) and to its next N matching requests.
``error`` with ``throttle`` also answers that fraction 429 (+Retry-After), drawn apart from ``rate``:
a cluster that throttles and fails at once, as under load (the chaos harness's weather)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

MODES = ("down", "hang", "slow", "error")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Faults:
    mode: str | None = None
    rate: float = 1.0
    delay: float = 0.0
    status: int = 500
    retry_after: int = 1
    methods: frozenset[str] | None = None  # None: every method
    times: int | None = None  # matching requests left before the fault clears itself; None: no end
    throttle: float = 0.0  # error mode: the fraction answered 429, on top of ``rate`` at ``status``
    rng: random.Random = field(default_factory=random.Random)
    on_change: list[Callable[[Faults, str | None], Coroutine[Any, Any, None]]] = field(default_factory=list)
    _changed: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def set(
        self,
        mode: str,
        *,
        rate: float | None = None,
        delay: float | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        methods: Any = None,
        times: int | None = None,
        writes_only: bool = False,
        throttle: float | None = None,
    ) -> None:
        """Switch a fault on. Takes effect for the next request (and, for `down`, closes the socket).
        ``methods`` (hang, slow, error) limits it to those HTTP methods, ``times`` (slow, error) to the
        next N requests of them; ``writes_only`` is ``methods`` POST, PUT, PATCH and DELETE (a member that
        answers probes and watches but refuses every change)."""
        if writes_only:
            methods = WRITE_METHODS if methods is None else {str(m).upper() for m in methods} & WRITE_METHODS
        if mode not in MODES:
            raise ValueError(f"mode: unsupported value {mode!r}: supported values: {', '.join(MODES)}")
        if status is not None and status not in (500, 429, 503):
            raise ValueError(f"status: unsupported value {status}: supported values: 500, 429, 503")
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate: {rate} must be between 0 and 1")
        if throttle is not None and not 0.0 <= throttle <= 1.0 - (rate or 0.0):
            raise ValueError(f"throttle: {throttle} must be between 0 and 1 - rate ({rate or 0.0})")
        if throttle and mode != "error":
            raise ValueError(f"throttle: only for error, not {mode}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after: {retry_after} must be >= 0")
        if times is not None and times < 1:
            raise ValueError(f"times: {times} must be >= 1")
        wanted = None if methods is None else frozenset(str(m).upper() for m in methods)
        if wanted is not None and (not wanted or not wanted <= HTTP_METHODS):
            raise ValueError(f"methods: {sorted(methods)} must be some of {', '.join(sorted(HTTP_METHODS))}")
        if mode == "down" and wanted is not None:
            raise ValueError("methods: not for down (the socket closes for everyone)")
        if mode in ("down", "hang") and times is not None:
            raise ValueError(f"times: not for {mode} (it lasts until cleared)")
        previous = self.mode
        self.mode = mode
        self.rate = (0.0 if throttle else 1.0) if rate is None else rate  # throttle alone: only 429s
        self.delay = delay if delay is not None else (1.0 if mode == "slow" else 0.0)
        self.status = status or 500
        self.retry_after = 1 if retry_after is None else retry_after
        self.methods = wanted
        self.times = times
        self.throttle = throttle or 0.0
        self._wake()
        self._notify(previous)

    def set_from(self, d: dict[str, Any]) -> None:
        """:meth:`set` from a mapping shaped like :meth:`describe` (the admin API, snapshots)."""
        self.set(
            str(d["mode"]),
            rate=d.get("rate"),
            delay=d.get("delay"),
            status=d.get("status"),
            retry_after=d.get("retry_after"),
            methods=d.get("methods"),
            times=d.get("times"),
            writes_only=bool(d.get("writes_only")),
            throttle=d.get("throttle"),
        )

    def clear(self) -> None:
        previous = self.mode
        self.mode = None
        self._wake()
        self._notify(previous)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    def _notify(self, previous: str | None) -> None:
        for cb in self.on_change:
            # Without a running loop (configured before start) the server applies the mode when it starts.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(cb(self, previous))

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "rate": self.rate,
            "delay": self.delay,
            "status": self.status,
            "retry_after": self.retry_after,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "writes_only": self.methods == WRITE_METHODS,
            "times": self.times,
            "throttle": self.throttle,
        }

    def _matches(self, method: str | None) -> bool:
        if self.methods is not None and (method or "").upper() not in self.methods:
            return False
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:  # this is the last one
                self.mode, self.times = None, None
        return True

    async def before_request(self, method: str | None = None) -> tuple[int, int] | None:
        """Apply hang/slow in place; return (status, retry_after) when this request must fail."""
        mode = self.mode
        if mode in ("hang", "slow", "error") and not self._matches(method):
            return None
        if mode == "hang":
            while self.mode == "hang":
                await self._event().wait()
            return None
        if mode == "slow":
            await asyncio.sleep(self.delay)
        elif mode == "error":
            draw = self.rng.random()
            if draw < self.throttle:
                return 429, self.retry_after
            if draw < self.throttle + self.rate:
                return self.status, self.retry_after
        return None
