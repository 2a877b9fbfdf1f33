"""Run-time fault injection for the emulator, per product and per action.

A rule matches ``(product, action)`` where either may be ``"*"``. Kinds: ``throttle`` (answer
``Throttling.User``, or ``Throttling`` / ``Throttling.Api``, with HTTP 400, at a rate), ``error``
(answer 500/503 at a rate; with ``after=True`` the action runs first and only the answer is lost, the
case that makes blind retries of creates dangerous; a 503 ``ServiceUnavailable`` promises the request
was not processed, so it cannot come after), ``reset`` (drop the connection without an answer, at a rate;
with ``after=True`` once the action ran: a reset after sending, which the client cannot tell from one
before), ``latency`` (seconds added before answering), ``hang`` (no answer until the rule is cleared or the
emulator stops). ``times`` limits a rule to its next N matches, for deterministic tests.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaultRule:
    product: str = "*"  # alidns | slb | cbn | *
    action: str = "*"
    throttle: float = 0.0  # probability of a throttling answer
    throttle_code: str = "Throttling.User"
    error_rate: float = 0.0  # probability of a 5xx
    error_status: int = 500
    reset: float = 0.0  # probability of dropping the connection without an answer
    after: bool = False  # 5xx or reset after the action ran (the answer is lost, the change is made)
    latency: float = 0.0  # seconds
    hang: bool = False
    times: int | None = None  # remaining matches; None: unlimited
    hits: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("released", None)
        return d


# Gateway flow-control answers (HTTP 400); messages as public error reports quote them.
THROTTLE_MESSAGES = {
    "Throttling": "Request was denied due to request throttling.",
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
}


@dataclass(frozen=True)
class Verdict:
    throttle: str | None = None  # the throttling code to answer
    error_status: int | None = None
    error_after: bool = False  # also for reset
    reset: bool = False
    latency: float = 0.0
    hang: asyncio.Event | None = None


class Faults:
    """The active rules; ``set`` replaces the rule of the same (product, action)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: dict[tuple[str, str], FaultRule] = {}
        self._rng = random.Random(seed)

    def set(
        self,
        product: str = "*",
        action: str = "*",
        *,
        throttle: float = 0.0,
        throttle_code: str = "Throttling.User",
        error_rate: float = 0.0,
        error_status: int = 500,
        reset: float = 0.0,
        after: bool = False,
        latency: float = 0.0,
        hang: bool = False,
        times: int | None = None,
    ) -> FaultRule:
        for name, rate in (("throttle", throttle), ("error_rate", error_rate), ("reset", reset)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1, got {rate}")
        if throttle_code not in THROTTLE_MESSAGES:
            raise ValueError(
                f"throttle_code: must be one of {', '.join(THROTTLE_MESSAGES)}, got {throttle_code!r}"
            )
        if latency < 0:
            raise ValueError(f"latency: must be >= 0, got {latency}")
        if error_status < 500 or error_status > 599:
            raise ValueError(f"error_status: must be a 5xx status, got {error_status}")
        if after and error_rate and error_status == 503:
            raise ValueError("after: a 503 ServiceUnavailable means the request was not processed; use 500")
        key = (product.lower(), action)
        self.clear(product, action)
        rule = FaultRule(
            product=key[0],
            action=action,
            throttle=throttle,
            throttle_code=throttle_code,
            error_rate=error_rate,
            error_status=error_status,
            reset=reset,
            after=after,
            latency=latency,
            hang=hang,
            times=times,
        )
        self._rules[key] = rule
        return rule

    def clear(self, product: str | None = None, action: str | None = None) -> None:
        """Clear one rule, or all of them (releasing hung requests)."""
        if product is None and action is None:
            keys = list(self._rules)
        else:
            keys = [((product or "*").lower(), action or "*")]
        for key in keys:
            rule = self._rules.pop(key, None)
            if rule is not None:
                rule.released.set()

    def rules(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self._rules.values()]

    def decide(self, product: str, action: str) -> Verdict:
        product = product.lower()
        for key in ((product, action), (product, "*"), ("*", action), ("*", "*")):
            rule = self._rules.get(key)
            if rule is None:
                continue
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.times is not None:
                rule.times -= 1
            rule.hits += 1
            if rule.hang:
                return Verdict(hang=rule.released, latency=rule.latency)
            if rule.throttle and self._rng.random() < rule.throttle:
                return Verdict(throttle=rule.throttle_code, latency=rule.latency)
            if rule.reset and self._rng.random() < rule.reset:
                return Verdict(reset=True, error_after=rule.after, latency=rule.latency)
            if rule.error_rate and self._rng.random() < rule.error_rate:
                return Verdict(error_status=rule.error_status, error_after=rule.after, latency=rule.latency)
            return Verdict(latency=rule.latency)
        return Verdict()
