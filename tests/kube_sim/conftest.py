"""Fixtures for the Kubernetes simulator tests: a running simulator in the test's event loop, and a
`kubectl` runner that does not block that loop."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from federation.sandbox.kube import KubeSimulator, SimCluster

KUBECTL = "/usr/bin/kubectl"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class KubectlResult:
    rc: int
    out: str
    err: str


class Kubectl:
    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    async def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, wait_s: float = 30
    ) -> KubectlResult:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL,
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.cache_dir),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), wait_s
        )
        res = KubectlResult(proc.returncode or 0, out.decode(), err.decode())
        if check and res.rc != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.rc}): {res.err}")
        return res


@pytest.fixture
async def sim() -> AsyncIterator[KubeSimulator]:
    s = KubeSimulator(rollout_delay=0.2, progress_deadline=0.6, bookmark_interval=0.3)
    yield s
    await s.stop()


@pytest.fixture
async def cluster(sim: KubeSimulator) -> SimCluster:
    return await sim.add_cluster("cn-hangzhou", zones=["cn-hangzhou-h", "cn-hangzhou-i"], nodes=2)


@pytest.fixture
def kubeconfig(cluster: SimCluster, tmp_path: Path) -> Path:
    return cluster.kubeconfig_path(tmp_path)


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig, tmp_path / "kube-cache")


class Http:
    """Raw HTTP against a simulated cluster, to pin wire details the client libraries hide."""

    def __init__(self, cluster: SimCluster, session: aiohttp.ClientSession) -> None:
        self.cluster = cluster
        self.session = session

    async def req(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        wait_s: float = 10,
    ) -> tuple[int, Any, Mapping[str, str]]:
        h = dict(headers or {})
        tok = self.cluster.token if token == "" else token
        if tok is not None:
            h["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = content_type
        async with self.session.request(
            method,
            self.cluster.url + path,
            data=data,
            headers=h,
            timeout=aiohttp.ClientTimeout(total=wait_s),
        ) as r:
            raw = await r.read()
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw.decode()
            return r.status, parsed, r.headers


@pytest.fixture
async def http(cluster: SimCluster, sim: KubeSimulator) -> AsyncIterator[Http]:
    ctx = ssl.create_default_context(cadata=sim.cert.ca_pem.decode()) if sim.cert else None
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx if ctx else False)) as s:
        yield Http(cluster, s)
