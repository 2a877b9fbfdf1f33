"""The OpenAPI v3 documents describe the built-in kinds as kube-apiserver does, so the real kubectl takes
a real cluster's code path: `kubectl apply` computes its strategic merge patch from the v3 document
(no fallback to OpenAPI v2 or to its compiled-in types), and lists merge by their merge keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from federation.sandbox.kube import SimCluster
from tests.kube_sim.conftest import Http, Kubectl

pytestmark = pytest.mark.kubectl


def _deployment(image: str, env: list[dict[str, str]], ports: list[int]) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": image,
                                "env": env,
                                "ports": [{"containerPort": p} for p in ports],
                            },
                            {"name": "side", "image": "busybox:1.36"},
                        ]
                    },
                },
            },
        }
    )


async def _containers(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    r = await kubectl("get", "deployment", "web", "-o", "json")
    return {c["name"]: c for c in json.loads(r.out)["spec"]["template"]["spec"]["containers"]}


async def test_apply_computes_strategic_merge_from_openapi_v3(kubectl: Kubectl, cluster: SimCluster) -> None:
    await kubectl("apply", "-f", "-", stdin=_deployment("nginx:1.27", [{"name": "A", "value": "1"}], [80]))
    # someone else adds an env var and a port to the live object (not in the last-applied configuration)
    await kubectl(
        "patch",
        "deployment",
        "web",
        "--type",
        "strategic",
        "-p",
        json.dumps(
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "env": [{"name": "EXTRA", "value": "x"}],
                                    "ports": [{"containerPort": 9090, "name": "metrics"}],
                                }
                            ]
                        }
                    }
                }
            }
        ),
    )
    live = await _containers(kubectl)
    assert [e["name"] for e in live["web"]["env"]] == ["A", "EXTRA"]  # merged by name
    assert [p["containerPort"] for p in live["web"]["ports"]] == [80, 9090]  # by containerPort
    assert live["side"]["image"] == "busybox:1.36"  # the other container untouched

    before = len(cluster.request_log())
    r = await kubectl(
        "apply",
        "-v=8",
        "-f",
        "-",
        stdin=_deployment(
            "nginx:1.28", [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}], [80, 443]
        ),
    )
    assert "OpenAPI V3 path does not support" not in r.err
    assert "error calculating patch" not in r.err
    assert "Content-Type: application/strategic-merge-patch+json" in r.err
    assert "$setElementOrder/containers" in r.err  # a three-way patch computed from the v3 schema
    sent = cluster.request_log()[before:]
    assert not [p for _, p, _ in sent if p.startswith("/openapi/v2")], "fell back to OpenAPI v2"

    live = await _containers(kubectl)
    assert live["web"]["image"] == "nginx:1.28"
    env = {e["name"]: e["value"] for e in live["web"]["env"]}
    assert env == {"A": "2", "B": "3", "EXTRA": "x"}  # EXTRA was never applied: kept by the merge
    assert sorted(p["containerPort"] for p in live["web"]["ports"]) == [80, 443, 9090]
    assert live["side"]["image"] == "busybox:1.36"
    assert "env" not in live["side"]

    # dropping an env var from the applied configuration deletes it (and only it)
    await kubectl(
        "apply", "-f", "-", stdin=_deployment("nginx:1.28", [{"name": "B", "value": "3"}], [80, 443])
    )
    live = await _containers(kubectl)
    assert {e["name"] for e in live["web"]["env"]} == {"B", "EXTRA"}


async def test_service_ports_merge_by_port(kubectl: Kubectl) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {
            "selector": {"app": "s"},
            "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
        },
    }
    await kubectl("apply", "-f", "-", stdin=json.dumps(svc))
    await kubectl(
        "patch", "service", "s", "-p", json.dumps({"spec": {"ports": [{"port": 443, "targetPort": 8443}]}})
    )
    ports = json.loads((await kubectl("get", "service", "s", "-o", "json")).out)["spec"]["ports"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
        ("http", 80, 80),
        ("https", 443, 8443),
    ]


async def test_v3_documents_carry_kinds_operations_and_patch_metadata(http: Http) -> None:
    _, idx, _ = await http.req("GET", "/openapi/v3")
    _, doc, _ = await http.req("GET", idx["paths"]["apis/apps/v1"]["serverRelativeURL"])
    comps = doc["components"]["schemas"]
    dep = comps["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}
    ]
    containers = comps["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    ports = comps["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    strategy = comps["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    # every $ref resolves inside the document (kubectl looks them up there)
    refs = set()

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            if "$ref" in o:
                refs.add(o["$ref"].removeprefix("#/components/schemas/"))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(doc)
    assert refs <= set(comps)

    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    }
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert {p["name"] for p in patch["parameters"]} >= {"dryRun", "fieldManager", "fieldValidation", "force"}
    assert {"get", "put", "patch", "delete"} <= set(item)
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"]
    assert scale["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status" in doc["paths"]
