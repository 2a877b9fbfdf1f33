"""The hysteresis state machine of one health target and signal: pure (no I/O, no clock reads).

A target starts ``unknown``. Each probe result moves a consecutive counter: a success adds to
``successes`` and zeroes ``failures``, a failure does the opposite. The state changes only when a
counter reaches its threshold: ``failure_threshold`` consecutive failures make it ``unhealthy``,
``success_threshold`` consecutive successes make it ``healthy`` (from ``unknown`` too). So with both
thresholds at 2 or more, results that alternate never change the state.

Between states (some evidence against the current state, not yet enough) the target is *confirming*:
the sweeps re-probe it after ``fast_interval`` instead of the full interval (HAProxy's ``fastinter``),
so a threshold of N costs N fast probes, not N intervals. This is what lets a high failure threshold
(robust against a noisy probe) still fail over within seconds.

Time enters only as the ``at`` of each result, handed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    """A target's filtered state; the values are the store's ``HealthStateName`` values."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Thresholds:
    failure: int = 3
    success: int = 2

    def __post_init__(self) -> None:
        if self.failure < 1:
            raise ValueError(f"failureThreshold: must be >= 1, got {self.failure}")
        if self.success < 1:
            raise ValueError(f"successThreshold: must be >= 1, got {self.success}")


@dataclass(frozen=True, slots=True)
class Machine:
    """The state of one target with its counters; ``reason`` is the detail of the last result that
    counted toward the current state (what a transition reports)."""

    state: State = State.UNKNOWN
    failures: int = 0
    successes: int = 0
    since: datetime | None = None  # when ``state`` was entered (None: never, i.e. still unknown)
    last_at: datetime | None = None
    reason: str = ""

    @property
    def confirming(self) -> bool:
        """Evidence against the current state that has not reached its threshold yet."""
        if self.state is State.HEALTHY:
            return self.failures > 0
        if self.state is State.UNHEALTHY:
            return self.successes > 0
        return self.failures > 0 or self.successes > 0


@dataclass(frozen=True, slots=True)
class Transition:
    old: State
    new: State
    reason: str
    at: datetime


def observe(
    m: Machine, ok: bool, at: datetime, thresholds: Thresholds, detail: str = ""
) -> tuple[Machine, Transition | None]:
    """Feed one result; returns the new machine and the transition it caused, if any."""
    if ok:
        successes, failures = m.successes + 1, 0
    else:
        successes, failures = 0, m.failures + 1
    state = m.state
    if ok and state is not State.HEALTHY and successes >= thresholds.success:
        state = State.HEALTHY
    elif not ok and state is not State.UNHEALTHY and failures >= thresholds.failure:
        state = State.UNHEALTHY
    # Machine(...) rather than dataclasses.replace: this runs once per probe, thousands per sweep
    if state is m.state:
        # the reason follows the results that agree with the state (or the evidence, while unknown)
        agrees = (ok and state is State.HEALTHY) or (not ok and state is State.UNHEALTHY)
        why = detail if agrees or state is State.UNKNOWN else m.reason
        return Machine(state, failures, successes, m.since, at, why), None
    return Machine(state, failures, successes, at, at, detail), Transition(m.state, state, detail, at)


def forget(m: Machine, at: datetime) -> tuple[Machine, Transition | None]:
    """Back to ``unknown`` (the target can no longer be probed, e.g. it has no address)."""
    if m.state is State.UNKNOWN and not m.failures and not m.successes:
        return m, None
    n = Machine(State.UNKNOWN, since=at, last_at=at, reason=m.reason)
    if m.state is State.UNKNOWN:
        return n, None
    return n, Transition(m.state, State.UNKNOWN, "no longer probed", at)
