"""`fedctl sim kube` as a user runs it: kubeconfigs, one ready line, faults through the admin endpoint,
clean stop on SIGTERM with the state saved."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from tests.kube_sim.conftest import Kubectl

pytestmark = pytest.mark.kubectl


async def _fedctl(*args: str) -> tuple[int, str, str]:
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "federation.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(p.communicate(), 30)
    return p.returncode or 0, out.decode(), err.decode()


async def test_sim_kube_cli_runs_flips_faults_and_stops_cleanly(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    state = tmp_path / "state.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "federation.cli",
        "sim",
        "kube",
        "--cluster",
        "hz=cn-hangzhou",
        "--cluster",
        "cn-beijing",
        "--out",
        str(out_dir),
        "--rollout-delay",
        "0.1",
        "--nodes",
        "2",
        "--state",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("kube simulator ready: hz=https://127.0.0.1:")
        info = json.loads((out_dir / "sim.json").read_text())
        assert set(info["clusters"]) == {"hz", "cn-beijing"}
        kubeconfig = (out_dir / "hz.kubeconfig").read_text()
        assert info["admin"]["token"] not in kubeconfig
        k = Kubectl(out_dir / "hz.kubeconfig", tmp_path / "cache")
        r = await k(
            "get", "nodes", "-o", "jsonpath={.items[*].metadata.labels.topology\\.kubernetes\\.io/region}"
        )
        assert r.out.split() == ["cn-hangzhou", "cn-hangzhou"]

        rc, _, err = await _fedctl("sim", "kube", "fault", "--out", str(out_dir), "--cluster", "hz", "down")
        assert rc == 0, err
        r = await k("get", "ns", check=False)
        assert r.rc != 0
        assert "refused" in r.err
        rc, _, _ = await _fedctl("sim", "kube", "fault", "--out", str(out_dir), "--cluster", "hz", "clear")
        await k("create", "configmap", "persisted")
        node = (await k("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")).out
        rc, _, _ = await _fedctl(
            "sim", "kube", "fault", "--out", str(out_dir), "--cluster", "hz", "node-notready", node
        )
        r = await k("get", "node", node)
        assert "NotReady" in r.out
        # with one of two nodes NotReady, one of two replicas is unready: not Available (maxUnavailable 0)
        await _fedctl("sim", "kube", "fault", "--out", str(out_dir), "--cluster", "hz", "node-ready", node)
        await k("create", "deployment", "app", "--image=nginx:1.27", "--replicas=2")
        await k("wait", "--for=condition=Available", "deployment/app", "--timeout=10s")
        rc, _, err = await _fedctl(
            "sim", "kube", "fault", "--out", str(out_dir), "--cluster", "hz", "deployment-fail", "default/app"
        )
        assert rc == 0, err
        await k("wait", "--for=condition=Available=False", "deployment/app", "--timeout=10s")
        rc, _, err = await _fedctl("sim", "kube", "fault", "--out", str(out_dir), "--cluster", "nope", "hang")
        assert rc != 0
        assert "nope" in err
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 15)
    assert rc == 0
    saved = json.loads(state.read_text())
    hz = next(c for c in saved["clusters"] if c["name"] == "hz")
    assert any(o["metadata"]["name"] == "persisted" for o in hz["objects"]["/configmaps"])
