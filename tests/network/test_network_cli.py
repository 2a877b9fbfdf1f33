"""`fedctl network check` and `attach` as an operator runs them: a simulated host cluster with the
fleet's MemberClusters and apps, the Alibaba Cloud emulator's CEN over HTTP with the real SDK."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from federation.clusters.kubeapi import KubeApi
from federation.clusters.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.sandbox.aliyun import AliyunEmulator
from federation.sandbox.kube import KubeSimulator
from federation.sandbox.wiring import apply_crds
from tests.fedctl_cli import fedctl as run_fedctl

REGIONS = {"hz": "cn-hangzhou", "bj": "cn-beijing", "fra": "eu-central-1"}


def member(name: str, cen_id: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "region": REGIONS[name],
        "kubeconfigSecretRef": {"name": f"{name}-kubeconfig", "namespace": "federation-system"},
    }
    if cen_id:
        spec.update(cenId=cen_id, vpcId=f"vpc-{name}")
    return {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "MemberCluster",
        "metadata": {"name": name},
        "spec": spec,
    }


def app(name: str, regions: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "FederatedApp",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
            "ports": [{"name": "http", "port": 80}],
            "placement": {"regions": [{"name": r} for r in regions]},
            "dns": {"zone": "example.com", "hostname": f"{name}.example.com"},
        },
    }


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    emu = AliyunEmulator(domains=["example.com"], cen_transition_delay=1.0, seed=3)
    await emu.start("127.0.0.1", 0, dns_port=None)
    sim = KubeSimulator(rollout_delay=0.1)
    host = await sim.add_cluster("host", region="cn-hangzhou", nodes=1)
    kc = host.kubeconfig_path(tmp_path)
    api = await KubeApi.from_kubeconfig_file(kc)
    await apply_crds(api)
    env = {
        **os.environ,
        "FEDCTL_ALIBABA_ACCESS_KEY_ID": emu.access_key_id,
        "FEDCTL_ALIBABA_ACCESS_KEY_SECRET": emu.access_key_secret,
        "FEDCTL_ALIBABA_ENDPOINT": emu.endpoint,
        "FEDCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
    }
    try:
        yield {"emu": emu, "host": api, "kc": kc, "env": env}
    finally:
        await api.close()
        await sim.stop()
        await emu.stop()


async def fedctl(world: dict[str, Any], *args: str) -> tuple[int, str, str]:
    return await run_fedctl("network", *args, "--kubeconfig", str(world["kc"]), env=world["env"])


def row(out: str, a: str, b: str) -> str:
    found = [line for line in out.splitlines() if line.split()[:2] == [a, b]]
    assert len(found) == 1, out
    return found[0]


async def test_check_names_each_problem_and_attach_fixes_one(world: dict[str, Any]) -> None:
    from federation.cloud.alibaba.cen import CenApi
    from federation.cloud.alibaba.client import AlibabaClient

    emu: AliyunEmulator = world["emu"]
    cen = CenApi(
        AlibabaClient(emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint)
    )
    cen_id = await cen.create_cen("fleet", client_token="t-1")
    host: KubeApi = world["host"]
    for name in ("hz", "bj"):
        await host.create(MEMBERCLUSTERS, member(name, cen_id))
    await host.create(MEMBERCLUSTERS, member("fra", "cen-doesnotexist"))
    await host.create(FEDERATEDAPPS, app("web", ["cn-hangzhou", "cn-beijing"]), "default")
    await host.create(FEDERATEDAPPS, app("eu", ["cn-hangzhou", "eu-central-1"]), "default")
    await cen.attach_child_instance(cen_id, "vpc-bj", "cn-beijing")

    rc, out, err = await fedctl(world, "check")
    assert rc == 1, out + err
    line = row(out, "cn-beijing", "cn-hangzhou")
    assert "NO" in line
    assert "VPC vpc-hz of MemberCluster hz is not attached" in line
    assert "fedctl network attach hz" in line
    assert "CenNotFound" in out  # fra names a CEN that does not exist
    assert "hz (cn-hangzhou): NOT ready: NotAttached" in out
    assert " ms (" in row(out, "cn-beijing", "cn-hangzhou")  # the RTT and its source

    rc, out, err = await fedctl(world, "attach", "hz")
    assert rc == 0, err
    assert "attaching" in out
    rc, out, _ = await fedctl(world, "attach", "hz")  # idempotent: no second AttachCenChildInstance
    assert rc == 0
    assert "already attaching" in out or "already attached" in out
    assert emu.call_counts().get("Cbn.AttachCenChildInstance", 0) == 2  # ours (setup) + the first attach only

    await asyncio.sleep(1.2)  # the emulator's attaching delay
    rc, out, _ = await fedctl(world, "check")
    line = row(out, "cn-beijing", "cn-hangzhou")
    assert "NoBandwidth" not in line  # the WHY column says it in words
    assert "no inter-region bandwidth cn-beijing<->cn-hangzhou" in line or "cn-hangzhou<->cn-beijing" in line

    pkg = await cen.create_bandwidth_package(10, "China", "China", client_token="p-1")
    await cen.associate_bandwidth_package(cen_id, pkg)
    await cen.set_inter_region_bandwidth_limit(cen_id, "cn-hangzhou", "cn-beijing", 5)
    rc, out, _ = await fedctl(world, "check")
    line = row(out, "cn-beijing", "cn-hangzhou")
    assert "5 Mbps" in line
    assert line.split()[-1] == "yes", line  # OK column, nothing in WHY
    assert "hz (cn-hangzhou): NetworkReady" not in out  # hz is still paired with fra, which is broken
    assert rc == 1  # the eu app's pair cannot carry traffic
    await cen.client.close()


async def test_attach_refuses_a_member_without_network_fields(world: dict[str, Any]) -> None:
    await world["host"].create(MEMBERCLUSTERS, member("hz", None))
    rc, _, err = await fedctl(world, "attach", "hz")
    assert rc == 1
    assert "spec.cenId and spec.vpcId are both required" in err
    rc, _, err = await fedctl(world, "attach", "nosuch")
    assert rc == 1
    assert "MemberCluster nosuch not found" in err
