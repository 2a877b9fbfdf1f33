"""The SLB plan: names, tokens, listener and backend changes (pure, property-tested)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.cloud.alibaba.slb import HealthCheck, ListenerSpec
from federation.slb.ccm import PREFIX, ccm_annotations
from federation.slb.plan import (
    BACKENDS_PER_CALL,
    NAME_MAX,
    client_token,
    desired_backends,
    desired_listeners,
    health_counts,
    instance_id,
    lb_name,
    lb_settings,
    listener_from_api,
    plan_backends,
    plan_lb,
    plan_listeners,
)


def app(**lb: Any) -> FederatedApp:
    return FederatedApp.model_validate(
        {
            "metadata": {"name": "web", "namespace": "shop", "uid": "uid-1"},
            "spec": {
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}},
                "placement": {"regions": [{"name": "cn-hangzhou"}]},
                "ports": [
                    {"name": "http", "port": 80, "protocol": "HTTP"},
                    {"name": "tls", "port": 443, "protocol": "HTTPS", "certificateId": "cert-a"},
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                ],
                "loadBalancer": lb,
                "dns": {"zone": "example.com", "hostname": "www.example.com"},
            },
        }
    )


def member(**spec: Any) -> MemberCluster:
    return MemberCluster.model_validate(
        {
            "metadata": {"name": "hz"},
            "spec": {"region": "cn-hangzhou", "kubeconfigSecretRef": {"name": "s", "namespace": "n"}, **spec},
        }
    )


@given(
    st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=63),
    st.text("abcdefghij-", min_size=1, max_size=63),
)
def test_names_fit_the_api_and_never_collide(ns: str, name: str) -> None:
    got = lb_name(ns, name)
    assert len(got) <= NAME_MAX
    assert got.startswith("fedctl-")
    if len(f"fedctl-{ns}-{name}") <= NAME_MAX:
        assert got == f"fedctl-{ns}-{name}"
    else:  # a long name keeps its head and gains a hash of the whole
        assert lb_name(ns, name + "x") != got


def test_client_token_is_stable_per_app_region_and_counter() -> None:
    t = client_token("uid-1", "cn-hangzhou", 0)
    assert t == client_token("uid-1", "cn-hangzhou", 0)
    assert len(t) <= 64
    assert len({t, client_token("uid-1", "cn-beijing", 0), client_token("uid-1", "cn-hangzhou", 1)}) == 3


def test_settings_from_spec_and_member() -> None:
    s = lb_settings(
        app(addressType="intranet", chargeType="paybybandwidth", bandwidth=50),
        member(zones=["cn-hangzhou-h", "cn-hangzhou-i"], vpcId="vpc-1", vSwitchIds=["vsw-1", "vsw-2"]),
    )
    assert (s.address_type, s.vpc_id, s.vswitch_id) == ("intranet", "vpc-1", "vsw-1")
    assert (s.master_zone, s.slave_zone) == ("cn-hangzhou-h", "cn-hangzhou-i")
    internet = lb_settings(app(chargeType="paybybandwidth", bandwidth=20), member(vpcId="vpc-1"))
    assert internet.vpc_id is None
    assert internet.master_zone is None
    view = {
        "AddressType": "internet",
        "InternetChargeType": "paybytraffic",
        "Bandwidth": 5120,
        "LoadBalancerSpec": "slb.s1.small",
    }
    changes = plan_lb(internet, view)
    assert changes.internet_spec == ("paybybandwidth", 20)
    assert changes.instance_spec is None
    assert plan_lb(internet, {**view, "InternetChargeType": "paybybandwidth", "Bandwidth": 20}).writes == 0
    assert plan_lb(s, view).immutable == ("addressType internet -> intranet",)


def test_listeners_follow_ports_and_node_ports() -> None:
    a = app(certificateId="cert-b")
    want, problems = desired_listeners(a, {"http": 30080, "tls": 30443})
    assert problems == ["port dns: the member's Service has no nodePort for it yet"]
    assert want[(443, "https")].certificate_id == "cert-a"
    assert want[(80, "http")].backend_port == 30080
    want, _ = desired_listeners(a, {"http": 30080, "tls": 30443, "dns": 30053})
    assert sorted(want) == [(53, "udp"), (80, "http"), (443, "https")]
    # nothing there: create and start all; all there and running: nothing
    first = plan_listeners(want, {}, set())
    assert len(first.create) == 3
    assert first.writes == 6
    assert plan_listeners(want, want, set(want)).writes == 0
    # a certificate change is one attribute set; a moved NodePort is delete + create; a gone port a delete
    have = dict(want)
    have[(443, "https")] = ListenerSpec(
        "https", 443, 30443, health_check=HealthCheck(), certificate_id="cert-old"
    )
    have[(80, "http")] = ListenerSpec("http", 80, 31111, health_check=want[(80, "http")].health_check)
    have[(8080, "tcp")] = ListenerSpec("tcp", 8080, 30000)
    changes = plan_listeners(want, have, set(have))
    assert [s.certificate_id for s in changes.update] == ["cert-a"]
    assert changes.delete == ((80, "http"), (8080, "tcp"))
    assert [s.backend_port for s in changes.create] == [30080]
    assert changes.start == ()


def test_a_listener_read_back_equals_what_created_it() -> None:
    hc = HealthCheck(interval_seconds=4, timeout_seconds=7, healthy_threshold=2)
    for proto, cfg in (
        (
            "tcp",
            {
                "HealthCheckSwitch": "on",
                "HealthCheckType": "tcp",
                "healthCheckInterval": 4,
                "HealthCheckConnectTimeout": 7,
                "HealthyThreshold": 2,
                "UnhealthyThreshold": 3,
            },
        ),
        (
            "https",
            {
                "HealthCheck": "on",
                "HealthCheckInterval": 4,
                "HealthCheckTimeout": 7,
                "HealthyThreshold": 2,
                "UnhealthyThreshold": 3,
                "ServerCertificateId": "c",
            },
        ),
    ):
        spec = ListenerSpec(
            proto, 443, 30443, health_check=hc, certificate_id="c" if proto == "https" else None
        )
        item = {
            "ListenerPort": 443,
            "ListenerProtocol": proto,
            "BackendServerPort": 30443,
            "Bandwidth": -1,
            "Scheduler": "wrr",
            f"{proto.upper()}ListenerConfig": cfg,
        }
        assert (
            plan_listeners(
                {(443, proto): spec}, {(443, proto): listener_from_api(item)}, {(443, proto)}
            ).writes
            == 0
        )


def node(
    name: str, provider: str | None, ready: bool = True, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"providerID": provider} if provider else {},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_backends_are_ready_nodes_with_a_usable_provider_id() -> None:
    b = desired_backends(
        [
            node("a", "cn-hangzhou.i-bp1aaa"),
            node("b", "cn-hangzhou.i-bp1bbb", ready=False),
            node("c", "i-bp1ccc"),  # no region: not guessed
            node("d", "cn-beijing.i-2zeddd"),  # another region's instance
            node("e", None),
            node(
                "f",
                "cn-hangzhou.i-bp1fff",
                labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""},
            ),
        ],
        "cn-hangzhou",
    )
    assert b.servers == {"i-bp1aaa"}
    assert b.not_ready == ("b",)
    assert b.unusable == ("c", "d", "e")
    assert "c, d, e" in b.problems()[0]
    assert instance_id("alicloud://cn-hangzhou.i-x1", "cn-hangzhou") == "i-x1"


@given(st.sets(st.integers(0, 60)), st.sets(st.integers(0, 60)))
def test_backend_changes_reach_the_wanted_set_in_the_fewest_calls(want_n: set[int], have_n: set[int]) -> None:
    want, have = {f"i-{n}" for n in want_n}, {f"i-{n}" for n in have_n}
    changes = plan_backends(want, have)
    result = set(have)
    for batch in changes.remove:
        assert 0 < len(batch) <= BACKENDS_PER_CALL
        result -= set(batch)
    for batch in changes.add:
        assert 0 < len(batch) <= BACKENDS_PER_CALL
        result |= set(batch)
    assert result == want
    ceil = -(-len(want - have) // BACKENDS_PER_CALL) + -(-len(have - want) // BACKENDS_PER_CALL)
    assert changes.writes == ceil


def test_health_counts() -> None:
    counts = health_counts(
        [
            {"ServerId": "i-1", "ServerHealthStatus": "normal"},
            {"ServerId": "i-1", "ServerHealthStatus": "abnormal"},
            {"ServerId": "i-2", "ServerHealthStatus": "unavailable"},
        ]
    )
    assert (counts.normal, counts.abnormal, counts.unavailable) == (1, 1, 1)
    assert not counts.ok
    assert counts.by_server == {"i-1": "abnormal", "i-2": "unavailable"}


def test_cloud_controller_annotations_carry_the_same_settings() -> None:
    ann = ccm_annotations(
        app(
            chargeType="paybybandwidth",
            bandwidth=30,
            addressType="intranet",
            healthCheck={"type": "http", "uri": "/healthz"},
        ),
        member(zones=["cn-hangzhou-h", "cn-hangzhou-i"], vpcId="vpc-1", vSwitchIds=["vsw-1"]),
    )
    short = {k.removeprefix(PREFIX): v for k, v in ann.items()}
    assert short["protocol-port"] == "http:80,https:443,udp:53"
    assert (short["charge-type"], short["bandwidth"], short["address-type"]) == (
        "paybybandwidth",
        "30",
        "intranet",
    )
    assert (short["cert-id"], short["vswitch-id"], short["health-check-uri"]) == (
        "cert-a",
        "vsw-1",
        "/healthz",
    )
    assert (short["master-zoneid"], short["slave-zoneid"], short["delete-protection"]) == (
        "cn-hangzhou-h",
        "cn-hangzhou-i",
        "off",
    )


def test_a_region_override_names_that_regions_certificate() -> None:
    base = app(certificateId="cert-b")
    body = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"]["overrides"] = [{"region": "cn-hangzhou", "certificateId": "cert-hz"}]
    regional = FederatedApp.model_validate(body)
    want, _ = desired_listeners(regional, {"http": 30080, "tls": 30443, "dns": 30053}, "cn-hangzhou")
    assert want[(443, "https")].certificate_id == "cert-hz"  # the region's own, over the port's
    want, _ = desired_listeners(regional, {"http": 30080, "tls": 30443, "dns": 30053}, "cn-beijing")
    assert want[(443, "https")].certificate_id == "cert-a"
    short = {k.removeprefix(PREFIX): v for k, v in ccm_annotations(regional, member()).items()}
    assert short["cert-id"] == "cert-hz"
