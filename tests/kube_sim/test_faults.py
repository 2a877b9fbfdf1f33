"""Faults switched at run time, and snapshot/restore."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config

from federation.sandbox.kube import KubeSimulator, SimCluster
from tests.kube_sim.conftest import Http


async def test_down_refuses_connections_then_comes_back_on_the_same_port(
    http: Http, cluster: SimCluster, kubeconfig: Path
) -> None:
    api_client = await config.new_client_from_config(str(kubeconfig))
    async with api_client:
        v1 = client.CoreV1Api(api_client)
        await v1.list_namespace()  # a kept-alive connection exists now
        port = cluster.port
        cluster.faults.set("down")
        await asyncio.sleep(0.05)
        with pytest.raises(aiohttp.ClientConnectorError):
            await http.req("GET", "/version")
        with pytest.raises(aiohttp.ClientError):
            await v1.list_namespace(_request_timeout=2)
        cluster.faults.clear()
        await asyncio.sleep(0.05)
        assert cluster.port == port
        assert len((await v1.list_namespace()).items) == 4


async def test_down_ends_open_watches(cluster: SimCluster, kubeconfig: Path) -> None:
    api_client = await config.new_client_from_config(str(kubeconfig))
    async with api_client:
        v1: Any = client.CoreV1Api(api_client)
        resp = await v1.list_namespaced_config_map("default", watch=True, _preload_content=False)
        reader = asyncio.create_task(resp.content.read())
        await asyncio.sleep(0.1)
        cluster.faults.set("down")
        await asyncio.wait_for(asyncio.gather(reader, return_exceptions=True), 3)
        cluster.faults.clear()


async def test_hang_slow_and_error_faults(http: Http, cluster: SimCluster) -> None:
    cluster.faults.set("hang")
    with pytest.raises(TimeoutError):
        await http.req("GET", "/api/v1/namespaces", wait_s=0.3)
    pending = asyncio.create_task(http.req("GET", "/api/v1/namespaces"))
    await asyncio.sleep(0.1)
    assert not pending.done()
    cluster.faults.clear()
    assert (await pending)[0] == 200  # a hung request completes once the fault clears

    cluster.faults.set("slow", delay=0.3)
    t0 = time.monotonic()
    assert (await http.req("GET", "/api/v1/namespaces"))[0] == 200
    assert time.monotonic() - t0 >= 0.3

    cluster.faults.set("error", rate=1.0, status=429)
    code, body, headers = await http.req("GET", "/api/v1/namespaces")
    assert code == 429
    assert body["reason"] == "TooManyRequests"
    assert headers["Retry-After"] == "1"
    cluster.faults.set("error", rate=0.5, status=500)
    cluster.faults.rng.seed(7)
    codes = [(await http.req("GET", "/api/v1/namespaces"))[0] for _ in range(40)]
    assert cluster.request_counts()["GET"] >= 43
    assert 8 <= codes.count(500) <= 32
    assert codes.count(200) + codes.count(500) == 40
    cluster.faults.clear()
    with pytest.raises(ValueError, match="mode"):
        cluster.faults.set("explode")


async def test_error_with_throttle_answers_429s_and_5xx_in_their_shares(
    http: Http, cluster: SimCluster
) -> None:
    cluster.faults.set("error", rate=0.2, status=500, throttle=0.3)
    cluster.faults.rng.seed(11)
    codes = [(await http.req("GET", "/api/v1/namespaces"))[0] for _ in range(200)]
    assert 35 <= codes.count(429) <= 85  # 30% of 200
    assert 20 <= codes.count(500) <= 60  # 20%
    assert codes.count(200) + codes.count(429) + codes.count(500) == 200
    assert cluster.faults.describe()["throttle"] == 0.3
    cluster.faults.set("error", throttle=0.5)  # throttling alone
    assert cluster.faults.rate == 0.0
    with pytest.raises(ValueError, match="throttle"):
        cluster.faults.set("error", rate=0.8, throttle=0.5)
    with pytest.raises(ValueError, match="throttle"):
        cluster.faults.set("slow", throttle=0.1)
    cluster.faults.clear()


async def test_snapshot_and_restore(tmp_path: Path) -> None:
    sim = KubeSimulator(rollout_delay=0.1)
    c = await sim.add_cluster("cn-beijing", nodes=1)
    rt = c.api.resolve("", "v1", "configmaps")
    c.api.create(rt, "default", {"metadata": {"name": "keep"}, "data": {"k": "v"}})
    rv = c.api.store.rv
    snap = sim.save(tmp_path / "state.json")
    await sim.stop()

    sim2 = KubeSimulator(rollout_delay=0.1)
    try:
        (c2,) = await sim2.restore(snap)
        assert c2.api.store.rv == rv
        assert c2.token == c.token
        # same token and CA: clients holding the old kubeconfig keep working (the port too, when free)
        restored = c2.kubeconfig_dict()
        old = c.kubeconfig_dict()
        assert restored["users"] == old["users"]
        assert (
            restored["clusters"][0]["cluster"]["certificate-authority-data"]
            == old["clusters"][0]["cluster"]["certificate-authority-data"]
        )
        api_client = await config.new_client_from_config(str(c2.kubeconfig_path(tmp_path / "new")))
        async with api_client:
            v1 = client.CoreV1Api(api_client)
            cm = await v1.read_namespaced_config_map("keep", "default")
            assert cm.data == {"k": "v"}
        assert json.loads(snap.read_text())["clusters"][0]["name"] == "cn-beijing"
    finally:
        await sim2.stop()
