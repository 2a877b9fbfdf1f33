"""The sandbox's SLB data plane end to end: an SLB made through the project's SLB adapter in front of a
member's nodes answers `curl` with that region's page, is listed in sandbox.json and the hints, and a
failing Deployment in the region turns its backends abnormal and leaves curl without an answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from federation.cli import main
from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.slb import BackendServer, HealthCheck, ListenerSpec, SlbApi
from federation.sandbox.ecs import instance_of
from federation.sandbox.wiring import Sandbox
from tests.integration.conftest import APP, NAMESPACE, Running, fast_config
from tests.waiting import wait_for

REGION = "cn-beijing"


async def _curl(url: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "--max-time", "3", "--noproxy", "*", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def _fault(workdir: Path, mode: str) -> None:
    """``fedctl sim kube fault --out WORKDIR --cluster REGION MODE default/web`` (in a thread: the
    sandbox answers on this event loop)."""
    args = ["sim", "kube", "fault", "--out", str(workdir), "--cluster", REGION, mode, f"{NAMESPACE}/{APP}"]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output


async def test_curl_an_slb_in_front_of_a_region(tmp_path: Path) -> None:
    sb = Sandbox(
        tmp_path,
        rollout_delay=0.1,
        dns_provider="alidns",
        controller_config=fast_config(),
        slb_health_scale=0.1,
        slb_map_privileged=True,  # map port 80 as for an unprivileged user, whoever runs the test
        slb=False,  # this SLB is made by hand: the controller's SLB step stays out of the way
    )
    await sb.start()
    assert sb.emulator is not None
    client = AlibabaClient(
        sb.emulator.access_key_id, sb.emulator.access_key_secret, REGION, endpoint=sb.emulator.endpoint
    )
    try:
        await wait_for(Running(sb, "alidns").published, 20, "the example app published")
        member = sb.sim.cluster(REGION).api
        svc = member.get(member.resolve("", "v1", "services"), NAMESPACE, APP)
        node_port = int(svc["spec"]["ports"][0]["nodePort"])
        nodes = member.list(member.resolve("", "v1", "nodes"), None)["items"]
        instances = [found[1] for n in nodes if (found := instance_of(n))]
        assert len(instances) == len(nodes) == 3  # every node is an ECS instance the emulator knows

        api = SlbApi(client)
        lb = await api.create_load_balancer(REGION, "fedctl-default-web", client_token="it-slb-1")
        lb_id, address = lb["LoadBalancerId"], lb["Address"]
        assert address.startswith("127.")
        hc = HealthCheck(type="http", uri="/", interval_seconds=1, healthy_threshold=2, unhealthy_threshold=2)
        await api.create_listener(REGION, lb_id, ListenerSpec("tcp", 80, node_port, health_check=hc))
        await api.start_listener(REGION, lb_id, 80)
        await api.add_backend_servers(REGION, lb_id, [BackendServer(i) for i in instances])

        manifest = json.loads((tmp_path / "sandbox.json").read_text())
        [listed] = manifest["services"]["slb"]["listeners"]
        assert (listed["load_balancer_id"], listed["address"], listed["listener_port"]) == (
            lb_id,
            address,
            80,
        )
        url = f"http://{address}:{listed['bound_port']}/"
        assert f"curl {url}" in sb.hints()

        async def statuses() -> set[str]:
            return {h["ServerHealthStatus"] for h in await api.describe_health_status(REGION, lb_id)}

        async def all_normal() -> bool:
            return await statuses() == {"normal"}

        await wait_for(all_normal, 30, "every node normal")
        code, page = await _curl(url)
        assert code == 0
        assert f"region: {REGION}" in page

        await _fault(tmp_path, "deployment-fail")  # what a user types against the running sandbox

        async def all_abnormal() -> bool:
            return await statuses() == {"abnormal"}

        await wait_for(all_abnormal, 30, "every node abnormal once the Deployment fails")
        code, page = await _curl(url)
        assert page == ""
        assert code in (52, 56)  # curl: empty reply, or the connection reset under the request
        await _fault(tmp_path, "deployment-heal")
        await wait_for(all_normal, 30, "every node normal again")
        assert f"region: {REGION}" in (await _curl(url))[1]
    finally:
        await client.close()
        await sb.stop()
