"""Fixtures for the Kubernetes simulator tests: a running simulator in the test's event loop, and a
`kubectl` runner that does not block that loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

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

    async def __call__(self, *args: str, stdin: str | None = None, check: bool = True,
                      timeout: float = 30) -> KubectlResult:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), timeout)
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
