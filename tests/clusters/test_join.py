"""`fedctl join` / `fedctl unjoin` as an operator runs them, against simulated clusters over HTTPS."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.clusters.join import JoinError, self_contained_kubeconfig
from federation.clusters.kubeapi import SECRETS, KubeApi
from federation.controller.resources import MEMBERCLUSTERS
from federation.sandbox.kube import KubeSimulator
from federation.sandbox.wiring import apply_crds
from tests.fedctl_cli import fedctl


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    sim = KubeSimulator(rollout_delay=0.1)
    host = await sim.add_cluster("host", region="cn-hangzhou", nodes=1)
    member = await sim.add_cluster("bj", region="cn-beijing", nodes=2)
    host_kc = host.kubeconfig_path(tmp_path)
    # The member's kubeconfig names its CA by file, as kubeadm-style kubeconfigs often do.
    kc = member.kubeconfig_dict()
    ca = base64.b64decode(kc["clusters"][0]["cluster"].pop("certificate-authority-data"))
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "bj-ca.crt").write_bytes(ca)
    kc["clusters"][0]["cluster"]["certificate-authority"] = "certs/bj-ca.crt"
    member_kc = tmp_path / "bj.kubeconfig"
    member_kc.write_text(yaml.safe_dump(kc))
    api = await KubeApi.from_kubeconfig_file(host_kc)
    await apply_crds(api)
    try:
        yield {
            "sim": sim,
            "host": api,
            "host_kc": host_kc,
            "member_kc": member_kc,
            "member": member,
            "ca": ca,
        }
    finally:
        await api.close()
        await sim.stop()


async def test_join_stores_a_self_contained_kubeconfig_and_is_idempotent(world: dict[str, Any]) -> None:
    args = [
        "join",
        "bj",
        "--member-kubeconfig",
        str(world["member_kc"]),
        "--region",
        "cn-beijing",
        "--zone",
        "cn-beijing-a",
        "--vpc-id",
        "vpc-bj1",
        "--kubeconfig",
        str(world["host_kc"]),
    ]
    code, out, err = await fedctl(*args)
    assert code == 0, err
    assert "membercluster/bj joined" in out
    assert world["member"].token not in out + err

    mc = await world["host"].get(MEMBERCLUSTERS, "bj")
    assert mc is not None
    assert mc["spec"]["region"] == "cn-beijing"
    assert mc["spec"]["zones"] == ["cn-beijing-a"]
    assert mc["spec"]["vpcId"] == "vpc-bj1"
    ref = mc["spec"]["kubeconfigSecretRef"]
    secret = await world["host"].get(SECRETS, ref["name"], ref["namespace"])
    assert secret is not None
    stored = yaml.safe_load(base64.b64decode(secret["data"][ref["key"]]))
    cluster = stored["clusters"][0]["cluster"]
    assert "certificate-authority" not in cluster
    assert base64.b64decode(cluster["certificate-authority-data"]) == world["ca"]
    # What the controller will do with it: reach the member from the Secret's content alone.
    member = await KubeApi.from_kubeconfig_dict(stored)
    try:
        assert (await member.version())["gitVersion"].startswith("v1.")
    finally:
        await member.close()

    rv = secret["metadata"]["resourceVersion"]
    code, out, err = await fedctl(*args)
    assert code == 0, err
    assert "membercluster/bj updated" in out
    again = await world["host"].get(SECRETS, ref["name"], ref["namespace"])
    assert again is not None
    assert again["metadata"]["resourceVersion"] == rv, "an unchanged kubeconfig must not be rewritten"


async def test_join_refuses_a_region_change_and_an_unreachable_member(world: dict[str, Any]) -> None:
    base = ["--member-kubeconfig", str(world["member_kc"]), "--kubeconfig", str(world["host_kc"])]
    assert (await fedctl("join", "bj", "--region", "cn-beijing", *base))[0] == 0
    code, out, err = await fedctl("join", "bj", "--region", "cn-shanghai", *base)
    assert code == 1
    assert "no usable providerID in cn-shanghai" in out  # the nodes are ECS instances of cn-beijing
    code, _out, err = await fedctl("join", "bj", "--region", "cn-shanghai", "--force", *base)
    assert code == 1
    assert "spec.region is immutable" in err

    world["member"].faults.set("down")
    code, _out, err = await fedctl("join", "bj2", "--region", "cn-beijing", *base)
    assert code == 1
    assert "did not answer" in _out  # the preflight's API check
    assert "a preflight check failed" in err
    assert await world["host"].get(MEMBERCLUSTERS, "bj2") is None, "nothing is registered on failure"


async def test_unjoin_removes_the_member_and_its_secret(world: dict[str, Any]) -> None:
    base = ["--kubeconfig", str(world["host_kc"])]
    assert (
        await fedctl(
            "join", "bj", "--region", "cn-beijing", "--member-kubeconfig", str(world["member_kc"]), *base
        )
    )[0] == 0
    code, out, err = await fedctl("unjoin", "bj", *base)
    assert code == 0, err
    assert "removed" in out
    assert await world["host"].get(MEMBERCLUSTERS, "bj") is None
    assert await world["host"].get(SECRETS, "bj-kubeconfig", "federation-system") is None
    code, _out, err = await fedctl("unjoin", "bj", *base)
    assert code == 1
    assert "not joined" in err


def test_exec_plugins_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    cfg = {
        "current-context": "x",
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"exec": {"command": "aliyun-auth"}}}],
    }
    with pytest.raises(JoinError, match="exec/auth-provider"):
        self_contained_kubeconfig(cfg)
    cfg["users"] = [{"name": "u", "user": {"tokenFile": "nope.token"}}]
    with pytest.raises(JoinError, match=r"user\.tokenFile: cannot read"):
        self_contained_kubeconfig(cfg, base_dir=tmp_path)
    with pytest.raises(JoinError, match="context 'y' not found"):
        self_contained_kubeconfig(cfg, context="y")
