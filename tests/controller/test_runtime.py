"""The controller runtime: steady state, restarts, leader election, watches."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

import pytest

from federation.api import constants as c
from federation.clusters.kubeapi import DEPLOYMENTS, NAMESPACES, SERVICES, KubeApi, NotLeaderError
from federation.controller.informer import Informer
from federation.controller.leader import LeaderElector
from federation.controller.resources import FEDERATEDAPPS
from federation.sandbox.kube import KubeSimulator
from tests.controller.conftest import REGIONS, World, fast_config, make_app
from tests.waiting import wait_for


def count_requests(world: World) -> collections.Counter[str]:
    """Count the requests every simulated cluster serves, by method (what the API servers see)."""
    seen: collections.Counter[str] = collections.Counter()
    for name, cluster in world.sb.sim.clusters.items():
        route = cluster.server._route

        def counting(request: Any, _route: Callable[..., Any] = route, _name: str = name) -> Any:
            kind = "lease" if "/leases" in request.path else request.method
            seen[kind] += 1
            seen[f"{_name} {kind}"] += 1
            return _route(request)

        cluster.server._route = counting  # type: ignore[method-assign]
    return seen


async def test_steady_state_makes_no_writes(world: World) -> None:
    ctrl = await world.sb.start_controller(fast_config())
    for i in range(3):
        await world.create_app(make_app(name=f"app{i}", replicas=3 + i))
    for i in range(3):
        await world.wait_ready(f"app{i}")
    assert await ctrl.wait_idle()
    seen = count_requests(world)
    before = ctrl.reconciles
    for _ in range(3):  # forced resyncs: every app reconciled again, several probe periods pass
        ctrl.enqueue_all_apps()
        assert await ctrl.wait_idle()
        await asyncio.sleep(0.5)
    assert ctrl.reconciles - before >= 9
    writes = {k: v for k, v in seen.items() if k.split()[-1] in ("POST", "PUT", "PATCH", "DELETE")}
    assert writes == {}
    # reconciles read from watch caches: the only requests are member probes (and the Lease)
    assert seen["host GET"] == 0


async def test_restart_mid_reconcile_converges_without_duplicates(world: World) -> None:
    first = await world.sb.start_controller(fast_config("first", release_on_exit=False))
    stuck = asyncio.Event()
    real_apply = first.propagator.apply_object
    started = done = 0

    async def apply_then_hang(*args: Any, **kwargs: Any) -> Any:
        nonlocal started, done
        started += 1
        if started > 2:  # two objects get written, then the process "dies" half-way
            await asyncio.Event().wait()
        result = await real_apply(*args, **kwargs)
        done += 1
        if done == 2:
            stuck.set()
        return result

    first.propagator.apply_object = apply_then_hang  # type: ignore[method-assign]
    await world.create_app(make_app(replicas=6))
    await asyncio.wait_for(stuck.wait(), 10)
    await world.sb.stop_controller(first)  # a crash: the Lease is not released
    written = [o for r in REGIONS for o in (await world.deployment(r), await world.service(r)) if o]
    assert 1 <= len(written) < 6, [(o["kind"], o["metadata"].get("annotations")) for o in written]

    await world.sb.start_controller(fast_config("second"))
    await world.wait_ready(within=20)
    replicas = await world.replicas()
    assert replicas == {"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2}, (await world.app() or {}).get(
        "status"
    )
    for region in REGIONS:
        for res in (DEPLOYMENTS, SERVICES):
            items, _ = await world.members[region].list(res, "shop", label_selector=f"{c.LABEL_APP}=web")
            assert len(items) == 1, (region, res, [i["metadata"]["name"] for i in items])


async def test_only_the_leader_writes_and_a_standby_takes_over(world: World) -> None:
    a = await world.sb.start_controller(fast_config("a", release_on_exit=False))
    await wait_for(lambda: _is(a.is_leader), 5, "a leads")
    b = await world.sb.start_controller(fast_config("b"))
    await world.create_app(make_app(replicas=3))
    await world.wait_ready()
    await asyncio.sleep(0.6)
    assert a.is_leader
    assert not b.is_leader
    assert b.api_calls() == {}  # the standby does not even watch
    assert b.host.writes == 0

    await world.sb.stop_controller(a)  # dies holding the Lease
    loop = asyncio.get_running_loop()
    died = loop.time()
    await wait_for(lambda: _is(b.is_leader), 5, "b takes over")
    assert loop.time() - died <= fast_config().lease_duration + 2.0  # + a retry period and slack
    await world.patch_spec("web", {"replicas": 6})
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})
    assert b.host.writes > 0


async def _is(value: bool) -> bool:
    return value


async def test_a_leader_cut_off_from_the_api_stops_writing_within_the_renew_deadline(world: World) -> None:
    lease_api = await KubeApi.from_kubeconfig_file(world.sb.kubeconfigs["host"], name="lease")
    elector = LeaderElector(
        lease_api,
        name="cut-off",
        namespace="federation-system",
        identity="x",
        lease_duration=2.0,
        renew_deadline=1.0,
        retry_period=0.2,
    )
    gated = KubeApi(lease_api.api_client, name="gated", write_gate=elector.may_write)
    task = asyncio.create_task(elector.run())
    try:
        await wait_for(lambda: _is(elector.may_write()), 5, "leading")
        await gated.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ok"}})
        world.sb.sim.cluster("host").faults.set("hang")
        loop = asyncio.get_running_loop()
        cut = loop.time()
        await wait_for(lambda: _is(not elector.may_write()), 3, "write gate closed")
        assert loop.time() - cut <= 1.0 + 0.5  # the renew deadline, plus polling slack
        try:
            await gated.create(
                NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "no"}}
            )
        except NotLeaderError:
            pass
        else:
            raise AssertionError("a write went out after the lease was lost")
    finally:
        world.sb.sim.cluster("host").faults.clear()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await lease_api.close()


async def test_informer_relists_after_410_and_misses_nothing(tmp_path: Any) -> None:
    sim = KubeSimulator(rollout_delay=0.1, history_size=20)
    cluster = await sim.add_cluster("one", region="cn-hangzhou", nodes=1)
    api = await KubeApi.from_kubeconfig_file(cluster.kubeconfig_path(tmp_path), name="one")
    changes: list[tuple[str, bool]] = []
    inf = Informer(
        api, NAMESPACES, lambda key, old, new: changes.append((key, new is not None)), watch_timeout=5
    )
    try:
        inf.start()
        await asyncio.wait_for(inf.synced.wait(), 5)
        await inf.stop()
        stale = inf.resource_version
        for i in range(40):  # far more changes than the server keeps
            await api.create(
                NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"n{i}"}}
            )
        inf.resource_version = stale
        inf.start()
        await wait_for(lambda: _is(len(inf.cache) >= 40 + 1 and inf.relists >= 2), 10, "relist")
        assert {f"n{i}" for i in range(40)} <= set(inf.cache)
        assert ("n39", True) in changes
    finally:
        await inf.stop()
        await api.close()
        await sim.stop()


@pytest.mark.kubectl
async def test_the_app_status_is_what_kubectl_shows(world: World) -> None:
    import json
    import subprocess

    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=4))
    await world.wait_ready()
    out = await asyncio.to_thread(
        subprocess.run,
        [
            "kubectl",
            "--kubeconfig",
            str(world.sb.kubeconfigs["host"]),
            "get",
            "federatedapp",
            "web",
            "-n",
            "shop",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    app = json.loads(out.stdout)
    assert app["status"]["regionsReady"] == "3/3"
    assert {cd["type"]: cd["status"] for cd in app["status"]["conditions"]}["Ready"] == "True"
    got = await world.host.get(FEDERATEDAPPS, "web", "shop")
    assert got is not None
    assert got["status"] == app["status"]
