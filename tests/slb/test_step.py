"""SlbStep against the Alibaba Cloud emulator, with the member clusters given as plain data.

What a user relies on: one SLB per (app, region) found by its tags, listeners per port to the NodePorts,
backends = Ready nodes, zero writes and at most one read per region at steady state, a foreign SLB with
our name left alone, an interrupted create never doubled, and everything deleted on removal.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.retry import RetryPolicy
from federation.cloud.alibaba.slb import SlbApi
from federation.controller.appstatus import RegionObservation
from federation.controller.steps import StepContext
from federation.placement import PlacementResult, RegionAssignment
from federation.sandbox.aliyun import AliyunEmulator
from federation.slb.plan import TAG_APP_UID, lb_name
from federation.slb.step import SlbRetry, SlbStep

REGIONS = ("cn-hangzhou", "cn-beijing")
Obj = dict[str, Any]


def node(region: str, i: int, ready: bool = True) -> Obj:
    return {
        "metadata": {"name": f"{region}.192.168.0.{i}"},
        "spec": {"providerID": f"{region}.i-{region[3:6]}{i:04d}"},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


class Members:
    """Member clusters as plain data (what the controller's caches would hold)."""

    def __init__(self) -> None:
        self.clusters = {
            r: MemberCluster.model_validate(
                {
                    "metadata": {"name": r},
                    "spec": {
                        "region": r,
                        "zones": [f"{r}-a", f"{r}-b"],
                        "kubeconfigSecretRef": {"name": r, "namespace": "federation-system"},
                    },
                }
            )
            for r in REGIONS
        }
        self.node_lists = {r: [node(r, i) for i in range(1, 4)] for r in REGIONS}
        self.services: dict[str, Obj] = {}
        self.reachable = dict.fromkeys(REGIONS, True)

    def member_cluster(self, name: str) -> MemberCluster | None:
        return self.clusters.get(name)

    def regions(self) -> set[str]:
        return {mc.spec.region for mc in self.clusters.values()}

    def known(self, cluster: str) -> bool:
        return self.reachable.get(cluster, False)

    def service(self, cluster: str, key: str) -> Obj | None:
        return self.services.get(cluster)

    def nodes(self, cluster: str) -> list[Obj]:
        return self.node_lists.get(cluster, [])

    def register(self, emu: AliyunEmulator) -> None:
        """The ECS instances behind the nodes, as the region knows them."""
        for r, nodes in self.node_lists.items():
            for n in nodes:
                emu.register_instance(r, n["spec"]["providerID"].split(".", 1)[1])

    def set_ports(self, app: FederatedApp) -> None:
        for i, r in enumerate(REGIONS):
            ports = [
                {"name": p.name, "port": p.port, "nodePort": 30000 + 100 * i + n}
                for n, p in enumerate(app.spec.ports)
            ]
            self.services[r] = {"spec": {"type": "NodePort", "ports": ports}}


def make_app(uid: str = "uid-web", **spec: Any) -> FederatedApp:
    body: Obj = {
        "metadata": {"name": "web", "namespace": "shop", "uid": uid},
        "spec": {
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}},
            "placement": {"regions": [{"name": r} for r in REGIONS]},
            "ports": [{"name": "http", "port": 80, "protocol": "HTTP"}, {"name": "raw", "port": 9000}],
            "dns": {"zone": "example.com", "hostname": "www.example.com"},
        },
    }
    body["spec"].update(spec)
    return FederatedApp.model_validate(body)


def ctx_for(app: FederatedApp, regions: tuple[str, ...] = REGIONS) -> StepContext:
    placement = PlacementResult(tuple(RegionAssignment(r, 2, "active") for r in regions))
    obs = {r: RegionObservation(r, cluster=r, reachable=True, health="Healthy") for r in regions}
    return StepContext(app=app, placement=placement, regions=obs, previous_status=None)


@pytest.fixture
async def emu() -> AsyncIterator[AliyunEmulator]:
    e = AliyunEmulator(domains=["example.com"], seed=3)
    await e.start("127.0.0.1", 0, dns_port=None)
    yield e
    await e.stop()


@pytest.fixture
async def api(emu: AliyunEmulator) -> AsyncIterator[SlbApi]:
    client = AlibabaClient(
        emu.access_key_id,
        emu.access_key_secret,
        "cn-hangzhou",
        endpoint=emu.endpoint,
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05),
    )
    yield SlbApi(client)
    await client.close()


def slb_calls(emu: AliyunEmulator) -> dict[str, int]:
    return {k.removeprefix("Slb."): v for k, v in emu.call_counts().items() if k.startswith("Slb.")}


READS = ("Describe", "List")


def writes(calls: dict[str, int]) -> int:
    return sum(n for action, n in calls.items() if not action.startswith(READS))


def lbs_of(emu: AliyunEmulator, uid: str) -> list[Any]:
    return [lb for lb in emu.slb.lbs.values() if lb.tags.get(TAG_APP_UID) == uid]


async def test_create_then_steady_state_then_delete(emu: AliyunEmulator, api: SlbApi) -> None:
    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    step = SlbStep(api, members, resync=300.0)
    ctx = ctx_for(app)
    await step.apply(ctx)

    lbs = lbs_of(emu, "uid-web")
    assert sorted(lb.region for lb in lbs) == sorted(REGIONS)
    for lb in lbs:
        assert lb.name == lb_name("shop", "web") == "fedctl-shop-web"
        assert (lb.master_zone, lb.slave_zone, lb.delete_protection) == (
            f"{lb.region}-a",
            f"{lb.region}-b",
            "off",
        )
        assert {(li.port, li.protocol, li.status) for li in lb.listeners.values()} == {
            (80, "http", "running"),
            (9000, "tcp", "running"),
        }
        assert set(lb.backends) == {f"i-{lb.region[3:6]}{i:04d}" for i in range(1, 4)}
        fields = ctx.region_fields[lb.region]
        assert (fields["load_balancer_id"], fields["address"]) == (lb.lb_id, lb.address)
        node_ports = {li.port: li.backend_port for li in lb.listeners.values()}  # what the SLB holds
        assert fields["listeners"] == [f"HTTP:80->{node_ports[80]}", f"TCP:9000->{node_ports[9000]}"]
    assert ctx.conditions[-1][:3] == ("LoadBalancersReady", True, "Ready")

    # steady state: the next reconciles make no write and, within a resync, no read at all
    emu.reset_call_counts()
    for _ in range(3):
        await step.apply(ctx_for(app))
    assert slb_calls(emu) == {}

    # a new resync: one paged listing per region, nothing else
    step.resync = 0.0
    await step.apply(ctx_for(app))
    calls = slb_calls(emu)
    assert writes(calls) == 0
    assert calls == {"DescribeLoadBalancers": len(REGIONS)}

    # a fresh controller adopts what exists (tags), reads each SLB back once, changes nothing
    emu.reset_call_counts()
    fresh = SlbStep(api, members)
    await fresh.apply(ctx_for(app))
    calls = slb_calls(emu)
    assert writes(calls) == 0, calls
    assert len(lbs_of(emu, "uid-web")) == len(REGIONS)

    # deletion: zero SLBs of the app left
    await fresh.cleanup(ctx_for(app))
    assert lbs_of(emu, "uid-web") == []


async def test_node_churn_and_port_changes_take_the_fewest_calls(emu: AliyunEmulator, api: SlbApi) -> None:
    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    step = SlbStep(api, members)
    await step.apply(ctx_for(app))

    # one node joins and one goes NotReady in cn-hangzhou: one Add and one Remove
    members.node_lists["cn-hangzhou"].append(node("cn-hangzhou", 7))
    emu.register_instance("cn-hangzhou", "i-han0007")
    members.node_lists["cn-hangzhou"][0] = node("cn-hangzhou", 1, ready=False)
    emu.reset_call_counts()
    await step.apply(ctx_for(app))
    assert slb_calls(emu) == {"AddBackendServers": 1, "RemoveBackendServers": 1}
    (hz,) = [lb for lb in lbs_of(emu, "uid-web") if lb.region == "cn-hangzhou"]
    assert set(hz.backends) == {"i-han0002", "i-han0003", "i-han0007"}

    # a port removed and another added: one delete, one create and one start per region
    app2 = make_app(
        ports=[
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "udp", "port": 5353, "protocol": "UDP"},
        ]
    )
    members.set_ports(app2)
    emu.reset_call_counts()
    await step.apply(ctx_for(app2))
    assert slb_calls(emu) == {
        "DeleteLoadBalancerListener": 2,
        "CreateLoadBalancerUDPListener": 2,
        "StartLoadBalancerListener": 2,
    }
    assert {(li.port, li.protocol) for li in hz.listeners.values()} == {(80, "http"), (5353, "udp")}

    # a node without a usable providerID is reported and left out, never guessed
    bad = node("cn-beijing", 9)
    bad["spec"]["providerID"] = "i-2ze-no-region"
    members.node_lists["cn-beijing"].append(bad)
    ctx = ctx_for(app2)
    await step.apply(ctx)
    cond = ctx.conditions[-1]
    assert cond[:3] == ("LoadBalancersReady", True, "Ready")
    assert "cn-beijing.192.168.0.9" in cond[3]
    assert "i-2ze-no-region" not in str([lb.backends for lb in lbs_of(emu, "uid-web")])


async def test_a_foreign_slb_with_our_name_is_left_alone(emu: AliyunEmulator, api: SlbApi) -> None:
    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    foreign = await api.create_load_balancer("cn-hangzhou", "fedctl-shop-web", client_token="someone-else")
    before = copy.deepcopy(emu.slb.lbs[foreign["LoadBalancerId"]])
    step = SlbStep(api, members)
    ctx = ctx_for(app)
    await step.apply(ctx)
    cond = ctx.conditions[-1]
    assert cond[:3] == ("LoadBalancersReady", False, "NameClash")
    assert foreign["LoadBalancerId"] in cond[3]
    assert emu.slb.lbs[foreign["LoadBalancerId"]] == before  # untouched
    assert [lb.region for lb in lbs_of(emu, "uid-web")] == ["cn-beijing"]  # the other region proceeds
    assert "address" not in ctx.region_fields.get("cn-hangzhou", {})
    await step.cleanup(ctx_for(app))
    assert foreign["LoadBalancerId"] in emu.slb.lbs  # deletion spares it too


async def test_an_interrupted_create_never_makes_a_second_slb(emu: AliyunEmulator, api: SlbApi) -> None:
    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    # the create runs but its answer is lost, every time: the controller dies with nothing recorded
    emu.faults.set("slb", "CreateLoadBalancer", error_rate=1.0, after=True)
    with pytest.raises(SlbRetry):
        await SlbStep(api, members).apply(ctx_for(app))
    assert len(lbs_of(emu, "uid-web")) == len(REGIONS)  # made (with its tags), answers lost
    emu.faults.clear()
    # a restarted controller finds them by their tags: still exactly one per region
    step = SlbStep(api, members)
    ctx = ctx_for(app)
    await step.apply(ctx)
    assert sorted(lb.region for lb in lbs_of(emu, "uid-web")) == sorted(REGIONS)
    assert ctx.conditions[-1][:3] == ("LoadBalancersReady", True, "Ready")


async def test_a_region_left_and_cloud_controller_mode_remove_our_slbs(
    emu: AliyunEmulator, api: SlbApi
) -> None:
    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    step = SlbStep(api, members)
    await step.apply(ctx_for(app))
    one = make_app(placement={"regions": [{"name": "cn-hangzhou"}]})
    await step.apply(ctx_for(one, ("cn-hangzhou",)))
    assert [lb.region for lb in lbs_of(emu, "uid-web")] == ["cn-hangzhou"]
    # the same region back: a fresh create token, a new SLB
    await step.apply(ctx_for(app))
    assert len(lbs_of(emu, "uid-web")) == 2

    ccm = make_app(loadBalancer={"mode": "CloudController"})
    for r in REGIONS:
        members.services[r]["status"] = {"loadBalancer": {"ingress": [{"ip": f"47.0.0.{len(r)}"}]}}
    ctx = ctx_for(ccm)
    await step.apply(ctx)
    assert lbs_of(emu, "uid-web") == []
    assert ctx.region_fields["cn-beijing"]["address"] == "47.0.0.10"


async def test_an_unreachable_slb_api_blocks_deletion(emu: AliyunEmulator, api: SlbApi) -> None:
    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    step = SlbStep(api, members)
    await step.apply(ctx_for(app))
    emu.faults.set("slb", "*", error_rate=1.0, error_status=503)
    with pytest.raises(SlbRetry, match="deleting the app's SLBs"):
        await step.cleanup(ctx_for(app))
    assert len(lbs_of(emu, "uid-web")) == 2
    emu.faults.clear()
    await step.cleanup(ctx_for(app))
    assert lbs_of(emu, "uid-web") == []


async def test_backend_health_is_read_counted_and_signalled(emu: AliyunEmulator, api: SlbApi) -> None:
    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    changed: list[str] = []
    step = SlbStep(api, members, on_health_change=changed.append)
    await step.apply(ctx_for(app))
    assert await step.sweep_health() == 2
    hz = step.backend_health("shop/web", "cn-hangzhou")
    assert hz is not None
    assert (hz.normal, hz.abnormal) == (6, 0)  # 3 backends x 2 listeners
    assert changed == ["shop/web", "shop/web"]
    (lb,) = [lb for lb in lbs_of(emu, "uid-web") if lb.region == "cn-hangzhou"]
    emu.set_backend_health(lb.lb_id, "i-han0001", "abnormal")
    changed.clear()
    await step.sweep_health()
    assert changed == ["shop/web"]
    ctx = ctx_for(app)
    await step.apply(ctx)
    health = ctx.region_fields["cn-hangzhou"]["backend_health"]
    assert (health.normal, health.abnormal) == (4, 2)


async def upload_certificate(api: SlbApi, region: str, name: str) -> str:
    from tests.aliyun.conftest import upload_request

    answer = await api.client.call(upload_request(name), idempotent=False, region_id=region)
    return str(answer["ServerCertificateId"])


async def test_certificates_and_bandwidth_change_in_place(emu: AliyunEmulator, api: SlbApi) -> None:
    members = Members()
    members.register(emu)
    certs = {r: [await upload_certificate(api, r, f"www{i}.example.com") for i in range(2)] for r in REGIONS}
    # a certificate id is per region in SLB; the emulator checks existence in any region it knows
    ports = [{"name": "tls", "port": 443, "protocol": "HTTPS", "certificateId": certs["cn-hangzhou"][0]}]
    app = make_app(ports=ports, loadBalancer={"chargeType": "paybybandwidth", "bandwidth": 10})
    members.set_ports(app)
    step = SlbStep(api, members)
    await step.apply(ctx_for(app, ("cn-hangzhou",)))
    (lb,) = lbs_of(emu, "uid-web")
    assert (lb.charge_type, lb.bandwidth) == ("paybybandwidth", 10)
    assert lb.listeners[(443, "https")].extra["ServerCertificateId"] == certs["cn-hangzhou"][0]

    # the certificate and the bandwidth change: one attribute set, one internet-spec change
    ports[0]["certificateId"] = certs["cn-hangzhou"][1]
    app = make_app(ports=ports, loadBalancer={"chargeType": "paybybandwidth", "bandwidth": 50})
    emu.reset_call_counts()
    await step.apply(ctx_for(app, ("cn-hangzhou",)))
    assert slb_calls(emu) == {"SetLoadBalancerHTTPSListenerAttribute": 1, "ModifyLoadBalancerInternetSpec": 1}
    assert lb.listeners[(443, "https")].extra["ServerCertificateId"] == certs["cn-hangzhou"][1]
    assert lb.bandwidth == 50

    # a certificate the SLB does not have: a clear condition, and no retry loop
    ports[0]["certificateId"] = "missing-cert"
    app = make_app(ports=ports, loadBalancer={"chargeType": "paybybandwidth", "bandwidth": 50})
    emu.reset_call_counts()
    ctx = ctx_for(app, ("cn-hangzhou",))
    await step.apply(ctx)  # does not raise: nothing to retry until the certificate exists
    cond = ctx.conditions[-1]
    assert cond[:3] == ("LoadBalancersReady", False, "CertificateNotFound")
    assert "missing-cert" in cond[3]
    await step.apply(ctx_for(app, ("cn-hangzhou",)))
    assert slb_calls(emu) == {"SetLoadBalancerHTTPSListenerAttribute": 1}  # tried once, not again
    assert lb.listeners[(443, "https")].extra["ServerCertificateId"] == certs["cn-hangzhou"][1]


async def test_the_health_sweeps_reads_feed_the_step_through_the_relay(
    emu: AliyunEmulator, api: SlbApi
) -> None:
    from federation.slb.step import HealthRelay

    members = Members()
    members.register(emu)
    app = make_app()
    members.set_ports(app)
    changed: list[str] = []
    step = SlbStep(api, members, on_health_change=changed.append)
    await step.apply(ctx_for(app))
    relay = HealthRelay(api, step)
    (lb,) = [lb for lb in lbs_of(emu, "uid-web") if lb.region == "cn-beijing"]
    emu.reset_call_counts()
    servers = await relay.describe_health_status("cn-beijing", lb.lb_id)
    assert len(servers) == 6
    assert slb_calls(emu) == {"DescribeHealthStatus": 1}  # one read serves both
    counts = step.backend_health("shop/web", "cn-beijing")
    assert counts is not None
    assert counts.normal == 6
    assert changed == ["shop/web"]
