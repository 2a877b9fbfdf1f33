"""Health sweeps over the sandbox, one signal at a time: a fault makes the region unhealthy with its
reason, its replicas move and its address leaves every line's DNS answer; clearing the fault brings
both back. The regions' addresses are loopback listeners the test controls (the simulated load
balancers' addresses are never dialled), so the VIP probe exercises real sockets."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from federation.cli import main
from federation.controller.steps import StepContext
from federation.health.sweeps import HealthConfig
from federation.sandbox.wiring import DNS_CLIENTS, LOOPBACK_ONLY, Sandbox
from federation.store.health import latest_health, list_transitions
from tests.integration.conftest import APP, NAMESPACE, Running, fast_config
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

VIPS = {"cn-hangzhou": "127.0.0.11", "cn-beijing": "127.0.0.12", "eu-central-1": "127.0.0.13"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackVips:
    """Each region's address is one of VIPS (a step after the sandbox's own address step)."""

    name = "LoopbackVips"

    async def apply(self, ctx: StepContext) -> None:
        for a in ctx.placement.regions:
            ctx.region_fields.setdefault(a.name, {})["address"] = VIPS[a.name]

    async def cleanup(self, ctx: StepContext) -> None:
        return None


class Listeners:
    def __init__(self, port: int) -> None:
        self.port = port
        self.servers: dict[str, asyncio.Server] = {}

    async def up(self, region: str) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        self.servers[region] = await asyncio.start_server(handle, VIPS[region], self.port, reuse_address=True)

    async def down(self, region: str) -> None:
        server = self.servers.pop(region)
        server.close()
        await server.wait_closed()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Running, Listeners]]:
    port = free_port()
    vips = Listeners(port)
    for region in VIPS:
        await vips.up(region)
    sb = Sandbox(
        tmp_path,
        rollout_delay=0.1,
        dns_provider="embedded",
        # a lease that survives a busy machine: this test is about health, not leader election; and a
        # region leaving DNS keeps its replicas for the drain grace (default: the TTL), not here
        controller_config=dataclasses.replace(
            fast_config(), lease_duration=8.0, renew_deadline=6.0, retry_period=0.5, drain_grace=0.2
        ),
        steps=[LoopbackVips()],
        apply_example=False,
        slb=False,  # the regions' addresses are the test's own listeners (LoopbackVips)
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
        await sb.start_controller()
        run = Running(sb, "embedded")
        await wait_for(run.published, 30, "the app Ready with its DNS published")
        yield run, vips
    finally:
        for region in list(vips.servers):
            await vips.down(region)
        await sb.stop()


async def answers(run: Running) -> dict[str, set[str]]:
    """What a client of each line gets (no subnet: line default), asked as a client would."""
    out = {"default": (await run.query(None))[1]}
    for cidr, _, line in DNS_CLIENTS:
        out[line] = (await run.query(cidr))[1]
    return out


async def fault_cycle(
    run: Running,
    region: str,
    reason_part: str | tuple[str, ...],
    inject: Callable[[], Any],
    clear: Callable[[], Any],
    signal: str,
) -> None:
    vip = VIPS[region]
    await inject()

    async def gone() -> dict[str, Any] | None:
        r = (await run.regions())[region]
        every = await answers(run)
        # (its replicas leave once the other regions are ready, after a drain delay)
        if r.get("excludedReason") and all(vip not in v for v in every.values()):
            return r
        return None

    r = await wait_for(gone, 20, f"{region} excluded and out of every line's answer")
    parts = (reason_part,) if isinstance(reason_part, str) else reason_part
    assert any(p in r["excludedReason"] for p in parts), r["excludedReason"]
    # the same reason beside the region's health, as `kubectl get fapp -o yaml` and `fedctl status` show it
    assert r["health"] == "Unhealthy"
    assert any(p in r["healthReason"] for p in parts), r
    assert all(v for v in (await answers(run)).values())  # every line still answers with someone

    async def recorded() -> bool:
        assert run.sb.db is not None
        trs = await run.sb.db.run(list_transitions, region=region, target_kind=signal)
        return any(t.to_state == "unhealthy" for t in trs)

    await wait_for(recorded, 10, f"the {signal} signal's transition to unhealthy stored")
    await clear()

    async def back() -> bool:
        r = (await run.regions())[region]
        return bool(
            not r.get("excludedReason")
            and not r.get("healthReason")
            and r.get("desiredReplicas")
            and vip in (await answers(run))["default"]
        )

    await wait_for(back, 20, f"{region} back with replicas and in DNS")


def fault(sb: Sandbox, cluster: str, *args: str) -> Callable[[], Any]:
    async def go() -> None:
        result = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["sim", "kube", "fault", "--out", str(sb.workdir), "--cluster", cluster, *args],
        )
        assert result.exit_code == 0, result.output

    return go


async def test_each_signal_fails_a_region_over_and_back(running: tuple[Running, Listeners]) -> None:
    run, vips = running
    sb = run.sb
    hz = "cn-hangzhou"

    # the VIP refusing connections
    await fault_cycle(
        run, hz, f"VIP {VIPS[hz]}:{vips.port} refused", lambda: vips.down(hz), lambda: vips.up(hz), "endpoint"
    )

    # the app's Deployment failing in the region (a canary replica stays to see it recover)
    dep = f"{NAMESPACE}/{APP}"
    await fault_cycle(
        run,
        hz,
        f"Deployment {dep}: 0/",
        fault(sb, hz, "deployment-fail", dep),
        fault(sb, hz, "deployment-heal", dep),
        "rollout",
    )

    # the member's API down (connection refused), through `fedctl sim kube fault` as a user would
    await fault_cycle(
        run,
        "cn-beijing",
        "unreachable",
        fault(sb, "cn-beijing", "down"),
        fault(sb, "cn-beijing", "clear"),
        "cluster",
    )

    # everything was recorded: transitions with reasons, current states, and DNS changes with the reason
    assert sb.db is not None
    trs = await sb.db.run(list_transitions, limit=1000)
    kinds_down = {t.target_kind for t in trs if t.to_state == "unhealthy"}
    assert {"endpoint", "rollout", "cluster"} <= kinds_down
    assert any("refused" in t.reason for t in trs if t.target_kind == "endpoint")
    states = await sb.db.run(latest_health)
    assert all(s.state == "healthy" for s in states if s.region == hz and s.target_kind == "endpoint")
    reasons = await run.change_reasons()
    assert any(r.startswith("region-unhealthy: VIP") for r in reasons), reasons
    assert "region-recovered" in reasons

    ctrl = sb.controller
    assert ctrl is not None
    assert ctrl.sweeps is not None
    jobs = {j.id for j in ctrl.sweeps.scheduler.schedule()}
    assert {f"vip:{dep}", "member:cn-hangzhou", "rollout", "retention"} <= jobs
    assert all(j.next_run is not None for j in ctrl.sweeps.scheduler.schedule())
    # the same schedule as the dashboard's JSON API serves it
    from federation.web.server import Dashboard

    assert sb.host is not None
    dash = Dashboard(sb.host, settings=None, controller=ctrl)
    body = await dash.api_health_schedule(None)  # type: ignore[arg-type]
    assert body["running"] is True
    assert {j["id"] for j in body["jobs"]} >= {f"vip:{dep}", "member:cn-hangzhou", "retention"}
    assert all(j["nextRun"] for j in body["jobs"])


@pytest.fixture
async def with_slb(tmp_path: Path) -> AsyncIterator[Running]:
    """The sandbox as `fedctl sandbox` runs it: the regional SLB step and its loopback data plane (the
    regions' addresses are the emulated SLBs' VIPs), with the health sweeps."""
    sb = Sandbox(
        tmp_path,
        rollout_delay=0.1,
        dns_provider="embedded",
        controller_config=dataclasses.replace(
            fast_config(), lease_duration=8.0, renew_deadline=6.0, retry_period=0.5
        ),
        slb_health_scale=0.2,
        sweeps=HealthConfig(
            member_interval=0.5,
            rollout_interval=0.5,
            slb_interval=0.5,
            fast_interval=0.05,
            sync_interval=0.5,
            jitter=0.05,
            probe_networks=LOOPBACK_ONLY,
        ),
    )
    await sb.start()
    try:
        run = Running(sb, "embedded")
        await wait_for(run.published, 40, "the example app Ready with its DNS published")
        yield run
    finally:
        await sb.stop()


async def test_slb_backends_and_nodes_fail_a_region_over_and_back(with_slb: Running) -> None:
    run, sb, hz = with_slb, with_slb.sb, "cn-hangzhou"
    emu = sb.emulator
    lb = next(lb for lb in emu.slb.lbs.values() if lb.region == hz)
    vip = (await run.addresses())[hz]

    async def abnormal() -> None:
        for sid in lb.backends:
            emu.set_backend_health(lb.lb_id, sid, "abnormal")

    async def normal() -> None:
        for sid in lb.backends:
            emu.slb.health.pop((lb.lb_id, sid), None)

    VIPS[hz] = vip  # fault_cycle looks the region's address up here
    await fault_cycle(run, hz, "SLB backends normal", abnormal, normal, "slb")

    cluster = sb.sim.cluster(hz)
    nodes = cluster.node_names()

    async def nodes_down() -> None:
        for n in nodes:
            cluster.set_node_ready(n, False)

    async def nodes_up() -> None:
        for n in nodes:
            cluster.set_node_ready(n, True)

    # no Ready node: the nodes signal, the controller's own member probe, or the pods on them not ready
    # (the rollout), whichever sees it first; the nodes signal's transition is checked on its own
    reasons = (f"0/{len(nodes)} nodes Ready", "no node is Ready", "Deployment default/web: 0/")
    await fault_cycle(run, hz, reasons, nodes_down, nodes_up, "nodes")


async def test_thirty_percent_errors_on_the_real_probe_paths_do_not_flap(with_slb: Running) -> None:
    """The pods answer 500 to 30% of requests (the SLB's HTTP health check, DescribeHealthStatus, and
    the VIP probe through the SLB all see it) while the member API fails 30% of the sweeps' probes: at
    most one transition in the region, and DNS keeps answering with it. (The minute-long version of
    this is `fedctl bench failover --flap 60`; the hysteresis tests simulate a thousand minutes.)"""
    import random
    from datetime import UTC, datetime

    from federation.health.hysteresis import State

    run, sb, hz = with_slb, with_slb.sb, "cn-hangzhou"
    vip = (await run.addresses())[hz]
    ctrl = sb.controller
    assert ctrl is not None
    assert ctrl.sweeps is not None
    tracker = ctrl.sweeps.service.tracker

    async def settled() -> bool:
        mine = {k: m for k, m in tracker.machines.items() if (t := tracker.targets.get(k)) and t.region == hz}
        return {k for k, _ in mine} >= {"cluster", "nodes", "rollout", "slb", "endpoint"} and all(
            m.state is State.HEALTHY and not m.confirming for m in mine.values()
        )

    await wait_for(settled, 30, f"every signal of {hz} healthy")
    cluster = sb.sim.cluster(hz)
    assert cluster.nodeports is not None
    started = datetime.now(UTC)
    cluster.nodeports.rng = random.Random(3)
    cluster.nodeports.http_error_rate = 0.3
    cluster.faults.rng = random.Random(3)
    cluster.faults.set("error", rate=1 - 0.7**0.5, status=500, methods={"GET"})  # a probe is two GETs
    try:
        for _ in range(16):
            await asyncio.sleep(0.5)
            assert vip in (await answers(run))["default"]
    finally:
        cluster.nodeports.http_error_rate = 0.0
        cluster.faults.clear()
    assert sb.db is not None
    trs = await sb.db.run(list_transitions, since=started, region=hz)
    assert len(trs) <= 1, [(t.target_kind, t.to_state, t.reason) for t in trs]
    # the errors did reach the probes: the pods answered 500s (to the SLB's health checks, a few VIP
    # probes among them) and failed samples of the member API were stored
    from federation.store.health import sample_history

    assert cluster.nodeports.http_errors > 0
    member_samples = await sb.db.run(sample_history, "cluster", hz, since=started)
    assert any(not s.ok for s in member_samples)
