"""Two sharded controller replicas (as `fedctl run` builds them, health sweeps on) over the sandbox and
one store: the replica holding an app confirms a region's VIP unhealthy; when it stops and its shard
moves, the other replica resumes that region unhealthy, with the same ``since``, instead of starting
it from unknown (which would let the region back into DNS until it was confirmed again)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from federation.api import constants as c
from federation.controller.manager import Controller
from federation.health.hysteresis import Machine, State
from federation.health.signals import Signal, app_target_id
from federation.health.sweeps import HealthConfig
from federation.sandbox.wiring import LOOPBACK_ONLY, Sandbox
from federation.store import migrate
from federation.store.db import Database
from federation.store.health import latest_health
from tests.integration.conftest import APP, NAMESPACE, Running, fast_config
from tests.integration.test_health_sweeps import VIPS, Listeners, LoopbackVips, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

KEY = f"{NAMESPACE}/{APP}"
BROKEN = "cn-beijing"
TARGET = (Signal.VIP.value, app_target_id(KEY, BROKEN))


def machine(ctrl: Controller) -> Machine | None:
    assert ctrl.sweeps is not None
    return ctrl.sweeps.service.tracker.machines.get(TARGET)


async def test_the_replica_taking_a_shard_over_resumes_its_apps_hysteresis(tmp_path: Path) -> None:
    port = free_port()
    vips = Listeners(port)
    for region in VIPS:
        await vips.up(region)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    config = dataclasses.replace(
        fast_config(), shards=2, lease_duration=4.0, renew_deadline=3.0, retry_period=0.5, drain_grace=0.2
    )
    sb = Sandbox(
        tmp_path,
        rollout_delay=0.1,
        controller_config=config,
        steps=[LoopbackVips()],
        run_controller=False,
        apply_example=False,
        slb=False,
        sweeps=HealthConfig(
            member_interval=0.5,
            member_timeout=0.5,
            rollout_interval=0.5,
            fast_interval=0.05,
            sync_interval=0.5,
            jitter=0.05,
            probe_networks=LOOPBACK_ONLY,
        ),
    )
    sb.db = Database(url)  # one store for both replicas (closed by sb.stop)
    await sb.start()
    try:
        app = copy.deepcopy(sb.example_app())
        app["spec"]["ports"] = [{"name": "http", "port": port, "targetPort": 80, "protocol": "TCP"}]
        app["spec"]["healthProbe"] = {
            "type": "TCP",
            "intervalSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": 3,
            "successThreshold": 1,
        }
        await sb.apply_app(app)
        replicas = [await sb.start_controller(dataclasses.replace(config, identity=i)) for i in ("a", "b")]
        run = Running(sb, "")

        async def ready() -> bool:
            return await run.condition(c.COND_READY) == "True" and len(await run.addresses()) == len(VIPS)

        await wait_for(ready, 60, "the app Ready with every region's address")

        async def shared() -> list[int]:
            held = [len(r.sharding.held()) if r.sharding else 0 for r in replicas]
            return held if held == [1, 1] else []

        await wait_for(shared, 30, "each replica holding one shard")
        holder, taker = replicas if replicas[0].owns_app(KEY) else replicas[::-1]

        # the holder confirms the region's VIP unhealthy, and stores it
        await vips.down(BROKEN)

        async def confirmed() -> Machine | None:
            m = machine(holder)
            return m if m is not None and m.state is State.UNHEALTHY else None

        held = await wait_for(confirmed, 30, "the holder's VIP signal unhealthy")

        async def stored() -> bool:
            assert sb.db is not None
            rows = {(s.target_kind, s.target_id): s for s in await sb.db.run(latest_health)}
            row = rows.get(TARGET)
            return row is not None and row.state == "unhealthy"

        await wait_for(stored, 10, "the unhealthy state in the store")

        # the holder stops (its Leases released); the other replica takes its shard
        await sb.stop_controller(holder)
        assert taker.sweeps is not None
        sweeps = taker.sweeps

        async def taken() -> Machine | None:
            if not taker.owns_app(KEY) or sweeps.resuming(KEY):
                return None
            return machine(taker)

        got = await wait_for(taken, 30, "the shard taken over and its states resumed")
        # unhealthy from the first look, since the holder confirmed it: not unknown, not confirmed afresh
        assert got.state is State.UNHEALTHY
        assert got.since == held.since

        # and the taker's own sweeps carry on from there: the VIP back, the region healthy again
        await vips.up(BROKEN)

        async def healed() -> bool:
            m = machine(taker)
            return m is not None and m.state is State.HEALTHY

        await wait_for(healed, 30, "the taker's VIP signal healthy again")
    finally:
        for region in list(vips.servers):
            await vips.down(region)
        await sb.stop()
