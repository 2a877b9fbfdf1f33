"""The pydantic models' helpers the controller relies on, and condition bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from federation.api import constants as c
from federation.api.conditions import Condition, get_condition, is_true, remove_condition, set_condition
from federation.api.federatedapp import FederatedApp, LabelSelector, ServicePort
from federation.api.membercluster import MemberCluster
from federation.api.meta import wire_dump


def app_dict(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        },
        "placement": {"regions": [{"name": "cn-hangzhou"}, {"name": "cn-beijing"}, {"name": "eu-central-1"}]},
        "ports": [{"name": "http", "port": 80}],
        "dns": {"zone": "example.com", "hostname": "www.example.com"},
    }
    base.update(spec)
    return {
        "apiVersion": c.API_VERSION,
        "kind": "FederatedApp",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "managedFields": [{"x": 1}]},
        "spec": base,
    }


def test_selector_and_labels() -> None:
    app = FederatedApp.model_validate(app_dict())
    assert app.effective_selector() == LabelSelector(match_labels={c.LABEL_APP: "web"})
    assert app.pod_labels() == {"app": "web", c.LABEL_APP: "web"}
    assert app.effective_selector().matches(app.pod_labels())
    assert app.ownership_labels() == {
        c.LABEL_APP: "web",
        c.LABEL_APP_NAMESPACE: "shop",
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
        c.LABEL_APP_UID: "u-1",
    }
    assert app.key == "shop/web"
    custom = FederatedApp.model_validate(app_dict(selector={"matchLabels": {"app": "web"}}))
    assert custom.effective_selector().match_labels == {"app": "web"}


def test_label_selector_semantics() -> None:
    sel = LabelSelector.model_validate(
        {
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }
    )
    assert sel.matches({"a": "1", "tier": "api"})
    assert not sel.matches({"a": "1", "tier": "db"})
    assert not sel.matches({"a": "1", "tier": "web", "canary": "true"})
    assert LabelSelector().matches({})
    with pytest.raises(ValidationError, match="values"):
        LabelSelector.model_validate({"matchExpressions": [{"key": "k", "operator": "In"}]})


def test_ports_probe_and_dns_helpers() -> None:
    app = FederatedApp.model_validate(
        app_dict(
            ports=[
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "HTTP"},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ],
            healthProbe={"type": "HTTP"},
        )
    )
    http, dns = app.spec.ports
    assert (http.target_port_or_port(), http.transport()) == (8080, "TCP")
    assert (dns.target_port_or_port(), dns.transport()) == (53, "UDP")
    assert app.spec.health_probe.effective_port(app.spec.ports) == 80
    assert app.spec.health_probe.effective_path() == "/"
    assert app.spec.dns.relative_name() == "www"
    apex = FederatedApp.model_validate(app_dict(dns={"zone": "example.com", "hostname": "example.com"}))
    assert apex.spec.dns.relative_name() == "@"


def test_failover_order_and_overrides() -> None:
    app = FederatedApp.model_validate(
        app_dict(
            placement={
                "strategy": "Failover",
                "regions": [{"name": "cn-hangzhou"}, {"name": "cn-beijing"}, {"name": "eu-central-1"}],
                "failoverOrder": ["eu-central-1"],
            },
            overrides=[{"region": "cn-beijing", "image": "nginx:cn", "replicas": 2}],
        )
    )
    assert app.spec.dns_failover_order() == ["eu-central-1", "cn-hangzhou", "cn-beijing"]
    override = app.spec.override_for("cn-beijing")
    assert override is not None
    assert override.image == "nginx:cn"
    assert app.spec.override_for("cn-hangzhou") is None
    region = app.spec.placement.region("cn-beijing")
    assert region is not None
    assert (region.weight, region.min_replicas, region.max_replicas) == (1, 0, None)


def test_strict_types_match_the_api_server() -> None:
    # The API server rejects "3" for an integer and "yes" for a boolean; so must Python.
    with pytest.raises(ValidationError, match="replicas"):
        FederatedApp.model_validate(app_dict(replicas="3"))
    with pytest.raises(ValidationError, match="extra"):
        FederatedApp.model_validate(app_dict(replica=3))


def test_wire_dump_is_json_with_camel_case_and_metadata_kept() -> None:
    app = FederatedApp.model_validate(app_dict())
    wire = wire_dump(app)
    assert wire["metadata"]["managedFields"] == [{"x": 1}]
    assert wire["spec"]["placement"]["rescheduleOnFailure"] is True
    assert "load_balancer" not in wire["spec"]
    assert wire["spec"]["loadBalancer"]["healthCheck"]["intervalSeconds"] == 2
    status = {
        "observedGeneration": 3,
        "regions": [{"region": "cn-hangzhou", "servingDNS": False, "dnsReason": "Unhealthy"}],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllRegionsReady",
                "lastTransitionTime": "2024-05-01T10:00:00Z",
            }
        ],
    }
    with_status = FederatedApp.model_validate({**app_dict(), "status": status})
    dumped = wire_dump(with_status)["status"]
    assert dumped["regions"][0]["servingDNS"] is False
    assert dumped["conditions"][0]["lastTransitionTime"] == "2024-05-01T10:00:00Z"


def test_membercluster_drain_annotation() -> None:
    mc = MemberCluster.model_validate(
        {
            "metadata": {"name": "m", "annotations": {c.ANNOTATION_REGION_HEALTH: "Unhealthy"}},
            "spec": {
                "region": "cn-hangzhou",
                "zones": ["cn-hangzhou-h"],
                "kubeconfigSecretRef": {"name": "s", "namespace": "federation-system"},
            },
        }
    )
    assert mc.drained()
    assert mc.spec.kubeconfig_secret_ref.key == "kubeconfig"


T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_set_condition_keeps_transition_time_unless_status_changes() -> None:
    conds = set_condition([], "Ready", False, "Progressing", "rolling out", 1, T0)
    assert conds[0].last_transition_time == T0.replace(microsecond=0)
    later = T0 + timedelta(minutes=5)
    same = set_condition(conds, "Ready", "False", "StillProgressing", "2/3 regions", 2, later)
    assert same[0].last_transition_time == T0.replace(microsecond=0)
    assert (same[0].reason, same[0].message) == ("StillProgressing", "2/3 regions")
    assert same[0].observed_generation == 2
    flipped = set_condition(same, "Ready", True, "AllRegionsReady", "", 2, later)
    assert flipped[0].last_transition_time == later.replace(microsecond=0)
    both = set_condition(flipped, c.COND_DNS_PUBLISHED, True, "Published", "", 2, later)
    assert [x.type for x in both] == ["Ready", c.COND_DNS_PUBLISHED]
    assert is_true(both, "Ready")
    assert not is_true(both, "Degraded")
    assert get_condition(both, "Degraded") is None
    assert [x.type for x in remove_condition(both, "Ready")] == [c.COND_DNS_PUBLISHED]
    assert conds[0].status == "False"  # the input list was not modified


@given(
    st.lists(st.tuples(st.sampled_from(["Ready", "Degraded", "DNSPublished"]), st.booleans()), max_size=20)
)
def test_set_condition_properties(updates: list[tuple[str, bool]]) -> None:
    conds: list[Condition] = []
    now = T0
    last_change: dict[str, datetime] = {}
    last_status: dict[str, bool] = {}
    for type_, status in updates:
        now += timedelta(seconds=7)
        conds = set_condition(conds, type_, status, "Reason", "m", None, now)
        if last_status.get(type_) != status:
            last_change[type_] = now.replace(microsecond=0)
            last_status[type_] = status
    assert len({x.type for x in conds}) == len(conds)
    for cond in conds:
        assert cond.status == ("True" if last_status[cond.type] else "False")
        assert cond.last_transition_time == last_change[cond.type]


def test_condition_rejects_bad_reason() -> None:
    with pytest.raises(ValidationError, match="reason"):
        Condition(type="Ready", status="True", reason="not a reason!", last_transition_time=T0)


def test_service_port_defaults() -> None:
    port = ServicePort(name="http", port=80)
    assert (port.protocol, port.target_port_or_port()) == ("TCP", 80)


def test_https_ports_take_their_own_certificate_or_the_load_balancers() -> None:
    ports = [
        {"name": "web", "port": 443, "protocol": "HTTPS", "certificateId": "cert-web"},
        {"name": "api", "port": 8443, "protocol": "HTTPS"},
    ]
    app = FederatedApp.model_validate(app_dict(ports=ports, loadBalancer={"certificateId": "cert-default"}))
    lb = app.spec.load_balancer
    assert [lb.certificate_for(p) for p in app.spec.ports] == ["cert-web", "cert-default"]
    assert lb.mode == "Managed"
    # no certificate anywhere for the second port: the error names that port's field
    with pytest.raises(ValidationError, match=r"ports\[1\]\.certificateId: Required value: port 'api'"):
        FederatedApp.model_validate(app_dict(ports=ports))
    with pytest.raises(ValidationError, match="certificateId: Forbidden"):
        FederatedApp.model_validate(
            app_dict(ports=[{"name": "web", "port": 80, "protocol": "HTTP", "certificateId": "c"}])
        )
    with pytest.raises(ValidationError, match="mode"):
        FederatedApp.model_validate(app_dict(loadBalancer={"mode": "Ingress"}))
