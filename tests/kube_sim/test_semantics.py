"""Wire semantics pinned to the Kubernetes API concepts and conventions docs, checked over raw HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from federation.sandbox.kube import SimCluster
from tests.kube_sim.conftest import Http

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.io"},
    "spec": {
        "group": "example.io",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"], "categories": ["all"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"},
                },
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 0},
                                    "color": {"type": "string", "default": "blue"},
                                },
                            },
                            "status": {"type": "object", "properties": {"size": {"type": "integer"}}},
                        },
                    }
                },
            }
        ],
    },
}
W = "/apis/example.io/v1/namespaces/default/widgets"


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_authentication_and_health(http: Http) -> None:
    code, body, _ = await http.req("GET", "/api/v1/namespaces", token=None)
    assert code == 401
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert (await http.req("GET", "/api/v1/namespaces", token="wrong"))[0] == 401
    assert (await http.req("GET", "/healthz", token="wrong"))[0] == 401
    code, body, _ = await http.req("GET", "/readyz", token=None)
    assert (code, body) == (200, "ok")
    code, body, _ = await http.req("GET", "/version")
    assert body["major"] == "1"
    assert body["gitVersion"].startswith("v1.")


async def test_discovery_publishes_verbs_short_names_categories_and_crds(http: Http) -> None:
    _, core, _ = await http.req("GET", "/api/v1")
    svc = next(r for r in core["resources"] if r["name"] == "services")
    assert svc["shortNames"] == ["svc"]
    assert "all" in svc["categories"]
    assert "watch" in svc["verbs"]
    assert any(r["name"] == "services/status" for r in core["resources"])
    _, groups, _ = await http.req("GET", "/apis")
    names = {g["name"] for g in groups["groups"]}
    assert {"apps", "coordination.k8s.io", "apiextensions.k8s.io"} <= names
    _, apps, _ = await http.req("GET", "/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["kind"]) == ("autoscaling", "Scale")

    assert (await http.req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD))[0] == 201
    code, gv, _ = await http.req("GET", "/apis/example.io/v1")
    assert code == 200
    assert {r["name"] for r in gv["resources"]} == {"widgets", "widgets/status", "widgets/scale"}
    _, idx, _ = await http.req("GET", "/openapi/v3")
    assert "apis/example.io/v1" in idx["paths"]
    _, doc, _ = await http.req(
        "GET", "/" + idx["paths"]["apis/example.io/v1"]["serverRelativeURL"].lstrip("/")
    )
    schema = next(
        s
        for s in doc["components"]["schemas"].values()
        if s.get("x-kubernetes-group-version-kind")
        == [{"group": "example.io", "version": "v1", "kind": "Widget"}]
    )
    assert schema["properties"]["spec"]["required"] == ["size"]
    code, _, _ = await http.req(
        "GET", "/openapi/v2", headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
    )
    assert code == 406


async def test_custom_resource_generation_status_and_validation(http: Http) -> None:
    await http.req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    code, w, _ = await http.req(
        "POST",
        W,
        {
            "apiVersion": "example.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1, "junk": 1},
            "status": {"size": 9},
        },
    )
    assert code == 201
    assert w["spec"] == {"size": 1, "color": "blue"}  # pruned and defaulted
    assert "status" not in w
    assert w["metadata"]["generation"] == 1
    code, w, _ = await http.req(
        "PATCH", f"{W}/w/status", {"status": {"size": 1}}, content_type="application/merge-patch+json"
    )
    assert w["status"] == {"size": 1}
    assert w["metadata"]["generation"] == 1
    _, w, _ = await http.req(
        "PATCH", f"{W}/w", {"metadata": {"labels": {"x": "y"}}}, content_type="application/merge-patch+json"
    )
    assert w["metadata"]["generation"] == 1
    _, w, _ = await http.req(
        "PATCH",
        f"{W}/w",
        {"spec": {"size": 2}, "status": {"size": 5}},
        content_type="application/merge-patch+json",
    )
    assert w["metadata"]["generation"] == 2
    assert w["status"] == {"size": 1}
    code, body, _ = await http.req(
        "PATCH", f"{W}/w", {"spec": {"size": -1}}, content_type="application/merge-patch+json"
    )
    assert code == 422
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.size"
    code, body, _ = await http.req(
        "PATCH", f"{W}/w", {"spec": {"size": 3}}, content_type="application/strategic-merge-patch+json"
    )
    assert code == 415  # strategic merge patch is not defined for custom resources
    code, scale, _ = await http.req(
        "PATCH", f"{W}/w/scale", {"spec": {"replicas": 7}}, content_type="application/merge-patch+json"
    )
    assert code == 200
    assert scale["spec"]["replicas"] == 7
    _, tbl, _ = await http.req("GET", W, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in tbl["columnDefinitions"]] == ["Name", "Size", "Age"]
    assert tbl["rows"][0]["cells"][:2] == ["w", 7]


async def test_selectors_and_watch_by_name(http: Http) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        await http.req(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": name, "labels": {"tier": tier}}},
        )
    _, lst, _ = await http.req("GET", "/api/v1/namespaces/default/configmaps?labelSelector=tier%20in%20(web)")
    assert [i["metadata"]["name"] for i in lst["items"]] == ["a", "c"]
    _, lst, _ = await http.req("GET", "/api/v1/configmaps?labelSelector=tier!=web,tier")
    assert [i["metadata"]["name"] for i in lst["items"]] == ["b"]
    _, lst, _ = await http.req(
        "GET", "/api/v1/configmaps?fieldSelector=metadata.name%3Dc,metadata.namespace%3Ddefault"
    )
    assert [i["metadata"]["name"] for i in lst["items"]] == ["c"]
    code, body, _ = await http.req("GET", "/api/v1/configmaps?fieldSelector=spec.foo%3Dx")
    assert code == 400
    assert body["reason"] == "BadRequest"


async def test_finalizers_hold_deletion_and_garbage_collection(http: Http) -> None:
    ns = "/api/v1/namespaces/default/configmaps"
    _, owner, _ = await http.req("POST", ns, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    await http.req("POST", ns, {"metadata": {"name": "dep", "ownerReferences": [ref]}})
    await http.req("POST", ns, {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    code, body, _ = await http.req("DELETE", f"{ns}/held")
    assert code == 200
    assert body["metadata"]["deletionTimestamp"]
    code, body, _ = await http.req(
        "PATCH",
        f"{ns}/held",
        {"metadata": {"finalizers": ["example.com/x", "y/z"]}},
        content_type="application/merge-patch+json",
    )
    assert code == 422  # no new finalizers on an object being deleted
    await http.req(
        "PATCH", f"{ns}/held", {"metadata": {"finalizers": None}}, content_type="application/merge-patch+json"
    )
    assert (await http.req("GET", f"{ns}/held"))[0] == 404

    # background deletion collects dependents; Orphan keeps them and drops the ownerReference
    # (Kubernetes docs: "Garbage Collection", "Cascading deletion")
    await http.req("DELETE", f"{ns}/owner", {"propagationPolicy": "Background"})

    async def dep_gone() -> bool:
        return (await http.req("GET", f"{ns}/dep"))[0] == 404

    await eventually(dep_gone)
    _, owner2, _ = await http.req("POST", ns, {"metadata": {"name": "owner2"}})
    ref2 = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner2["metadata"]["uid"]}
    await http.req("POST", ns, {"metadata": {"name": "kept", "ownerReferences": [ref2]}})
    await http.req("DELETE", f"{ns}/owner2?propagationPolicy=Orphan")
    await asyncio.sleep(0.1)
    code, kept, _ = await http.req("GET", f"{ns}/kept")
    assert code == 200
    assert "ownerReferences" not in kept["metadata"]


async def test_namespace_deletion_removes_contents(http: Http) -> None:
    await http.req("POST", "/api/v1/namespaces", {"metadata": {"name": "tmp"}})
    base = "/api/v1/namespaces/tmp/configmaps"
    await http.req("POST", base, {"metadata": {"name": "plain"}})
    await http.req("POST", base, {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    code, ns, _ = await http.req("DELETE", "/api/v1/namespaces/tmp")
    assert code == 200
    assert ns["status"]["phase"] == "Terminating"
    code, body, _ = await http.req("POST", base, {"metadata": {"name": "late"}})
    assert code == 403
    assert "being terminated" in body["message"]

    async def plain_gone() -> bool:
        return (await http.req("GET", f"{base}/plain"))[0] == 404

    await eventually(plain_gone)
    assert (await http.req("GET", "/api/v1/namespaces/tmp"))[0] == 200  # held by the finalizer
    await http.req(
        "PATCH", f"{base}/held", {"metadata": {"finalizers": []}}, content_type="application/merge-patch+json"
    )

    async def ns_gone() -> bool:
        return (await http.req("GET", "/api/v1/namespaces/tmp"))[0] == 404

    await eventually(ns_gone)


DEP = {
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "x:1"}]},
        },
    },
}


async def test_deployment_rollout_service_endpoints_and_load_balancer(
    http: Http, cluster: SimCluster
) -> None:
    d = "/apis/apps/v1/namespaces/default/deployments"
    code, dep, _ = await http.req("POST", d, DEP)
    assert code == 201
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    svc = {
        "metadata": {"name": "web"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }
    code, s, _ = await http.req("POST", "/api/v1/namespaces/default/services", svc)
    assert code == 201
    port = s["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    assert s["spec"]["clusterIP"].startswith("10.96.")
    dup = {
        "metadata": {"name": "dup"},
        "spec": {"type": "NodePort", "ports": [{"port": 81, "nodePort": port}]},
    }
    code, body, _ = await http.req("POST", "/api/v1/namespaces/default/services", dup)
    assert code == 422
    assert body["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"

    async def ready() -> dict[str, Any] | None:
        _, o, _ = await http.req("GET", f"{d}/web")
        st = o.get("status") or {}
        return o if st.get("readyReplicas") == 3 and st.get("observedGeneration") == 1 else None

    dep = await eventually(ready)
    conds = {c["type"]: c for c in dep["status"]["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"

    async def endpoints() -> Any:
        _, ep, _ = await http.req("GET", "/api/v1/namespaces/default/endpoints/web")
        subsets = ep.get("subsets") or []
        return subsets if subsets and len(subsets[0]["addresses"]) == 3 else None

    subsets = await eventually(endpoints)
    assert subsets[0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    _, s, _ = await http.req("GET", "/api/v1/namespaces/default/services/web")
    assert s["status"]["loadBalancer"]["ingress"][0]["ip"]

    cluster.set_cloud_controller(False)
    svc2 = {"metadata": {"name": "later"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    _, s2, _ = await http.req("POST", "/api/v1/namespaces/default/services", svc2)
    assert not (s2.get("status") or {}).get("loadBalancer", {}).get("ingress")
    cluster.set_cloud_controller(True)
    _, s2, _ = await http.req("GET", "/api/v1/namespaces/default/services/later")
    assert s2["status"]["loadBalancer"]["ingress"]


async def test_failing_deployment_and_node_not_ready(http: Http, cluster: SimCluster) -> None:
    d = "/apis/apps/v1/namespaces/default/deployments"
    await http.req("POST", d, DEP)
    cluster.fail_deployment("default", "web", True)

    async def deadline() -> dict[str, Any] | None:
        _, o, _ = await http.req("GET", f"{d}/web")
        conds = {c["type"]: c for c in (o.get("status") or {}).get("conditions") or []}
        p = conds.get("Progressing")
        return o if p and p["reason"] == "ProgressDeadlineExceeded" else None

    dep = await eventually(deadline)
    assert dep["status"].get("readyReplicas", 0) == 0
    assert dep["status"]["unavailableReplicas"] == 3
    assert {c["type"]: c["status"] for c in dep["status"]["conditions"]}["Progressing"] == "False"

    node = cluster.node_names()[0]
    cluster.set_node_ready(node, False)
    _, n, _ = await http.req("GET", f"/api/v1/nodes/{node}")
    ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    assert n["metadata"]["labels"]["topology.kubernetes.io/zone"] == "cn-hangzhou-h"
    assert n["spec"]["providerID"].startswith("cn-hangzhou.i-")


async def test_node_not_ready_makes_its_replicas_unready(http: Http, cluster: SimCluster) -> None:
    d = "/apis/apps/v1/namespaces/default/deployments"
    await http.req("POST", d, DEP)

    async def ready_count(n: int) -> dict[str, Any] | None:
        _, o, _ = await http.req("GET", f"{d}/web")
        return o if (o.get("status") or {}).get("readyReplicas", 0) == n else None

    await eventually(lambda: ready_count(3))
    first = sorted(cluster.node_names())[0]
    cluster.set_node_ready(first, False)
    dep = await eventually(lambda: ready_count(1))  # replicas 0 and 2 ran on the first of two nodes
    conds = {c["type"]: c["status"] for c in dep["status"]["conditions"]}
    assert conds == {"Available": "False", "Progressing": "True"}
    _, events, _ = await http.req(
        "GET", f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{first}"
    )
    assert [e["reason"] for e in events["items"]] == ["NodeNotReady"]
    cluster.set_node_ready(first, True)
    await eventually(lambda: ready_count(3))


async def test_foreground_deletion_waits_for_dependents(http: Http) -> None:
    ns = "/api/v1/namespaces/default/configmaps"
    _, owner, _ = await http.req("POST", ns, {"metadata": {"name": "fg"}})
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "fg",
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
    await http.req(
        "POST",
        ns,
        {"metadata": {"name": "child", "ownerReferences": [ref], "finalizers": ["example.com/slow"]}},
    )
    code, body, _ = await http.req("DELETE", f"{ns}/fg", {"propagationPolicy": "Foreground"})
    assert code == 200
    assert "foregroundDeletion" in body["metadata"]["finalizers"]
    await asyncio.sleep(0.1)
    assert (await http.req("GET", f"{ns}/fg"))[0] == 200  # the child still exists (held by its finalizer)
    _, child, _ = await http.req("GET", f"{ns}/child")
    assert child["metadata"]["deletionTimestamp"]
    await http.req(
        "PATCH",
        f"{ns}/child",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )

    async def owner_gone() -> bool:
        return (await http.req("GET", f"{ns}/fg"))[0] == 404

    await eventually(owner_gone)


async def test_delete_preconditions_and_watch_list_initial_events(http: Http) -> None:
    ns = "/api/v1/namespaces/default/configmaps"
    _, cm, _ = await http.req("POST", ns, {"metadata": {"name": "pre"}})
    code, body, _ = await http.req("DELETE", f"{ns}/pre", {"preconditions": {"uid": "not-it"}})
    assert code == 409
    assert "Precondition failed: UID in precondition: not-it" in body["message"]
    code, _, _ = await http.req("DELETE", f"{ns}/pre", {"preconditions": {"uid": cm["metadata"]["uid"]}})
    assert code == 200
    await http.req("POST", ns, {"metadata": {"name": "listed"}})
    # Kubernetes API concepts, "Streaming lists": sendInitialEvents=true replays the current state as
    # ADDED events and marks its end with a bookmark annotated k8s.io/initial-events-end.
    code, text, _ = await http.req(
        "GET",
        f"{ns}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true&timeoutSeconds=1",
    )
    events = [json.loads(line) for line in text.splitlines()] if isinstance(text, str) else [text]
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "listed"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
