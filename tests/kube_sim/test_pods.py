"""Pods in the simulator, through the real kubectl: Deployments roll out through ReplicaSets, Pods land
on schedulable nodes and follow their node's readiness, Endpoints list the ready Pods, `rollout
status/history/undo` work, ownerReferences garbage-collect everything, and `kubectl logs` of a
run-to-completion Pod returns what it printed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from federation.sandbox.kube import SimCluster
from tests.kube_sim.conftest import Kubectl
from tests.waiting import wait_for

pytestmark = pytest.mark.kubectl

WEB = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


async def pods(kubectl: Kubectl, selector: str = "app=web") -> list[dict[str, Any]]:
    r = await kubectl("get", "pods", "-l", selector, "-o", "json")
    return list(json.loads(r.out)["items"])


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


async def endpoint_pods(kubectl: Kubectl) -> set[str]:
    r = await kubectl("get", "endpoints", "web", "-o", "json", check=False)
    if r.rc:
        return set()
    return {
        a["targetRef"]["name"] for s in json.loads(r.out).get("subsets", []) for a in s.get("addresses", [])
    }


async def test_deployment_pods_follow_nodes_and_endpoints(kubectl: Kubectl, cluster: SimCluster) -> None:
    await kubectl("apply", "-f", "-", stdin=WEB)
    r = await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert "successfully rolled out" in r.out

    listed = await pods(kubectl)
    assert len(listed) == 4
    assert all(ready(p) and p["status"]["phase"] == "Running" for p in listed)
    nodes = {p["spec"]["nodeName"] for p in listed}
    assert len(nodes) == 2  # spread over both nodes
    (rs_ref,) = {json.dumps(p["metadata"]["ownerReferences"][0], sort_keys=True) for p in listed}
    rs = json.loads((await kubectl("get", "rs", json.loads(rs_ref)["name"], "-o", "json")).out)
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["status"]["readyReplicas"] == 4
    table = (await kubectl("get", "pods")).out
    assert table.splitlines()[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table.count("Running") == 4

    async def endpoints_are_the_ready_pods() -> bool:
        return await endpoint_pods(kubectl) == {
            p["metadata"]["name"] for p in await pods(kubectl) if ready(p)
        }

    await wait_for(endpoints_are_the_ready_pods, 10, "Endpoints listing the ready Pods")
    assert len(await endpoint_pods(kubectl)) == 4
    slices = json.loads(
        (await kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "json")).out
    )["items"]
    assert len(slices) == 1
    assert {e["targetRef"]["name"] for e in slices[0]["endpoints"]} == await endpoint_pods(kubectl)
    assert {e["addresses"][0] for e in slices[0]["endpoints"]} == {p["status"]["podIP"] for p in listed}

    # a node going NotReady takes its Pods out of service; coming back brings them back
    down = sorted(nodes)[0]
    cluster.set_node_ready(down, False)

    async def half_ready() -> bool:
        ps = await pods(kubectl)
        return {p["metadata"]["name"] for p in ps if ready(p)} == {
            p["metadata"]["name"] for p in ps if p["spec"]["nodeName"] != down
        } and len(await endpoint_pods(kubectl)) == 2

    await wait_for(half_ready, 10, "the Pods on the NotReady node not ready, and out of the Endpoints")
    cluster.set_node_ready(down, True)
    await wait_for(endpoints_are_the_ready_pods, 10, "Endpoints back to every Pod")
    assert len(await endpoint_pods(kubectl)) == 4

    # deleting the Deployment collects its ReplicaSets and Pods
    await kubectl("delete", "deployment", "web")

    async def all_gone() -> bool:
        return (
            not await pods(kubectl)
            and not json.loads((await kubectl("get", "rs", "-o", "json")).out)["items"]
        )

    await wait_for(all_gone, 10, "ReplicaSets and Pods garbage-collected")


async def test_rollout_history_and_undo(kubectl: Kubectl) -> None:
    await kubectl("apply", "-f", "-", stdin=WEB)
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    await kubectl("set", "image", "deployment/web", "web=nginx:1.28")
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")

    async def images() -> set[str]:
        return {p["spec"]["containers"][0]["image"] for p in await pods(kubectl)}

    await wait_for(lambda: _eq(images(), {"nginx:1.28"}), 10, "the Pods on the new image")
    history = (await kubectl("rollout", "history", "deployment/web")).out
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    r = await kubectl("rollout", "undo", "deployment/web")
    assert "rolled back" in r.out
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    await wait_for(lambda: _eq(images(), {"nginx:1.27"}), 10, "the Pods back on the old image")
    rs = json.loads((await kubectl("get", "rs", "-o", "json")).out)["items"]
    by_image = {r["spec"]["template"]["spec"]["containers"][0]["image"]: r for r in rs}
    assert len(rs) == 2  # the old ReplicaSet is reused, not copied
    assert by_image["nginx:1.27"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert by_image["nginx:1.27"]["spec"]["replicas"] == 4
    assert by_image["nginx:1.28"]["spec"]["replicas"] == 0


async def _eq(got: Any, want: Any) -> bool:
    return bool(await got == want)


async def test_scheduling_respects_node_selector_and_cordon(kubectl: Kubectl, cluster: SimCluster) -> None:
    nodes = json.loads((await kubectl("get", "nodes", "-o", "json")).out)["items"]
    first, second = sorted(n["metadata"]["name"] for n in nodes)
    await kubectl("cordon", first)
    await kubectl("apply", "-f", "-", stdin=WEB)
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert {p["spec"]["nodeName"] for p in await pods(kubectl)} == {second}

    nowhere = (
        WEB.replace("name: web,", "name: nowhere,")
        .replace("app: web", "app: nowhere")
        .replace("spec: {containers", "spec: {nodeSelector: {disk: ssd}, containers")
    )
    await kubectl("apply", "-f", "-", stdin=nowhere.split("---")[0])

    async def pending() -> bool:
        ps = await pods(kubectl, "app=nowhere")
        return len(ps) == 4 and all(p["status"].get("phase") == "Pending" for p in ps)

    await wait_for(pending, 10, "Pods that no node may take stay Pending")
    cond = (await pods(kubectl, "app=nowhere"))[0]["status"]["conditions"][0]
    assert (cond["type"], cond["reason"]) == ("PodScheduled", "Unschedulable")


async def test_logs_of_a_pod_that_ran(kubectl: Kubectl, cluster: SimCluster) -> None:
    node = json.loads((await kubectl("get", "nodes", "-o", "json")).out)["items"][0]["metadata"]["name"]
    await kubectl("annotate", "node", node, "sim.federation.io/sysctl.net.bridge.bridge-nf-call-iptables=0")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "reader", "namespace": "default"},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "read",
                    "image": "busybox:1.36",
                    "command": ["cat", "/host/proc/sys/net/bridge/bridge-nf-call-iptables", "/host/nope"],
                    "volumeMounts": [{"name": "sys", "mountPath": "/host/proc/sys", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "sys", "hostPath": {"path": "/proc/sys"}}],
        },
    }
    await kubectl("apply", "-f", "-", stdin=json.dumps(pod))

    async def done() -> bool:
        r = await kubectl("get", "pod", "reader", "-o", "jsonpath={.status.phase}")
        return r.out in ("Succeeded", "Failed")

    await wait_for(done, 10, "the reader Pod finished")
    assert (await kubectl("get", "pod", "reader", "-o", "jsonpath={.status.phase}")).out == "Failed"
    logs = (await kubectl("logs", "reader")).out
    assert logs.splitlines() == ["0", "cat: /host/nope: No such file or directory"]


async def test_more_pods_than_a_node_cidr_holds_get_distinct_ips(sim: Any) -> None:
    c = await sim.add_cluster("tiny", nodes=1)
    rt = c.api.resolve("apps", "v1", "deployments")
    labels = {"app": "many"}
    c.api.create(
        rt,
        "default",
        {
            "metadata": {"name": "many"},
            "spec": {
                "replicas": 260,  # one node's /24 holds 250 Pod addresses
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
    )

    def ips() -> list[str]:
        return [
            (p.get("status") or {}).get("podIP", "")
            for _, p in c.api.store.iter_objects("/pods", "default")
            if (p["metadata"].get("labels") or {}).get("app") == "many"
        ]

    async def all_ready() -> bool:
        return (c.api.get(rt, "default", "many").get("status") or {}).get("readyReplicas") == 260 and all(
            ips()
        )

    await wait_for(all_ready, 20, "260 Pods on one node ready")
    assert len(set(ips())) == 260
