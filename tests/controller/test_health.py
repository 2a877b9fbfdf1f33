"""Regions failing and recovering: replicas move out and back as the app's placement asks."""

from __future__ import annotations

import logging

import pytest

from federation.api import constants as c
from federation.clusters.kubeapi import SECRETS
from federation.controller.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.sandbox.wiring import SYSTEM_NAMESPACE
from tests.controller.conftest import World, fast_config, make_app
from tests.waiting import wait_for


async def _region(world: World, region: str) -> dict:
    app = await world.app()
    for r in ((app or {}).get("status") or {}).get("regions") or []:
        if r["region"] == region:
            return r
    return {}


async def test_member_down_moves_replicas_out_and_back(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=6))
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})
    await world.wait_ready()

    world.sb.sim.cluster("cn-beijing").faults.set("down")

    async def moved() -> bool:
        r = await world.replicas()
        return r["cn-hangzhou"] == 3 and r["eu-central-1"] == 3

    await wait_for(moved, 10, "replicas moved off cn-beijing")
    bj = await _region(world, "cn-beijing")
    assert bj["desiredReplicas"] == 0
    assert bj["reachable"] is False
    assert "unreachable" in bj["excludedReason"]
    assert await world.condition("Degraded") == ("True", "MemberUnreachable")
    assert await world.events("RegionExcluded")
    assert await world.events("MemberUnreachable")
    mc = await world.host.get(MEMBERCLUSTERS, "cn-beijing")
    conds = {cd["type"]: cd["status"] for cd in mc["status"]["conditions"]}  # type: ignore[index]
    assert conds == {"Reachable": "False", "Ready": "False"}

    world.sb.sim.cluster("cn-beijing").faults.clear()
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})
    await world.wait_ready()
    assert await world.events("RegionRecovered")

    async def reachable_again() -> bool:
        mc = await world.host.get(MEMBERCLUSTERS, "cn-beijing")
        st = (mc or {}).get("status") or {}
        return {cd["type"]: cd["status"] for cd in st.get("conditions") or []} == {
            "Reachable": "True",
            "Ready": "True",
        }

    await wait_for(reachable_again, 10, "MemberCluster status Reachable and Ready again")
    st = (await world.host.get(MEMBERCLUSTERS, "cn-beijing"))["status"]  # type: ignore[index]
    assert st["kubernetesVersion"].startswith("v1.")
    assert st["nodeCount"] == 3
    assert st["apiLatencyMs"] >= 0


async def test_a_hanging_member_is_cut_off_by_timeouts(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=6))
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})
    world.sb.sim.cluster("eu-central-1").faults.set("hang")
    try:

        async def moved() -> bool:
            return "unreachable" in ((await _region(world, "eu-central-1")).get("excludedReason") or "")

        await wait_for(moved, 10, "eu-central-1 excluded")
        for region in ("cn-hangzhou", "cn-beijing"):
            dep = await world.deployment(region)
            assert dep is not None
            assert dep["spec"]["replicas"] == 3
    finally:
        world.sb.sim.cluster("eu-central-1").faults.clear()
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})


async def test_recovery_without_rebalance_holds_the_region_until_the_spec_changes(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=6, rebalanceOnRecovery=False))
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})

    await world.host.merge_patch(
        MEMBERCLUSTERS,
        "cn-hangzhou",
        {"metadata": {"annotations": {c.ANNOTATION_REGION_HEALTH: c.HEALTH_OVERRIDE_UNHEALTHY}}},
    )
    await world.wait_replicas({"cn-hangzhou": 0, "cn-beijing": 3, "eu-central-1": 3})
    hz = await _region(world, "cn-hangzhou")
    assert "drained" in hz["excludedReason"]

    await world.host.merge_patch(
        MEMBERCLUSTERS, "cn-hangzhou", {"metadata": {"annotations": {c.ANNOTATION_REGION_HEALTH: None}}}
    )

    async def held() -> bool:
        reason = (await _region(world, "cn-hangzhou")).get("excludedReason") or ""
        return "rebalanceOnRecovery=false" in reason

    await wait_for(held, 10, "cn-hangzhou held")
    assert await world.replicas() == {"cn-hangzhou": 0, "cn-beijing": 3, "eu-central-1": 3}

    # editing the app is the explicit rebalance
    await world.patch_spec("web", {"replicas": 9})
    await world.wait_replicas({"cn-hangzhou": 3, "cn-beijing": 3, "eu-central-1": 3})


async def test_a_kept_unhealthy_region_says_why_beside_its_health(world: World) -> None:
    # rescheduleOnFailure: false keeps the replicas, so no excludedReason: the reason is healthReason
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=6, rescheduleOnFailure=False))
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})
    await world.host.merge_patch(
        MEMBERCLUSTERS,
        "cn-hangzhou",
        {"metadata": {"annotations": {c.ANNOTATION_REGION_HEALTH: c.HEALTH_OVERRIDE_UNHEALTHY}}},
    )

    async def unhealthy() -> dict | None:
        hz = await _region(world, "cn-hangzhou")
        return hz if hz.get("health") == "Unhealthy" else None

    hz = await wait_for(unhealthy, 10, "cn-hangzhou Unhealthy")
    assert "drained" in hz["healthReason"]
    assert not hz.get("excludedReason")
    assert hz["desiredReplicas"] == 2
    events = await world.events("RegionUnhealthy")
    assert any("cn-hangzhou: drained" in str(e.get("message")) for e in events), events

    await world.host.merge_patch(
        MEMBERCLUSTERS, "cn-hangzhou", {"metadata": {"annotations": {c.ANNOTATION_REGION_HEALTH: None}}}
    )

    async def healthy() -> bool:
        hz = await _region(world, "cn-hangzhou")
        return hz.get("health") == "Healthy" and "healthReason" not in hz

    await wait_for(healthy, 10, "cn-hangzhou Healthy with no reason")


async def test_failover_strategy_follows_the_order(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(
        make_app(replicas=4, strategy="Failover", failoverOrder=["eu-central-1", "cn-hangzhou", "cn-beijing"])
    )
    await world.wait_replicas({"cn-hangzhou": 0, "cn-beijing": 0, "eu-central-1": 4})
    world.sb.sim.cluster("eu-central-1").faults.set("down")
    await world.wait_replicas({"cn-hangzhou": 4, "cn-beijing": 0, "eu-central-1": "unreachable"})
    world.sb.sim.cluster("eu-central-1").faults.clear()
    await world.wait_replicas({"cn-hangzhou": 0, "cn-beijing": 0, "eu-central-1": 4})


async def test_unreachable_member_blocks_deletion_and_is_shown(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app())
    await world.wait_ready()
    world.sb.sim.cluster("eu-central-1").faults.set("down")
    await wait_for(lambda: _unreachable(world), 10, "eu-central-1 unreachable")

    await world.host.delete(FEDERATEDAPPS, "web", "shop")

    async def blocked() -> bool:
        return await world.condition("Degraded") == ("True", "CleanupBlocked")

    await wait_for(blocked, 10, "deletion blocked")
    app = await world.app()
    assert app is not None
    assert c.FINALIZER in app["metadata"]["finalizers"]
    eu = await _region(world, "eu-central-1")
    assert eu["reachable"] is False
    assert await world.deployment("cn-hangzhou") is None  # the reachable members are cleaned already

    world.sb.sim.cluster("eu-central-1").faults.clear()

    async def gone() -> bool:
        return await world.app() is None

    await wait_for(gone, 15, "deletion finished")
    assert await world.deployment("eu-central-1") is None


async def _unreachable(world: World) -> bool:
    return (await _region(world, "eu-central-1")).get("reachable") is False


async def test_a_broken_kubeconfig_secret_degrades_only_that_member_and_never_leaks(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=6))
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})
    token = world.sb.sim.cluster("cn-beijing").token

    garbage = {"data": {"kubeconfig": "bm90IHlhbWw6IFs="}}  # base64 of "not yaml: ["
    await world.host.merge_patch(SECRETS, "cn-beijing-kubeconfig", garbage, SYSTEM_NAMESPACE)

    async def excluded() -> bool:
        return "kubeconfig" in ((await _region(world, "cn-beijing")).get("excludedReason") or "")

    await wait_for(excluded, 10, "cn-beijing excluded for its kubeconfig")
    r = await world.replicas()
    assert r["cn-hangzhou"] == 3
    assert r["eu-central-1"] == 3
    mc = await world.host.get(MEMBERCLUSTERS, "cn-beijing")
    text = str(mc) + str(await world.app()) + str(await world.events("RegionExcluded")) + caplog.text
    assert token not in text
    assert "secret federation-system/cn-beijing-kubeconfig" in str(mc)

    # restoring the Secret brings a fresh client and the region back
    await world.sb.host.delete(SECRETS, "cn-beijing-kubeconfig", SYSTEM_NAMESPACE)  # type: ignore[union-attr]
    await world.sb.register_member("cn-beijing", "cn-beijing")
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})
