"""The controller's CEN check over the sandbox: a member whose VPC is not attached gets NetworkReady
False (NotAttached), an app whose regions cannot reach each other is Degraded naming the pair, and
both clear once the VPC is attached and the pair has bandwidth; all with read calls only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from federation.api import constants as c
from federation.cloud.alibaba.cen import CenApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.controller.resources import MEMBERCLUSTERS
from federation.network.monitor import NetworkMonitor
from federation.sandbox.wiring import Sandbox
from tests.integration.conftest import Running, fast_config
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    sb = Sandbox(tmp_path, rollout_delay=0.1, dns_provider="alidns", controller_config=fast_config())
    await sb.start()
    try:
        run = Running(sb, "alidns")
        await wait_for(run.published, 20, "the example app Ready with its DNS published")
        yield run
    finally:
        await sb.stop()


async def member_condition(run: Running, name: str) -> dict[str, Any] | None:
    assert run.sb.host is not None
    mc = await run.sb.host.get(MEMBERCLUSTERS, name)
    for cd in ((mc or {}).get("status") or {}).get("conditions") or []:
        if cd["type"] == c.COND_NETWORK_READY:
            return dict(cd)
    return None


async def app_degraded(run: Running) -> dict[str, Any]:
    for cd in (await run.status()).get("conditions") or []:
        if cd["type"] == c.COND_DEGRADED:
            return dict(cd)
    return {}


async def test_network_verdicts_reach_members_and_apps(running: Running) -> None:
    sb = running.sb
    emu = sb.emulator
    cen = CenApi(
        AlibabaClient(emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint)
    )
    cen_id = await cen.create_cen("fleet", client_token="fleet-1")
    assert sb.host is not None
    for name in ("cn-hangzhou", "cn-beijing"):
        vpc = "vpc-" + name.replace("-", "")
        await sb.host.merge_patch(MEMBERCLUSTERS, name, {"spec": {"cenId": cen_id, "vpcId": vpc}})
    await cen.attach_child_instance(cen_id, "vpc-cnhangzhou", "cn-hangzhou")

    ctrl = sb.controller
    assert ctrl is not None
    monitor: NetworkMonitor = ctrl.check_network(cen, interval=0.3)
    await monitor.start()
    try:

        async def beijing_not_attached() -> bool:
            cd = await member_condition(running, "cn-beijing")
            return cd is not None and (cd["status"], cd["reason"]) == ("False", "NotAttached")

        await wait_for(beijing_not_attached, 20, "cn-beijing NetworkReady False NotAttached")

        async def app_names_the_pair() -> bool:
            cd = await app_degraded(running)
            return (
                cd.get("status") == "True"
                and "cn-beijing" in cd.get("message", "")
                and ("cn-hangzhou" in cd.get("message", ""))
            )

        await wait_for(app_names_the_pair, 20, "the app Degraded naming cn-hangzhou and cn-beijing")
        assert await member_condition(running, "eu-central-1") is None  # no cenId: not judged

        async def hangzhou_attached() -> bool:  # CEN takes one attachment at a time
            children = await cen.describe_attached_child_instances(cen_id)
            return [ch["Status"] for ch in children] == ["Attached"]

        await wait_for(hangzhou_attached, 20, "vpc-cnhangzhou Attached")
        await cen.attach_child_instance(cen_id, "vpc-cnbeijing", "cn-beijing")

        async def no_bandwidth() -> bool:
            cd = await member_condition(running, "cn-beijing")
            return cd is not None and cd["reason"] == "NoBandwidth"

        await wait_for(no_bandwidth, 20, "cn-beijing attached but without inter-region bandwidth")
        assert "cn-beijing<->cn-hangzhou" in (await app_degraded(running))["message"] or (
            "cn-hangzhou<->cn-beijing" in (await app_degraded(running))["message"]
        )

        pkg = await cen.create_bandwidth_package(10, "China", "China", client_token="pkg-1")
        await cen.associate_bandwidth_package(cen_id, pkg)
        await cen.set_inter_region_bandwidth_limit(cen_id, "cn-hangzhou", "cn-beijing", 5)
        emu.reset_call_counts()

        async def all_ready() -> bool:
            hz, bj = (
                await member_condition(running, "cn-hangzhou"),
                await member_condition(running, "cn-beijing"),
            )
            deg = await app_degraded(running)
            return bool(hz and bj and hz["status"] == bj["status"] == "True" and deg.get("status") == "False")

        await wait_for(all_ready, 20, "both members NetworkReady and the app no longer Degraded")
        # the check only reads
        cbn_calls = {k: v for k, v in emu.call_counts().items() if k.startswith("Cbn.")}
        assert cbn_calls
        assert all(k.split(".", 1)[1].startswith("Describe") for k in cbn_calls), cbn_calls
    finally:
        await monitor.stop()
        await cen.client.close()
