"""The preflight's pure verdicts: security-group rule precedence and the node checks' edge cases."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from federation.preflight import checks

OPEN = {
    "IpProtocol": "TCP",
    "PortRange": "30000/32767",
    "SourceCidrIp": "0.0.0.0/0",
    "Policy": "Accept",
    "Direction": "ingress",
    "Priority": 1,
}


def test_node_ports_rules() -> None:
    assert checks.node_ports_open([OPEN])
    assert checks.node_ports_open([{**OPEN, "IpProtocol": "ALL", "PortRange": "-1/-1"}])
    assert checks.node_ports_open([{**OPEN, "SourceCidrIp": "100.64.0.0/10"}])  # the SLB's own range
    assert not checks.node_ports_open([{**OPEN, "SourceCidrIp": "10.0.0.0/8"}])  # not where the SLB is
    assert not checks.node_ports_open([{**OPEN, "PortRange": "30000/31000"}])  # part of the range only
    assert not checks.node_ports_open([{**OPEN, "IpProtocol": "UDP"}])
    assert not checks.node_ports_open([{**OPEN, "Direction": "egress"}])
    drop = {**OPEN, "Policy": "Drop", "Priority": 1}
    assert not checks.node_ports_open([OPEN, drop])  # same priority: drop wins
    assert checks.node_ports_open([{**drop, "Priority": 2}, OPEN])  # a better (lower) priority wins


@given(
    st.lists(
        st.sampled_from(
            [
                OPEN,
                {**OPEN, "Policy": "Drop"},
                {**OPEN, "Priority": 5},
                {**OPEN, "Policy": "Drop", "Priority": 5},
            ]
        ),
        max_size=6,
    )
)
def test_rule_order_does_not_matter(rules: list[dict[str, object]]) -> None:
    assert checks.node_ports_open(rules) == checks.node_ports_open(list(reversed(rules)))


def node(name: str, provider: str | None, zone: str = "cn-beijing-a", hostname: str | None = None) -> dict:
    return {
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": hostname or name, "topology.kubernetes.io/zone": zone},
        },
        "spec": {"providerID": provider} if provider else {},
    }


def test_provider_ids_must_name_an_instance_in_the_region() -> None:
    ok = node("a", "cn-beijing.i-2ze0abc")
    assert checks.check_provider_ids([ok], "cn-beijing").verdict == "pass"
    assert (
        checks.check_provider_ids([node("b", "alicloud://cn-beijing.i-2ze0abc")], "cn-beijing").verdict
        == "pass"
    )
    bad = checks.check_provider_ids([ok, node("c", "cn-hangzhou.i-bp1x"), node("d", None)], "cn-beijing")
    assert bad.verdict == "fail"
    assert "c (cn-hangzhou.i-bp1x)" in bad.found
    assert "d (none)" in bad.found
    assert checks.check_provider_ids([], "cn-beijing").verdict == "fail"


def test_versions() -> None:
    assert checks.check_api({"gitVersion": "v1.30.2"}, None).verdict == "pass"
    assert checks.check_api({"gitVersion": "v1.25.0-aliyun.1"}, None).verdict == "warn"
    assert checks.check_api({"gitVersion": "v1.22.3"}, None).verdict == "fail"
    assert checks.check_api(None, "connection refused").verdict == "fail"


def test_zones_and_sysctl() -> None:
    assert checks.check_zones([node("a", None, "z1"), node("b", None, "z2")]).verdict == "pass"
    assert checks.check_zones([node("a", None, "z1")]).verdict == "warn"
    assert checks.check_sysctl({"a": "1", "b": None}).verdict == "fail"
    assert checks.check_sysctl(None, "no pods").verdict == "skip"
