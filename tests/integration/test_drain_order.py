"""Make before break, end to end in the sandbox: draining cn-hangzhou first scales the other regions up
and waits for them to be ready, then takes cn-hangzhou out of DNS, keeps its replicas for the drain
grace after the provider confirmed the change, and only then scales it down; with alidns failing, the
region keeps its replicas and the app says why. The timeline shows in Events."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from federation.clusters.kubeapi import DEPLOYMENTS, KubeApi
from federation.sandbox.wiring import Sandbox
from tests.integration.conftest import APP, NAMESPACE, Running, fast_config
from tests.waiting import wait_for

GRACE = 2.0
HZ = "cn-hangzhou"


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(fast_config(), drain_grace=GRACE)
    sb = Sandbox(tmp_path, rollout_delay=1.0, dns_provider="alidns", controller_config=config, slb=False)
    await sb.start()
    try:
        running = Running(sb, "alidns")
        await wait_for(running.published, 30, "the example app Ready with its DNS published")
        yield running
    finally:
        await sb.stop()


async def _members(sb: Sandbox) -> dict[str, KubeApi]:
    return {r: await KubeApi.from_kubeconfig_file(sb.kubeconfigs[r], name=f"test-{r}") for r in sb.regions}


async def _deployments(members: dict[str, KubeApi]) -> dict[str, dict[str, Any]]:
    out = {}
    for region, api in members.items():
        dep = await api.get(DEPLOYMENTS, APP, NAMESPACE)
        out[region] = dep or {}
    return out


def _spec(dep: dict[str, Any]) -> int:
    return int((dep.get("spec") or {}).get("replicas") or 0)


def _ready(dep: dict[str, Any]) -> int:
    return int((dep.get("status") or {}).get("readyReplicas") or 0)


async def test_a_drained_region_loses_traffic_before_capacity(run: Running) -> None:
    sb = run.sb
    members = await _members(sb)
    try:
        addresses = await run.addresses()
        before = await _deployments(members)
        hz_replicas = _spec(before[HZ])
        assert hz_replicas > 0
        await run.set_drained(HZ, True)
        dns_out_seen: dict[str, dict[str, Any]] | None = None
        scaled_at: datetime | None = None
        for _ in range(400):  # a timeline sampled every 50 ms
            answers = _published(sb)
            deps = await _deployments(members)
            if dns_out_seen is None and addresses[HZ] not in answers:
                dns_out_seen = deps
            if _spec(deps[HZ]) < hz_replicas:
                # capacity leaves only after traffic did, and after the grace period
                assert dns_out_seen is not None, "cn-hangzhou scaled down while DNS still answered with it"
                scaled_at = datetime.now().astimezone()
                break
            await asyncio.sleep(0.05)
        assert dns_out_seen is not None
        assert scaled_at is not None
        others = [r for r in sb.regions if r != HZ]
        # when DNS moved, the regions taking over already ran their new replicas, ready
        assert all(_spec(dns_out_seen[r]) > _spec(before[r]) for r in others), (
            {r: _spec(d) for r, d in before.items()},
            {r: (_spec(d), _ready(d)) for r, d in dns_out_seen.items()},
        )
        assert all(_ready(dns_out_seen[r]) >= _spec(dns_out_seen[r]) for r in others), (
            {r: _spec(d) for r, d in before.items()},
            {r: (_spec(d), _ready(d)) for r, d in dns_out_seen.items()},
        )
        assert _spec(dns_out_seen[HZ]) == hz_replicas
        hz = (await run.regions())[HZ]
        removed = datetime.fromisoformat(str(hz["dnsRemovedAt"]).replace("Z", "+00:00"))
        assert (scaled_at - removed).total_seconds() >= GRACE - 0.2  # + sampling slack of one clock tick
        await wait_for(lambda: _phase(run, "Drained"), 10, "cn-hangzhou Drained")
        reasons = [e["reason"] for e in await _events(sb)]
        assert (
            reasons.index("RegionDraining") < reasons.index("RegionLeftDNS") < reasons.index("RegionDrained")
        )

        # recovery: replicas first, ready, then DNS
        await run.set_drained(HZ, False)
        for _ in range(400):
            if addresses[HZ] in _published(sb):
                deps = await _deployments(members)
                assert _ready(deps[HZ]) >= _spec(deps[HZ]) > 0, "answered before its replicas were ready"
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("cn-hangzhou never came back into DNS")
    finally:
        for api in members.values():
            await api.close()


async def test_when_dns_cannot_change_the_region_keeps_its_replicas(run: Running) -> None:
    sb = run.sb
    assert sb.emulator is not None
    members = await _members(sb)
    try:
        hz_replicas = _spec((await _deployments(members))[HZ])
        for action in ("AddDomainRecord", "DeleteDomainRecord", "UpdateDomainRecord", "SetDNSSLBStatus"):
            sb.emulator.faults.set("alidns", action, error_rate=1.0, error_status=503)
        await run.set_drained(HZ, True)

        async def says_why() -> dict[str, Any] | None:
            hz = (await run.regions())[HZ]
            return hz if "DNS" in str(hz.get("phaseReason")) else None

        hz = await wait_for(says_why, 20, "the app says why cn-hangzhou keeps its replicas")
        assert hz["phase"] == "Draining"
        await asyncio.sleep(GRACE + 1.0)  # longer than the grace period: still nothing may go
        assert _spec((await _deployments(members))[HZ]) == hz_replicas
        assert (await run.regions())[HZ]["servingDNS"] is True
        sb.emulator.faults.clear()
        await wait_for(lambda: _phase(run, "Drained"), 30, "drained once DNS could change")
        assert _spec((await _deployments(members))[HZ]) == 0
    finally:
        for api in members.values():
            await api.close()


def _published(sb: Sandbox) -> set[str]:
    """Every address alidns answers for the app's name, on any line (a weighted answer picks one record
    per query, so asking DNS would not show them all)."""
    assert sb.emulator is not None
    records = sb.emulator.state()["alidns"]["records"]
    return {r["Value"] for r in records if r["RR"] == "www" and r["Type"] == "A" and r["Status"] == "ENABLE"}


async def _phase(run: Running, phase: str) -> bool:
    return (await run.regions())[HZ].get("phase") == phase


async def _events(sb: Sandbox) -> list[dict[str, Any]]:
    from federation.clusters.kubeapi import EVENTS

    assert sb.host is not None
    listed, _ = await sb.host.list(EVENTS, NAMESPACE)
    items = [e for e in listed if (e.get("involvedObject") or {}).get("name") == APP]
    return sorted(
        items, key=lambda e: (e.get("lastTimestamp") or e.get("eventTime") or "", e["metadata"]["name"])
    )


async def test_a_region_removed_from_the_spec_leaves_in_the_same_order(run: Running) -> None:
    from federation.controller.resources import FEDERATEDAPPS

    sb = run.sb
    assert sb.host is not None
    members = await _members(sb)
    try:
        addresses = await run.addresses()
        hz_replicas = _spec((await _deployments(members))[HZ])
        app = await sb.host.get(FEDERATEDAPPS, APP, NAMESPACE)
        assert app is not None
        placement = app["spec"]["placement"]
        placement["regions"] = [r for r in placement["regions"] if r["name"] != HZ]
        await sb.host.merge_patch(FEDERATEDAPPS, APP, {"spec": {"placement": placement}}, NAMESPACE)
        dns_out = False
        draining: dict[str, Any] | None = None
        for _ in range(400):
            published = _published(sb)
            dep = (await _deployments(members))[HZ]
            if not dns_out and addresses[HZ] not in published:
                dns_out, draining = True, (await run.regions()).get(HZ)
            if _spec(dep) < hz_replicas:
                assert dns_out, "cn-hangzhou lost its replicas while DNS still answered with it"
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("cn-hangzhou was never scaled down")
        assert draining is not None
        assert draining["excludedReason"] == "removed from spec.placement.regions"
        assert draining["phase"] == "Draining"

        async def gone() -> bool:
            return HZ not in await run.regions() and not (await _deployments(members))[HZ]

        await wait_for(gone, 20, "cn-hangzhou's Deployment deleted and the region gone from status")
    finally:
        for api in members.values():
            await api.close()
