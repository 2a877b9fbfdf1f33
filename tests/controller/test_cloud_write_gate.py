"""Cloud writes pass the leader's write gate as Kubernetes writes do: a leader cut off from the host
API has its pending alidns writes refused once its renew deadline has passed, and `fedctl run` wires
the gate into the client every cloud adapter calls through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from federation.backoff import RetryPolicy
from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.clusters.kubeapi import NAMESPACES, KubeApi
from federation.controller.leader import LeaderElector
from federation.controller.manager import ControllerConfig
from federation.dns.plan import Change, Plan
from federation.dns.providers import DnsProviderError
from federation.dns.providers.alidns import AlidnsProvider
from federation.dns.publisher import DnsPublisher
from federation.dns.records import DEFAULT_LINE, Record
from federation.dns.runtime import DnsRuntime
from federation.runtime import build_controller
from federation.sandbox.aliyun import AliyunEmulator
from federation.sandbox.kube import KubeSimulator, SimCluster
from tests.waiting import wait_for

ZONE = "example.com"


@dataclass
class Stage:
    sim: KubeSimulator
    host: SimCluster
    lease_api: KubeApi
    emu: AliyunEmulator


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    sim = KubeSimulator(rollout_delay=0.1)
    emu = AliyunEmulator(domains=[ZONE], edition="enterprise_standard", seed=3)
    await emu.start("127.0.0.1", 0, dns_port=None)
    host = await sim.add_cluster("host", region="cn-hangzhou", nodes=1)
    api = await KubeApi.from_kubeconfig_file(host.kubeconfig_path(tmp_path), name="lease")
    await api.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "federation-system"}}
    )
    try:
        yield Stage(sim, host, api, emu)
    finally:
        host.faults.clear()
        await api.close()
        await emu.stop()
        await sim.stop()


def _client(emu: AliyunEmulator, **kw: object) -> AlibabaClient:
    return AlibabaClient(
        emu.access_key_id,
        emu.access_key_secret,
        "cn-hangzhou",
        endpoint=emu.endpoint,
        retry=RetryPolicy(max_attempts=200, base_delay=0.05, max_delay=0.1, max_elapsed=20),
        **kw,  # type: ignore[arg-type]
    )


def _names(emu: AliyunEmulator) -> set[str]:
    return {r["RR"] for r in emu.state()["alidns"]["records"]}


async def _leading(elector: LeaderElector) -> bool:
    return elector.may_write()


async def _not_leading(elector: LeaderElector) -> bool:
    return not elector.may_write()


async def test_a_partitioned_leaders_pending_cloud_writes_are_refused(stage: Stage) -> None:
    elector = LeaderElector(
        stage.lease_api,
        name="cloud-gate",
        namespace="federation-system",
        identity="x",
        lease_duration=2.0,
        renew_deadline=1.0,
        retry_period=0.2,
    )
    client = _client(stage.emu, write_gate=elector.may_write)
    provider = AlidnsProvider(AlidnsApi(client), zones=[ZONE])
    electing = asyncio.create_task(elector.run())
    try:
        await wait_for(lambda: _leading(elector), 5, "leading")
        www = Record(f"www.{ZONE}", "A", DEFAULT_LINE, "192.0.2.1", 600)
        await provider.apply(Plan(ZONE, (Change("create", www),)))  # the gate is open
        assert "www" in _names(stage.emu)

        stage.emu.faults.set("alidns", "AddDomainRecord", throttle=1.0)  # the next write waits, retrying
        api = Record(f"api.{ZONE}", "A", DEFAULT_LINE, "192.0.2.2", 600)
        pending = asyncio.create_task(provider.apply(Plan(ZONE, (Change("create", api),))))
        await asyncio.sleep(0.3)
        assert not pending.done()
        stage.host.faults.set("hang")  # the leader is cut off from its host API: no renewal gets through
        await wait_for(lambda: _not_leading(elector), 3, "write gate closed")
        stage.emu.faults.clear()  # alidns would take the write now: only the gate can stop it
        with pytest.raises(DnsProviderError) as refused:
            await asyncio.wait_for(pending, 10)
        assert refused.value.code == "NotLeader"
        assert "api" not in _names(stage.emu)
        assert await provider.records(ZONE) == [www]  # reads are not gated
    finally:
        electing.cancel()
        await asyncio.gather(electing, return_exceptions=True)
        await client.close()


async def test_the_controller_wires_its_gate_into_the_cloud_client(stage: Stage) -> None:
    client = _client(stage.emu)
    dns = DnsRuntime(DnsPublisher(AlidnsProvider(AlidnsApi(client), zones=[ZONE])), cloud=client)
    try:
        controller = build_controller(stage.lease_api, ControllerConfig(identity="y"), dns=dns)
        assert client.write_gate == controller.elector.may_write
        assert not controller.elector.may_write()  # not elected: nothing may be written
        provider = AlidnsProvider(AlidnsApi(client), zones=[ZONE])
        with pytest.raises(DnsProviderError) as refused:
            await provider.apply(
                Plan(ZONE, (Change("create", Record(f"x.{ZONE}", "A", DEFAULT_LINE, "192.0.2.9", 600)),))
            )
        assert refused.value.code == "NotLeader"
        assert _names(stage.emu) == set()
    finally:
        await client.close()
