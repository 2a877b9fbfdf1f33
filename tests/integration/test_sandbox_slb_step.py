"""The regional SLB step end to end in the sandbox: the controller, the simulated clusters and the
Alibaba Cloud emulator over real sockets, the example app in Managed mode (the default).

One SLB per region with a listener per port and the Ready nodes as backends, its address in the status
and in DNS; updates applied in place; steady state with no SLB write; deletion leaving no SLB; a foreign
SLB with our name untouched; a controller killed mid-create and restarted still makes one; the SLB API
throttled for 30 s, then convergence; CloudController mode; and curl through the DNS answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from federation.api import constants as c
from federation.controller.resources import FEDERATEDAPPS
from federation.sandbox.aliyun.protocol import Params
from federation.sandbox.wiring import Sandbox
from federation.slb.plan import TAG_APP_UID
from tests.integration.conftest import APP, NAMESPACE, Running, fast_config
from tests.waiting import wait_for

READS = ("Describe", "List")


def slb_calls(sb: Sandbox) -> dict[str, int]:
    assert sb.emulator is not None
    return {k.removeprefix("Slb."): v for k, v in sb.emulator.call_counts().items() if k.startswith("Slb.")}


def writes(calls: dict[str, int]) -> int:
    return sum(n for action, n in calls.items() if not action.startswith(READS))


async def app_uid(sb: Sandbox) -> str:
    assert sb.host is not None
    app = await sb.host.get(FEDERATEDAPPS, APP, NAMESPACE)
    return str((app or {})["metadata"]["uid"])


def lbs_of(sb: Sandbox, uid: str) -> dict[str, Any]:
    """The app's SLBs by region (a region with two would fail the caller's length check)."""
    assert sb.emulator is not None
    found = [lb for lb in sb.emulator.slb.lbs.values() if lb.tags.get(TAG_APP_UID) == uid]
    by_region = {lb.region: lb for lb in found}
    assert len(by_region) == len(found), f"more than one SLB in a region: {[lb.lb_id for lb in found]}"
    return by_region


def node_instances(sb: Sandbox, region: str, ready_only: bool = True) -> set[str]:
    api = sb.sim.cluster(region).api
    out = set()
    for node in api.list(api.resolve("", "v1", "nodes"), None)["items"]:
        ready = any(
            cd["type"] == "Ready" and cd["status"] == "True" for cd in node["status"].get("conditions", [])
        )
        if ready or not ready_only:
            out.add(node["spec"]["providerID"].split(".", 1)[1])
    return out


def sandbox(tmp_path: Path, **kw: Any) -> Sandbox:
    return Sandbox(
        tmp_path,
        rollout_delay=0.1,
        dns_provider=kw.pop("dns_provider", "alidns"),
        controller_config=dataclasses.replace(fast_config(), slb_health_interval=1.0),
        slb_health_scale=0.1,
        slb_map_privileged=True,  # port 80 mapped as for an unprivileged user, whoever runs the test
        **kw,
    )


async def test_create_update_steady_state_delete(tmp_path: Path) -> None:
    sb = sandbox(tmp_path)
    await sb.start()
    run = Running(sb, "alidns")
    try:
        await wait_for(run.published, 20, "the example app published")
        uid = await app_uid(sb)
        lbs = lbs_of(sb, uid)
        assert sorted(lbs) == sorted(sb.regions)
        regions = await run.regions()
        for region, lb in lbs.items():
            assert (regions[region]["loadBalancerId"], regions[region]["address"]) == (lb.lb_id, lb.address)
            assert {(li.port, li.protocol, li.status) for li in lb.listeners.values()} == {
                (80, "http", "running")
            }
            assert set(lb.backends) == node_instances(sb, region)
            assert lb.name == "fedctl-default-web"
        # DNS answers with the SLBs' addresses
        assert (await run.query(None))[1] == {lb.address for lb in lbs.values()}
        # the SLBs' own view of their backends: in the status and in the store, for the health sweeps
        from federation.store.health import latest_samples

        async def backend_health() -> bool:
            regions = await run.regions()
            return all((regions[r].get("backendHealth") or {}).get("normal") == 3 for r in sb.regions)

        await wait_for(backend_health, 20, "every region's 3 backends normal in the status")
        assert sb.db is not None
        samples = await sb.db.run(latest_samples, target_kind="slb")
        assert {s.target_id for s in samples} == {lb.lb_id for lb in lbs.values()}
        assert all(s.ok and s.app == f"{NAMESPACE}/{APP}" for s in samples)

        # steady state: a resync costs one paged listing per region and no write
        ctrl = sb.controller
        assert ctrl is not None
        assert ctrl.slb_step is not None
        assert await ctrl.wait_idle(10)
        sb.emulator.reset_call_counts()
        ctrl.slb_step.expire_listings()  # a resync interval passed: each region is listed once
        ctrl.enqueue_all_apps()
        assert await ctrl.wait_idle(10)
        calls = {k: v for k, v in slb_calls(sb).items() if k != "DescribeHealthStatus"}
        assert writes(calls) == 0, calls
        assert calls == {"DescribeLoadBalancers": len(sb.regions)}, calls

        # updates: a port added, bandwidth changed, a node added, another NotReady
        hz = sb.sim.cluster("cn-hangzhou")
        hz.add_node(7)
        first = sorted(hz.node_names())[0]
        hz.set_node_ready(first, False)
        assert sb.host is not None
        await sb.host.merge_patch(
            FEDERATEDAPPS,
            APP,
            {
                "spec": {
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": 80, "protocol": "HTTP"},
                        {"name": "raw", "port": 9000, "targetPort": 9000, "protocol": "TCP"},
                    ],
                    "loadBalancer": {"chargeType": "paybybandwidth", "bandwidth": 20},
                }
            },
            NAMESPACE,
        )

        async def updated() -> bool:
            lbs = lbs_of(sb, uid)
            return all(
                {(li.port, li.protocol, li.status) for li in lb.listeners.values()}
                == {(80, "http", "running"), (9000, "tcp", "running")}
                and (lb.charge_type, lb.bandwidth) == ("paybybandwidth", 20)
                and set(lb.backends) == node_instances(sb, lb.region)
                for lb in lbs.values()
            )

        await wait_for(updated, 20, "listeners, bandwidth and backends updated in place")
        hz_lb = lbs_of(sb, uid)["cn-hangzhou"]
        assert len(node_instances(sb, "cn-hangzhou", ready_only=False)) == 4
        assert len(hz_lb.backends) == 3  # 4 nodes, one NotReady (and left out)
        assert lbs_of(sb, uid)["cn-hangzhou"].lb_id == lbs["cn-hangzhou"].lb_id  # the same SLBs

        # the port removed again: its listener goes
        await sb.host.merge_patch(
            FEDERATEDAPPS,
            APP,
            {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "HTTP"}]}},
            NAMESPACE,
        )

        async def port_gone() -> bool:
            return all(set(lb.listeners) == {(80, "http")} for lb in lbs_of(sb, uid).values())

        await wait_for(port_gone, 20, "the removed port's listener deleted")

        # deletion: no SLB of the app is left, and the finalizer went
        await sb.host.delete(FEDERATEDAPPS, APP, NAMESPACE)

        async def gone() -> bool:
            return await sb.host.get(FEDERATEDAPPS, APP, NAMESPACE) is None  # type: ignore[union-attr]

        await wait_for(gone, 20, "the app deleted")
        assert lbs_of(sb, uid) == {}
        # the inventory remembers what was created and that it is gone
        from federation.store.inventory import inventory_list

        rows = await sb.db.run(inventory_list, owner_uid=uid, kind="slb", include_deleted=True)
        assert sorted(r.region for r in rows) == sorted(sb.regions)
        assert all(r.deleted_at is not None for r in rows)
    finally:
        await sb.stop()


async def curl(url: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "--max-time", "3", "--noproxy", "*", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_curl_the_dns_answer_and_drain(tmp_path: Path) -> None:
    sb = sandbox(tmp_path)
    await sb.start()
    run = Running(sb, "alidns")
    try:
        await wait_for(run.published, 20, "the example app published")

        def url_of(address: str) -> str | None:
            manifest = json.loads((tmp_path / "sandbox.json").read_text())
            for li in manifest["services"]["slb"]["listeners"]:
                if li["address"] == address and li["listener_port"] == 80:
                    return f"http://{address}:{li['bound_port']}/"
            return None

        async def page_for(subnet: str) -> str:
            (address,) = await run.dig(subnet)
            url = url_of(address)
            if url is None:
                return ""
            code, page = await curl(url)
            return page if code == 0 else ""

        async def zhejiang_gets(region: str) -> str | None:
            page = await page_for("36.21.0.0/24")  # China Telecom, Zhejiang: nearest is cn-hangzhou
            return page if f"region: {region}" in page else None

        page = await wait_for(lambda: zhejiang_gets("cn-hangzhou"), 20, "curl reaches cn-hangzhou's page")
        assert "cluster: cn-hangzhou" in page

        await run.set_drained("cn-hangzhou", True)
        page = await wait_for(lambda: zhejiang_gets("cn-beijing"), 20, "after the drain, cn-beijing's page")
        assert "region: cn-hangzhou" not in page
    finally:
        await sb.stop()


async def test_foreign_slb_untouched_and_a_kill_mid_create_still_makes_one(tmp_path: Path) -> None:
    sb = sandbox(tmp_path, run_controller=False)
    await sb.start()
    run = Running(sb, "alidns")
    emu = sb.emulator
    assert emu is not None
    try:
        # someone else's SLB with our name in cn-beijing, and every create's answer lost
        made = emu.slb.CreateLoadBalancer(
            Params({"RegionId": "cn-beijing", "LoadBalancerName": "fedctl-default-web", "ClientToken": "x"})
        )
        before = repr(emu.slb.lbs[made["LoadBalancerId"]])
        emu.faults.set("slb", "CreateLoadBalancer", error_rate=1.0, after=True)
        ctrl = await sb.start_controller()
        uid = await app_uid(sb)

        async def created_unanswered() -> bool:
            return sorted(lbs_of(sb, uid)) == ["cn-hangzhou", "eu-central-1"]

        await wait_for(created_unanswered, 20, "the creates made, their answers lost")
        await sb.stop_controller(ctrl)  # killed with nothing recorded
        emu.faults.clear()
        await sb.start_controller()

        async def settled() -> bool:
            regions = await run.regions()
            return all(regions.get(r, {}).get("address") for r in ("cn-hangzhou", "eu-central-1")) and (
                await run.condition(c.COND_LOAD_BALANCERS_READY) == "False"
            )

        await wait_for(settled, 20, "the restarted controller adopts its SLBs")
        lbs = lbs_of(sb, uid)
        assert sorted(lbs) == ["cn-hangzhou", "eu-central-1"]  # still exactly one each, none in Beijing
        status = await run.status()
        cond = next(cd for cd in status["conditions"] if cd["type"] == c.COND_LOAD_BALANCERS_READY)
        assert cond["reason"] == "NameClash"
        assert made["LoadBalancerId"] in cond["message"]
        assert repr(emu.slb.lbs[made["LoadBalancerId"]]) == before  # untouched
        # DNS answers with the regions that have our SLB
        assert (await run.query(None))[1] == {lb.address for lb in lbs.values()}
    finally:
        await sb.stop()


async def test_cloud_controller_mode(tmp_path: Path) -> None:
    sb = sandbox(tmp_path, apply_example=False)
    await sb.start()
    run = Running(sb, "alidns")
    try:
        app = sb.example_app()
        app["spec"]["loadBalancer"]["mode"] = "CloudController"
        app["spec"]["loadBalancer"]["bandwidth"] = 30
        await sb.apply_app(app)
        await wait_for(run.published, 20, "the app published with the Services' addresses")
        uid = await app_uid(sb)
        assert lbs_of(sb, uid) == {}  # the controller made no SLB: the CCM owns it
        api = sb.sim.cluster("cn-hangzhou").api
        svc = api.get(api.resolve("", "v1", "services"), NAMESPACE, APP)
        assert svc["spec"]["type"] == "LoadBalancer"
        ann = svc["metadata"]["annotations"]
        prefix = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
        assert ann[prefix + "protocol-port"] == "http:80"
        assert (ann[prefix + "bandwidth"], ann[prefix + "health-check-type"]) == ("30", "http")
        ingress = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        assert (await run.regions())["cn-hangzhou"]["address"] == ingress
    finally:
        await sb.stop()


async def test_slb_api_throttled_for_30s_then_converges(tmp_path: Path) -> None:
    sb = sandbox(tmp_path, run_controller=False)
    await sb.start()
    run = Running(sb, "alidns")
    emu = sb.emulator
    assert emu is not None
    try:
        emu.faults.set("slb", "*", throttle=1.0)
        emu.reset_call_counts()
        await sb.start_controller()
        await asyncio.sleep(30)
        during = sum(slb_calls(sb).values())
        emu.faults.clear()
        await wait_for(run.published, 60, "published once the throttling stops")
        after = sum(slb_calls(sb).values()) - during
        uid = await app_uid(sb)
        assert sorted(lbs_of(sb, uid)) == sorted(sb.regions)
        print(f"SLB calls while throttled for 30 s: {during}; to converge after: {after}")
        # bounded: per-call retries with backoff under the work queue's per-app backoff (about 120
        # here), a third of what the client's own pacing would let through (20/s: 600 in 30 s)
        assert during <= 200, during
    finally:
        await sb.stop()


async def test_an_unreachable_slb_api_blocks_deletion_and_keeps_the_service(tmp_path: Path) -> None:
    sb = sandbox(tmp_path)
    await sb.start()
    run = Running(sb, "alidns")
    emu = sb.emulator
    assert emu is not None
    assert sb.host is not None
    try:
        await wait_for(run.published, 20, "the example app published")
        uid = await app_uid(sb)
        emu.faults.set("slb", "*", error_rate=1.0, error_status=503)
        await sb.host.delete(FEDERATEDAPPS, APP, NAMESPACE)

        async def blocked() -> str | None:
            for cd in (await run.status()).get("conditions") or []:
                if cd["type"] == c.COND_DEGRADED and cd["reason"] == "CleanupBlocked":
                    return str(cd["message"])
            return None

        message = await wait_for(blocked, 20, "deletion blocked by the SLB API")
        assert "LoadBalancer" in message
        api = sb.sim.cluster("cn-hangzhou").api
        # the Service the SLB points at stays while the SLB does
        assert api.get(api.resolve("", "v1", "services"), NAMESPACE, APP) is not None
        assert len(lbs_of(sb, uid)) == len(sb.regions)
        emu.faults.clear()

        async def gone() -> bool:
            return await sb.host.get(FEDERATEDAPPS, APP, NAMESPACE) is None  # type: ignore[union-attr]

        await wait_for(gone, 40, "the app deleted once the SLB API answers")
        assert lbs_of(sb, uid) == {}
        services = api.list(api.resolve("", "v1", "services"), NAMESPACE)["items"]
        assert APP not in {svc["metadata"]["name"] for svc in services}
    finally:
        await sb.stop()
