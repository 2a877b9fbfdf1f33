"""The CRD files, the Python schema source and the pydantic models describe the same API.

- crds/*.yaml are exactly what the generator writes (so nobody hand-edits them out of sync);
- every pydantic field is a schema property with the same camelCase name, required-ness and default,
  and the other way round;
- generated valid FederatedApps (hypothesis) pass both, and the model's dump equals the API server's
  defaulting of the same object.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
import typing
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from federation.api.conditions import set_condition
from federation.api.crdgen import load_crds, markdown_reference, rendered_files
from federation.api.crdschema import all_crds, federatedapp_schema, membercluster_schema, openapi_schema
from federation.api.federatedapp import (
    DnsRecordStatus,
    DnsStatus,
    FederatedApp,
    FederatedAppStatus,
    RegionStatus,
)
from federation.api.membercluster import MemberCluster
from federation.api.schema_validation import apply_defaults, check_schema, validate
from tests.api.corpus import REPO


def test_committed_crds_equal_generated_output() -> None:
    files = rendered_files()
    assert sorted(files) == ["federatedapps.federation.io.yaml", "memberclusters.federation.io.yaml"]
    for name, text in files.items():
        committed = (REPO / "crds" / name).read_text()
        assert committed == text, f"crds/{name} is stale: run python -m federation.api.crdgen"


def test_generator_check_command(tmp_path: Any) -> None:
    cmd = [sys.executable, "-m", "federation.api.crdgen"]
    check = [*cmd, "--check", "--out", str(tmp_path)]
    stale = subprocess.run(check, capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "out of date" in stale.stderr
    subprocess.run([*cmd, "--out", str(tmp_path)], check=True, capture_output=True)
    ok = subprocess.run(check, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert load_crds(tmp_path) == all_crds()


def test_crds_are_well_formed_for_the_api_server() -> None:
    for crd in load_crds(REPO / "crds"):
        spec = crd["spec"]
        version = spec["versions"][0]
        assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
        scale = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
        subresources = (
            {"status": {}, "scale": scale} if spec["names"]["kind"] == "FederatedApp" else {"status": {}}
        )
        assert version["subresources"] == subresources
        assert spec["names"]["categories"] == ["federation"]
        assert spec["names"]["shortNames"] in (["fapp"], ["mc"])
        assert check_schema(version["schema"]["openAPIV3Schema"]) == []
        columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
        expected = (
            ["Strategy", "Replicas", "Ready", "Regions", "DNS", "Age"]
            if spec["names"]["kind"] == "FederatedApp"
            else ["Region", "Ready", "Reachable", "Nodes", "Version", "Age"]
        )
        assert columns == expected
        _assert_structural(version["schema"]["openAPIV3Schema"], "")


def _assert_structural(node: dict[str, Any], where: str) -> None:
    """Structural-schema rules the API server enforces: a type everywhere (except int-or-string), list-map
    keys required or defaulted, no uniqueItems, no additionalProperties beside properties."""
    assert node.get("type") or node.get("x-kubernetes-int-or-string"), f"{where}: no type"
    assert "uniqueItems" not in node, where
    assert not ("properties" in node and "additionalProperties" in node), where
    if node.get("x-kubernetes-list-type") == "map":
        items = node["items"]
        for key in node["x-kubernetes-list-map-keys"]:
            assert key in items.get("required", []) or "default" in items["properties"][key], where
    for name, sub in (node.get("properties") or {}).items():
        if where == "" and name == "metadata":
            continue
        _assert_structural(sub, f"{where}.{name}")
    if isinstance(node.get("items"), dict):
        _assert_structural(node["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        _assert_structural(node["additionalProperties"], f"{where}{{}}")


# --- pydantic <-> schema, field by field ------------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation like `X | None` or `list[X] | None`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) or origin is list:
        for arg in args:
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _compare(model: type[BaseModel], schema: dict[str, Any], where: str, checked: list[str]) -> None:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    aliases = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        aliases[alias] = field
    assert set(aliases) == set(props), f"{where}: model {sorted(aliases)} vs schema {sorted(props)}"
    for alias, field in aliases.items():
        sub = props[alias]
        path = f"{where}.{alias}"
        if where == "" and alias in ("apiVersion", "kind", "metadata"):
            continue  # the API server owns these; the models pin apiVersion/kind as Literals
        checked.append(path)
        assert field.is_required() == (alias in required), f"{path}: required differs"
        if field.default is not PydanticUndefined and field.default is not None:
            assert sub.get("default") == field.default, f"{path}: {field.default!r} vs {sub.get('default')!r}"
        elif field.default_factory is not None:
            made = field.default_factory()  # type: ignore[call-arg]
            if isinstance(made, BaseModel):
                assert sub.get("default") == {}, f"{path}: object default should be {{}}"
            else:
                assert "default" not in sub, f"{path}: model defaults to empty, schema has a default"
        else:
            assert "default" not in sub, f"{path}: schema default {sub.get('default')!r} missing in the model"
        if "enum" in sub:
            literal_args = _literal_values(field.annotation)
            assert literal_args == set(sub["enum"]), f"{path}: enum differs"
        child = _model_of(field.annotation)
        if child is None:
            continue
        child_schema = sub["items"] if sub.get("type") == "array" else sub
        _compare(child, child_schema, path, checked)


def _literal_values(annotation: Any) -> set[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    values: set[Any] = set()
    for arg in typing.get_args(annotation):
        values |= _literal_values(arg)
    return values


def test_models_and_schemas_declare_the_same_fields() -> None:
    for model, crd in ((FederatedApp, all_crds()[0]), (MemberCluster, all_crds()[1])):
        checked: list[str] = []
        _compare(model, openapi_schema(crd), "", checked)
        assert len(checked) > 20


def test_markdown_reference_lists_every_field() -> None:
    text = markdown_reference()
    checked: list[str] = []
    _compare(FederatedApp, federatedapp_schema(), "", checked)
    for path in checked:
        assert f"`{path.lstrip('.')}`" in text.replace("[]", ""), path
    assert "### FederatedApp" in text
    assert "### MemberCluster" in text


# --- generated apps ---------------------------------------------------------------------------------

REGIONS = [
    "cn-hangzhou",
    "cn-beijing",
    "cn-shanghai",
    "cn-shenzhen",
    "eu-central-1",
    "ap-southeast-1",
    "us-west-1",
]
LINES = ["default", "telecom", "unicom", "oversea", "cn_region_huadong", "os_euro"]


@st.composite
def federated_apps(draw: st.DrawFn) -> dict[str, Any]:
    regions = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=len(REGIONS), unique=True))
    strategy = draw(st.sampled_from(["Spread", "Weighted", "Failover"]))
    region_specs = []
    for name in regions:
        spec: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            spec["weight"] = draw(st.integers(0, 1000))
        lo = draw(st.integers(0, 5))
        if draw(st.booleans()):
            spec["minReplicas"] = lo
        if draw(st.booleans()):
            spec["maxReplicas"] = draw(st.integers(lo, 50))
        region_specs.append(spec)
    if strategy == "Weighted" and all(r.get("weight", 1) == 0 for r in region_specs):
        region_specs[0]["weight"] = 1
    placement: dict[str, Any] = {"strategy": strategy, "regions": region_specs}
    if strategy == "Failover" or draw(st.booleans()):
        placement["failoverOrder"] = draw(st.permutations(regions))
    protocols = draw(st.lists(st.sampled_from(["TCP", "UDP", "HTTP", "HTTPS"]), min_size=1, max_size=3))
    ports = [{"name": f"p{i}", "port": 1000 + i, "protocol": proto} for i, proto in enumerate(protocols)]
    spec = {
        "replicas": draw(st.integers(0, 500)),
        "template": {
            "metadata": {"labels": {"app": "gen"}},
            "spec": {"containers": [{"name": "main", "image": "example/app:1"}]},
        },
        "placement": placement,
        "ports": ports,
        "dns": {
            "zone": "example.com",
            "hostname": draw(st.sampled_from(["example.com", "www.example.com", "a.b.example.com"])),
            "ttl": draw(st.integers(1, 86400)),
            "policy": draw(st.sampled_from(["Latency", "Weighted"])),
        },
    }
    if "HTTPS" in protocols:
        if draw(st.booleans()):
            spec["loadBalancer"] = {"certificateId": "123-cn-hangzhou"}
        else:  # each HTTPS port names its own certificate
            for p in ports:
                if p["protocol"] == "HTTPS":
                    p["certificateId"] = f"cert-{p['name']}"
    if draw(st.booleans()):
        spec.setdefault("loadBalancer", {})["mode"] = draw(st.sampled_from(["Managed", "CloudController"]))
    if draw(st.booleans()):
        line_names = draw(st.lists(st.sampled_from(LINES), min_size=1, max_size=3, unique=True))
        spec["dns"]["lines"] = [
            {"line": ln, "regions": draw(st.lists(st.sampled_from(regions), min_size=1, unique=True))}
            for ln in line_names
        ]
    if draw(st.booleans()):
        ov_regions = draw(st.lists(st.sampled_from(regions), max_size=2, unique=True))
        spec["overrides"] = [{"region": r, "replicas": draw(st.integers(0, 9))} for r in ov_regions]
    return {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "FederatedApp",
        "metadata": {"name": "gen", "namespace": "default"},
        "spec": spec,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(federated_apps())
def test_generated_apps_pass_both_and_default_identically(app: dict[str, Any]) -> None:
    schema = federatedapp_schema()
    defaulted = apply_defaults(schema, app)
    assert validate(schema, defaulted, reject_unknown=True) == []
    model = FederatedApp.model_validate(app)
    dumped = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["spec"] == defaulted["spec"]
    assert FederatedApp.model_validate(dumped) == model


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(federated_apps(), st.integers(0, 7))
def test_generated_apps_broken_one_way_fail_both(app: dict[str, Any], which: int) -> None:
    schema = federatedapp_schema()
    spec = app["spec"]
    regions = spec["placement"]["regions"]
    if which == 0:
        regions.append(dict(regions[0]))  # a duplicate region
    elif which == 1:
        spec["placement"]["failoverOrder"] = ["xx-nowhere-9"]
    elif which == 2:
        regions[0]["minReplicas"], regions[0]["maxReplicas"] = 9, 3
    elif which == 3:
        spec["dns"]["hostname"] = "www.example.org"
    elif which == 4:
        spec["placement"]["strategy"] = "Weighted"
        for r in regions:
            r["weight"] = 0
    elif which == 5:
        spec["ports"].append({"name": "tls", "port": 8443, "protocol": "HTTPS"})
        spec.pop("loadBalancer", None)
    elif which == 6:
        spec["dns"]["policy"] = "Geo"
        spec["dns"].pop("lines", None)
    else:
        spec["ports"].append({"name": "plain", "port": 9443, "protocol": "TCP", "certificateId": "c1"})
    errors = validate(schema, apply_defaults(schema, app))
    assert errors, f"case {which} not rejected by the schema"
    try:
        FederatedApp.model_validate(app)
    except ValueError:
        return
    raise AssertionError(f"case {which} not rejected by the model")


def test_crd_yaml_loads_as_plain_yaml() -> None:
    # kubectl reads these files with a YAML 1.1 parser too: no tags, no anchors, only plain data.
    for path in sorted((REPO / "crds").glob("*.yaml")):
        text = path.read_text()
        assert not re.search(r"^\s*(- )?[\w-]*:?\s*!!", text, re.M), f"{path}: YAML tag"
        assert not re.search(r"[:-]\s+[&*]\w+\s*$", text, re.M), f"{path}: YAML anchor or alias"
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"


# --- status written by the controller must pass the status schema -----------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Ready", "Progressing", "Degraded", "LoadBalancersReady", "DNSPublished"]),
        unique=True,
    ),
    st.lists(st.sampled_from(REGIONS), unique=True, max_size=4),
    st.booleans(),
)
def test_status_models_dump_to_schema_valid_status(
    cond_types: list[str], regions: list[str], fail_open: bool
) -> None:
    now = datetime(2024, 5, 1, 10, 0, 0, 999, tzinfo=UTC)
    conditions: list[Any] = []
    for i, type_ in enumerate(cond_types):
        conditions = set_condition(conditions, type_, i % 2 == 0, "Reason", "message", 7, now)
    status = FederatedAppStatus(
        observed_generation=7,
        conditions=conditions,
        replicas=len(regions),
        ready_replicas=0,
        regions_ready=f"0/{len(regions)}",
        regions=[
            RegionStatus(
                region=r,
                cluster=f"{r}-a",
                desired_replicas=1,
                ready_replicas=0,
                reachable=True,
                health="Unhealthy",
                load_balancer_id="lb-1",
                address="10.0.0.1",
                serving_dns=False,
                dns_reason="region unhealthy",
            )
            for r in regions
        ],
        dns=DnsStatus(
            hostname="www.example.com",
            fail_open=fail_open,
            records=[DnsRecordStatus(line="default", values=["10.0.0.1"])],
        ),
    )
    app = yaml.safe_load((REPO / "tests/api/manifests/valid/minimal.yaml").read_text())
    app["status"] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    schema = federatedapp_schema()
    assert validate(schema, apply_defaults(schema, app), reject_unknown=True) == []
    assert FederatedApp.model_validate(app).status == status


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(REGIONS),
    st.lists(st.sampled_from(["a", "b", "c", "h", "i"]), unique=True, max_size=3),
    st.booleans(),
    st.integers(0, 10_000) | st.none(),
)
def test_generated_memberclusters_pass_both(
    region: str, zone_suffixes: list[str], networked: bool, capacity: int | None
) -> None:
    spec: dict[str, Any] = {
        "region": region,
        "zones": [f"{region}-{s}" if region.startswith("cn-") else f"{region}{s}" for s in zone_suffixes],
        "kubeconfigSecretRef": {"name": f"{region}-kubeconfig", "namespace": "federation-system"},
    }
    if networked:
        spec.update(vpcId="vpc-abc", vSwitchIds=["vsw-a", "vsw-b"], cenId="cen-xyz")
    if capacity is not None:
        spec["capacity"] = {"maxReplicas": capacity}
    mc = {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "MemberCluster",
        "metadata": {"name": "m"},
        "spec": spec,
    }
    schema = membercluster_schema()
    defaulted = apply_defaults(schema, mc)
    assert validate(schema, defaulted, reject_unknown=True) == []
    dumped = MemberCluster.model_validate(mc).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["spec"] == defaulted["spec"]


def test_regional_certificates_satisfy_https_in_both_the_model_and_the_schema() -> None:
    schema = federatedapp_schema()
    app: dict[str, Any] = {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "FederatedApp",
        "metadata": {"name": "tls", "namespace": "default"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "main", "image": "example/app:1"}]}},
            "placement": {"regions": [{"name": "cn-hangzhou"}, {"name": "cn-beijing"}]},
            "ports": [{"name": "tls", "port": 443, "protocol": "HTTPS"}],
            "overrides": [
                {"region": "cn-hangzhou", "certificateId": "cert-hz"},
                {"region": "cn-beijing", "certificateId": "cert-bj"},
            ],
            "dns": {"zone": "example.com", "hostname": "www.example.com"},
        },
    }
    assert validate(schema, apply_defaults(schema, app)) == []
    model = FederatedApp.model_validate(app)
    port = model.spec.ports[0]
    assert [model.spec.certificate_for(port, r) for r in ("cn-hangzhou", "cn-beijing")] == [
        "cert-hz",
        "cert-bj",
    ]
    app["spec"]["overrides"].pop()  # Beijing without a certificate: both refuse
    assert validate(schema, apply_defaults(schema, app))
    with pytest.raises(ValueError, match=r"ports\[0\]\.certificateId"):
        FederatedApp.model_validate(app)
