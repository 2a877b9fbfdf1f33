"""Fixtures for the API tests that drive the real kubectl against the Kubernetes simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from federation.sandbox.kube import KubeSimulator

KUBECTL = "/usr/bin/kubectl"


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Kubectl:
    """Runs kubectl without blocking the event loop the simulator serves from."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.base = [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir)]

    async def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> Result:
        proc = await asyncio.create_subprocess_exec(
            *self.base,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 60)
        result = Result(proc.returncode or 0, out.decode(), err.decode())
        if check and result.rc != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.rc}): {result.err}")
        return result


@pytest.fixture
async def kubectl(tmp_path: Path) -> AsyncIterator[Kubectl]:
    sim = KubeSimulator(rollout_delay=0.1)
    try:
        cluster = await sim.add_cluster("host", region="cn-hangzhou", zones=["cn-hangzhou-h"], nodes=1)
        yield Kubectl(cluster.kubeconfig_path(tmp_path), tmp_path / "kube-cache")
    finally:
        await sim.stop()
