"""The join preflight as an operator meets it: `fedctl join` prints every check with a verdict and why,
refuses on a failure unless --force, changes nothing with --check-only, and `fedctl preflight MEMBER`
re-runs the checks for a joined member. Simulated clusters over HTTPS, the ECS API of the emulator
over HTTP with the real SDK, and Pods that read the node's sysctl."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from federation.clusters.kubeapi import NODES, PODS, KubeApi
from federation.clusters.resources import MEMBERCLUSTERS
from federation.preflight import checks
from federation.sandbox.aliyun import AliyunEmulator
from federation.sandbox.kube import KubeSimulator
from federation.sandbox.kube.podrun import SYSCTL_ANNOTATION
from federation.sandbox.wiring import apply_crds
from tests.fedctl_cli import fedctl as run_fedctl


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    emu = AliyunEmulator(domains=["example.com"], seed=5)
    await emu.start("127.0.0.1", 0, dns_port=None)
    sim = KubeSimulator(rollout_delay=0.1)
    host = await sim.add_cluster("host", region="cn-hangzhou", nodes=1)
    member = await sim.add_cluster("bj", region="cn-beijing", zones=["cn-beijing-a", "cn-beijing-b"], nodes=2)
    host_kc, member_kc = host.kubeconfig_path(tmp_path), member.kubeconfig_path(tmp_path)
    api = await KubeApi.from_kubeconfig_file(host_kc)
    await apply_crds(api)
    mapi = await KubeApi.from_kubeconfig_file(member_kc)
    nodes, _ = await mapi.list(NODES)
    for n in nodes:  # the member's nodes are ECS instances of the region
        emu.slb.register_instance("cn-beijing", checks.instance_id(n, "cn-beijing") or "")
    env = {
        **os.environ,
        "FEDCTL_ALIBABA_ACCESS_KEY_ID": emu.access_key_id,
        "FEDCTL_ALIBABA_ACCESS_KEY_SECRET": emu.access_key_secret,
        "FEDCTL_ALIBABA_ENDPOINT": emu.endpoint,
    }
    try:
        yield {
            "emu": emu,
            "member": member,
            "mapi": mapi,
            "host": api,
            "nodes": nodes,
            "env": env,
            "base": [
                "--member-kubeconfig",
                str(member_kc),
                "--region",
                "cn-beijing",
                "--kubeconfig",
                str(host_kc),
            ],
            "host_kc": host_kc,
        }
    finally:
        await mapi.close()
        await api.close()
        await sim.stop()
        await emu.stop()


async def fedctl(world: dict[str, Any], *args: str) -> tuple[int, str, str]:
    return await run_fedctl(*args, env=world["env"])


def verdicts(out: str) -> dict[str, str]:
    """check name -> PASS/WARN/FAIL/SKIP from the printed table."""
    got = {}
    for line in out.splitlines():
        word = line.split(maxsplit=1)
        if word and word[0] in ("PASS", "WARN", "FAIL", "SKIP"):
            rest = word[1]
            name = next(
                n
                for n in (
                    "API",
                    "permissions",
                    "providerID",
                    "hostnames",
                    "zones",
                    "security groups",
                    checks.SYSCTL,
                )
                if rest.startswith(n)
            )
            got[name] = word[0]
    return got


async def test_a_healthy_member_passes_every_check_and_joins(world: dict[str, Any]) -> None:
    code, out, err = await fedctl(world, "join", "bj", *world["base"])
    assert code == 0, out + err
    assert verdicts(out) == {
        "API": "PASS",
        "permissions": "PASS",
        "providerID": "PASS",
        "hostnames": "PASS",
        "zones": "PASS",
        "security groups": "PASS",
        checks.SYSCTL: "PASS",
    }, out
    assert "preflight: passed" in out
    assert "membercluster/bj joined" in out
    pods, _ = await world["mapi"].list(PODS, "federation-system")
    assert pods == [], "the reader Pods are cleaned up"
    assert world["emu"].call_counts().get("Ecs.DescribeSecurityGroupAttribute") == 1


async def test_each_failure_is_named_and_blocks_unless_forced(world: dict[str, Any]) -> None:
    mapi: KubeApi = world["mapi"]
    first, second = (n["metadata"]["name"] for n in world["nodes"])
    await mapi.merge_patch(
        NODES, first, {"metadata": {"annotations": {SYSCTL_ANNOTATION + checks.SYSCTL: "0"}}}
    )
    await mapi.merge_patch(NODES, second, {"metadata": {"labels": {"kubernetes.io/hostname": "renamed"}}})
    world["emu"].ecs.set_node_ports_open("cn-beijing", False)
    world["member"].denied.add("delete apps/deployments")

    code, out, err = await fedctl(world, "join", "bj", "--check-only", *world["base"])
    assert code == 1
    v = verdicts(out)
    assert v["permissions"] == v["hostnames"] == v["security groups"] == v[checks.SYSCTL] == "FAIL", out
    assert v["providerID"] == v["zones"] == "PASS"
    assert "not allowed: delete apps/deployments" in out
    assert f"{second} has kubernetes.io/hostname='renamed'" in out
    assert "NodePorts closed to the SLB" in out
    assert f"not 1 on {first}=0" in out
    assert "why:" in out
    assert "30000-32767" in out
    assert await world["host"].get(MEMBERCLUSTERS, "bj") is None, "--check-only changes nothing"

    code, out, err = await fedctl(world, "join", "bj", *world["base"])
    assert code == 1
    assert "a preflight check failed" in err
    assert await world["host"].get(MEMBERCLUSTERS, "bj") is None

    code, out, err = await fedctl(world, "join", "bj", "--force", *world["base"])
    assert code == 0, err
    assert "membercluster/bj joined" in out

    # the member is joined: `fedctl preflight` re-runs the checks with the stored kubeconfig
    world["emu"].ecs.set_node_ports_open("cn-beijing", True)
    world["member"].denied.clear()
    await mapi.merge_patch(
        NODES, first, {"metadata": {"annotations": {SYSCTL_ANNOTATION + checks.SYSCTL: "1"}}}
    )
    await mapi.merge_patch(NODES, second, {"metadata": {"labels": {"kubernetes.io/hostname": second}}})
    code, out, err = await fedctl(world, "preflight", "bj", "--kubeconfig", str(world["host_kc"]))
    assert code == 0, out + err
    assert "preflight: passed" in out


async def test_warnings_never_block(world: dict[str, Any]) -> None:
    mapi: KubeApi = world["mapi"]
    for n in world["nodes"]:  # every node in one zone: no multi-AZ failover, a warning
        await mapi.merge_patch(
            NODES,
            n["metadata"]["name"],
            {"metadata": {"labels": {"topology.kubernetes.io/zone": "cn-beijing-a"}}},
        )
    env = {k: v for k, v in world["env"].items() if not k.startswith("FEDCTL_ALIBABA")}
    code, out, err = await fedctl({**world, "env": env}, "join", "bj", *world["base"])
    assert code == 0, out + err
    v = verdicts(out)
    assert v["zones"] == "WARN"
    assert v["security groups"] == "SKIP"  # no Alibaba credentials: not checked, and said so
    assert "passed with warnings (zones)" in out
