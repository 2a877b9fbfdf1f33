"""A region held out for an app signal comes back only on fresh evidence from every app signal: the
stale state of an SLB or VIP that could not be probed while nothing was ready must not put it back in
DNS for a second (the flap a heal used to cause: back on the rollout, out on the SLB's lag, back)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from federation.controller.members import MemberDirectory
from federation.controller.sweeps import ControllerHealth
from federation.health.hysteresis import Machine, State
from federation.health.signals import Signal, app_target_id
from federation.placement import Schedulability

APP, REGION = "default/web", "cn-hangzhou"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def machine(state: State, at: datetime, failures: int = 0) -> Machine:
    return Machine(state, failures=failures, since=at, last_at=at)


async def test_a_held_region_waits_for_every_app_signal_to_be_probed_healthy_again() -> None:
    enqueued: list[str] = []
    health = ControllerHealth(MemberDirectory(), lambda: None, enqueued.append, lambda: None)
    now = [T0]
    health.service.clock = lambda: now[0]
    machines = health.service.tracker.machines
    tid = app_target_id(APP, REGION)
    cluster: Any = None

    # healthy everywhere: nothing held
    for s in (Signal.ROLLOUT, Signal.SLB, Signal.VIP):
        machines[(s.value, tid)] = machine(State.HEALTHY, T0)
    assert health.app_health(APP, REGION, cluster).schedulability is Schedulability.SCHEDULABLE

    # the rollout fails: held (one canary replica stays); the SLB and VIP keep their old healthy state
    now[0] = T0 + timedelta(seconds=10)
    machines[(Signal.ROLLOUT.value, tid)] = machine(State.UNHEALTHY, now[0])
    got = health.app_health(APP, REGION, cluster)
    assert (got.schedulability, got.canary) == (Schedulability.UNHEALTHY, True)

    # healed: the rollout is healthy again, but the SLB and VIP were last probed before the failure
    now[0] = T0 + timedelta(seconds=20)
    machines[(Signal.ROLLOUT.value, tid)] = machine(State.HEALTHY, now[0])
    got = health.app_health(APP, REGION, cluster)
    assert got.schedulability is Schedulability.UNHEALTHY
    assert "SLB backends" in got.reason
    assert "VIP probe" in got.reason
    assert "rollout" not in got.reason

    # the SLB answers again but a failure is still being confirmed: still held
    machines[(Signal.SLB.value, tid)] = machine(State.HEALTHY, now[0] + timedelta(seconds=1), failures=1)
    machines[(Signal.VIP.value, tid)] = machine(State.HEALTHY, now[0] + timedelta(seconds=1))
    assert health.app_health(APP, REGION, cluster).schedulability is Schedulability.UNHEALTHY

    # every app signal probed healthy since the hold: back, and no longer held
    machines[(Signal.SLB.value, tid)] = machine(State.HEALTHY, now[0] + timedelta(seconds=2))
    assert health.app_health(APP, REGION, cluster).schedulability is Schedulability.SCHEDULABLE
    assert health.app_health(APP, REGION, cluster).schedulability is Schedulability.SCHEDULABLE
