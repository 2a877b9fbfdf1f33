"""`fedctl run`, `fedctl status` and `fedctl sandbox` as a user runs them: real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from federation.cli import main
from federation.clusters.kubeapi import LEASES
from federation.controller.cli import status_table
from federation.sandbox.wiring import DEFAULT_REGIONS, SYSTEM_NAMESPACE, example_app
from tests.controller.conftest import World, make_app
from tests.waiting import wait_for

FEDCTL = [sys.executable, "-m", "federation.cli"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _get_json(url: str) -> tuple[int, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(url) as r:
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, await r.text()


async def test_fedctl_run_reconciles_and_stops_cleanly_on_sigterm(world: World, tmp_path: Path) -> None:
    await world.create_app(make_app(replicas=3))
    web = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "FEDCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "FEDCTL_DNS_LISTEN": "127.0.0.1:0",
        "FEDCTL_DNS_PROVIDER": "embedded",
        "FEDCTL_WEB_LISTEN": web,
    }
    proc = await asyncio.create_subprocess_exec(
        *FEDCTL,
        "run",
        "--kubeconfig",
        str(world.sb.kubeconfigs["host"]),
        "--namespace",
        SYSTEM_NAMESPACE,
        "--identity",
        "cli-test",
        "--lease-duration",
        "3",
        "--probe-interval",
        "1",
        "--workers",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        await world.wait_ready(within=30)
        lease = await world.host.get(LEASES, "fedctl-controller", SYSTEM_NAMESPACE)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "cli-test"
        # the replica serves the dashboard and its probes on web_listen
        status, leader = await _get_json(f"http://{web}/api/v1/leader")
        assert status == 200
        assert (leader["role"], leader["holder"]) == ("leader", "cli-test")

        async def ready() -> bool:
            return (await _get_json(f"http://{web}/readyz"))[0] == 200

        await wait_for(ready, 10, "/readyz answering 200")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()[-2000:]
    lease = await world.host.get(LEASES, "fedctl-controller", SYSTEM_NAMESPACE)
    assert lease["spec"].get("holderIdentity", "") == ""  # type: ignore[index]  # released for a standby
    token = world.sb.sim.cluster("cn-hangzhou").token
    assert token not in err.decode()


async def test_fedctl_status_prints_apps_by_region(world: World) -> None:
    from tests.controller.conftest import fast_config

    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=5))
    await world.wait_ready()
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["status", "web", "-n", "shop", "--kubeconfig", str(world.sb.kubeconfigs["host"])],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "APP",
        "REGION",
        "CLUSTER",
        "DESIRED",
        "READY",
        "REACHABLE",
        "HEALTH",
        "ADDRESS",
        "SLB",
        "BACKENDS",
        "DNS",
        "PHASE",
        "NOTE",
    ]
    rows = [ln.split() for ln in lines[1:4]]
    assert all(r[11] == "Serving" for r in rows)
    assert {r[1] for r in rows} == {"cn-hangzhou", "cn-beijing", "eu-central-1"}
    assert sum(int(r[3]) for r in rows) == 5
    assert all(r[5] == "yes" and r[6] == "Healthy" for r in rows)
    assert "shop/web: Ready, 5/5 replicas ready" in result.output

    missing = await asyncio.to_thread(
        CliRunner().invoke, main, ["status", "nope", "--kubeconfig", str(world.sb.kubeconfigs["host"])]
    )
    assert missing.exit_code != 0
    assert "FederatedApp default/nope not found" in missing.output


def test_status_table_shows_why_a_region_is_excluded() -> None:
    app = {
        "metadata": {"name": "web", "namespace": "shop"},
        "status": {
            "replicas": 4,
            "readyReplicas": 4,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "NotReady"},
                {"type": "Degraded", "status": "True", "message": "cn-beijing: member unreachable"},
            ],
            "regions": [
                {
                    "region": "cn-hangzhou",
                    "cluster": "hz",
                    "desiredReplicas": 4,
                    "readyReplicas": 4,
                    "reachable": True,
                    "health": "Healthy",
                    "address": "127.64.1.1",
                    "loadBalancerId": "lb-hz1",
                    "backendHealth": {"normal": 4, "abnormal": 2, "unavailable": 0},
                },
                {
                    "region": "cn-beijing",
                    "cluster": "bj",
                    "desiredReplicas": 0,
                    "reachable": False,
                    "health": "Unhealthy",
                    "excludedReason": "member bj unreachable",
                },
            ],
        },
    }
    text = status_table([app])
    rows = [line.split() for line in text.splitlines()]
    assert [
        "shop/web",
        "cn-beijing",
        "bj",
        "0",
        "-",
        "NO",
        "Unhealthy",
        "-",
        "-",
        "-",
        "-",
        "-",
        "member",
        "bj",
        "unreachable",
    ] in rows
    assert (
        len(
            {
                line.index("HEALTH") if "HEALTH" in line else line.find("Unhealthy")
                for line in text.splitlines()[:3]
                if "Unhealthy" in line or "HEALTH" in line
            }
        )
        == 1
    )  # aligned
    assert (
        "shop/web: NotReady (NotReady), 4/4 replicas ready; degraded: cn-beijing: member unreachable" in text
    )
    hz = next(row for row in rows if row[:2] == ["shop/web", "cn-hangzhou"])
    assert hz[7:10] == ["127.64.1.1", "lb-hz1", "4/6!"]  # the SLB and its backends as it sees them
    assert status_table([]) == "No FederatedApps found."


def test_status_table_shows_why_a_kept_region_is_unhealthy() -> None:
    # rescheduleOnFailure: false keeps the region's replicas (no excludedReason): the health reason shows
    region = {
        "region": "cn-hangzhou",
        "cluster": "hz",
        "desiredReplicas": 2,
        "readyReplicas": 2,
        "reachable": True,
        "health": "Unhealthy",
        "healthReason": "VIP 127.64.1.1:80 refused 8 times",
        "servingDNS": False,
        "dnsReason": "region-unhealthy",
    }
    app = {"metadata": {"name": "web", "namespace": "shop"}, "status": {"regions": [region]}}
    line = next(x for x in status_table([app]).splitlines() if x.startswith("shop/web"))
    assert line.endswith("health: VIP 127.64.1.1:80 refused 8 times")


@pytest.mark.slow
@pytest.mark.kubectl
def test_fedctl_sandbox_writes_its_manifest_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    workdir = tmp_path / "sb"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [*FEDCTL, "sandbox", "--workdir", str(workdir), "--rollout-delay", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        manifest = workdir / "sandbox.json"
        asyncio.run(wait_for(lambda: _exists(manifest), 30, "sandbox.json"))
        data = json.loads(manifest.read_text())
        assert set(data["clusters"]) == {"host", "cn-hangzhou", "cn-beijing", "eu-central-1"}
        assert data["clusters"]["cn-beijing"]["region"] == "cn-beijing"
        assert data["services"]["kube-host"]["address"].startswith("https://127.0.0.1:")
        host_kc = data["clusters"]["host"]["kubeconfig"]

        def app_ready() -> bool:
            out = subprocess.run(
                [
                    "kubectl",
                    "--kubeconfig",
                    host_kc,
                    "get",
                    "fapp",
                    "web",
                    "-n",
                    "default",
                    "-o",
                    "jsonpath={.status.regionsReady}",
                ],
                capture_output=True,
                text=True,
                timeout=20,
                env=env,
            )
            return out.stdout.strip() == "3/3"

        asyncio.run(wait_for(lambda: _call(app_ready), 30, "example app ready"))
        eu_kc = data["clusters"]["eu-central-1"]["kubeconfig"]
        out = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                eu_kc,
                "get",
                "deploy",
                "web",
                "-n",
                "default",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
        )
        example = example_app(DEFAULT_REGIONS)
        expected = next(
            (
                o["image"]
                for o in example["spec"].get("overrides") or []
                if o["region"] == "eu-central-1" and o.get("image")
            ),
            example["spec"]["template"]["spec"]["containers"][0]["image"],
        )
        assert out.stdout == expected  # the example app, with its eu-central-1 override if it has one
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr[-2000:]
    assert "kubectl --kubeconfig" in stdout


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)


async def _call(fn: object) -> bool:
    return bool(await asyncio.to_thread(fn))  # type: ignore[arg-type]
