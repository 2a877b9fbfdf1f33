"""`fedctl bench slb`: SLB API calls per app made by the regional SLB step, phase by phase.

Runs the sandbox in-process (simulated clusters, the Alibaba Cloud emulator, the controller with its
SLB step in Managed mode), creates N apps over the sandbox's regions and counts the emulator's SLB calls
per app, split into reads and writes:

1. first create: from nothing to every app's SLBs with listeners and backends;
2. steady state, a resync: every app reconciled with every regional listing due (the step's one paged
   DescribeLoadBalancers per region, shared by all apps);
3. steady state, between resyncs: every app reconciled again (nothing due: no call at all);
4. node churn: in every region one node joins and another goes NotReady;
5. delete: every app deleted until its finalizer is gone.

DescribeHealthStatus (the backend-health sweeps, one per SLB per sweep interval) runs on its own clock
and is reported on its own line. It prints numbers and asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from federation.api import constants as c
from federation.controller.manager import ControllerConfig
from federation.controller.resources import FEDERATEDAPPS
from federation.sandbox.wiring import SYSTEM_NAMESPACE, Sandbox

READS = ("Describe", "List")
HEALTH = "DescribeHealthStatus"


def bench_app(name: str, regions: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "replicas": len(regions),
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": r} for r in regions]},
            "ports": [{"name": "http", "port": 80, "protocol": "HTTP"}, {"name": "raw", "port": 9000}],
            "dns": {"zone": "example.com", "hostname": f"{name}.example.com"},
        },
    }


def _split(calls: dict[str, int]) -> dict[str, int]:
    slb = {k.removeprefix("Slb."): v for k, v in calls.items() if k.startswith("Slb.")}
    return {
        "reads": sum(v for k, v in slb.items() if k.startswith(READS) and k != HEALTH),
        "writes": sum(v for k, v in slb.items() if not k.startswith(READS)),
        "health_reads": slb.get(HEALTH, 0),
    }


async def _wait(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise click.ClickException(f"timed out after {within:.0f}s waiting for {what}")


async def run_bench(apps: int, within: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fedctl-bench-slb-") as tmp:
        sb = Sandbox(
            Path(tmp),
            rollout_delay=0.05,
            dns_provider="embedded",
            apply_example=False,
            controller_config=ControllerConfig(
                namespace=SYSTEM_NAMESPACE,
                identity="bench-slb",
                workers=16,
                probe_interval=1.0,
                resync=3600.0,
                slb_health_interval=3600.0,  # the sweeps once at start, then out of the counts' way
            ),
        )
        await sb.start()
        try:
            return await _phases(sb, apps, within)
        finally:
            await sb.stop()


async def _phases(sb: Sandbox, apps: int, within: float) -> dict[str, Any]:
    host, emu, ctrl = sb.host, sb.emulator, sb.controller
    assert host is not None
    assert emu is not None
    assert ctrl is not None
    assert ctrl.slb_step is not None
    step = ctrl.slb_step
    regions = list(sb.regions)
    names = [f"app{i:04d}" for i in range(apps)]
    await sb.ensure_namespace("bench")
    out: dict[str, Any] = {"apps": apps, "regions": len(regions)}

    async def all_ready() -> bool:
        items, _ = await host.list(FEDERATEDAPPS, "bench")
        ok = 0
        for app in items:
            conds = {cd["type"]: cd["status"] for cd in (app.get("status") or {}).get("conditions") or []}
            ok += conds.get(c.COND_LOAD_BALANCERS_READY) == "True"
        return ok == apps

    async def idle() -> None:
        if not await ctrl.wait_idle(within, settle=0.5):
            raise click.ClickException("the controller did not settle")

    emu.reset_call_counts()
    started = time.monotonic()
    for name in names:
        await host.create(FEDERATEDAPPS, bench_app(name, regions), "bench")
    await _wait(all_ready, within, f"{apps} apps with their SLBs ready")
    await idle()
    out["create_seconds"] = round(time.monotonic() - started, 2)
    out["create"] = _split(emu.call_counts())

    emu.reset_call_counts()
    step.expire_listings()  # what a resync interval passing does
    ctrl.enqueue_all_apps()
    await idle()
    out["resync"] = _split(emu.call_counts())

    emu.reset_call_counts()
    ctrl.enqueue_all_apps()
    await idle()
    out["steady"] = _split(emu.call_counts())

    emu.reset_call_counts()
    out["health_sweep_slbs"] = await step.sweep_health()
    out["health_sweep"] = _split(emu.call_counts())

    emu.reset_call_counts()
    for region in regions:
        cluster = sb.sim.cluster(region)
        before = sorted(cluster.node_names())
        cluster.add_node(len(before) + 10)
        cluster.set_node_ready(before[0], False)
    await asyncio.sleep(1.0)
    await idle()
    out["node_churn"] = _split(emu.call_counts())

    emu.reset_call_counts()
    for name in names:
        await host.delete(FEDERATEDAPPS, name, "bench")

    async def all_gone() -> bool:
        items, _ = await host.list(FEDERATEDAPPS, "bench")
        return not items

    await _wait(all_gone, within, "every app deleted")
    out["delete"] = _split(emu.call_counts())
    out["slbs_left"] = len(emu.slb.lbs)
    return out


def _per_app(counts: dict[str, int], apps: int) -> str:
    return f"{counts['reads'] / apps:.2f} reads, {counts['writes'] / apps:.2f} writes"


@click.command("slb")
@click.option("--apps", type=click.IntRange(1), default=20, show_default=True, help="Apps (3 regions each).")
@click.option("--timeout", type=click.FloatRange(1), default=300.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_slb(apps: int, timeout: float, as_json: bool) -> None:
    """SLB API calls per app: first create, a resync, steady state, node churn, delete."""
    logging.getLogger("federation").setLevel(logging.WARNING)
    out = asyncio.run(run_bench(apps, timeout))
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
        return
    n = out["apps"]
    click.echo(f"SLB API calls per app ({n} apps x {out['regions']} regions, 2 ports, 3 nodes per region)")
    click.echo(f"  first create     {_per_app(out['create'], n)}   ({out['create_seconds']} s for all)")
    click.echo(f"  resync           {_per_app(out['resync'], n)}   (one listing per region, shared)")
    click.echo(f"  steady state     {_per_app(out['steady'], n)}")
    click.echo(f"  node churn       {_per_app(out['node_churn'], n)}   (per region: +1 node, 1 NotReady)")
    click.echo(f"  delete           {_per_app(out['delete'], n)}   ({out['slbs_left']} SLBs left)")
    sweep = out["health_sweep"]["health_reads"]
    click.echo(
        f"  a health sweep   {sweep / n:.2f} DescribeHealthStatus per app "
        f"({sweep} for {out['health_sweep_slbs']} SLBs; every slb_health_interval, on its own clock)"
    )
