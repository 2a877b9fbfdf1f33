"""Rolling updates through the real kubectl: a template change creates a new ReplicaSet and moves the
Pods over in steps bounded by maxSurge/maxUnavailable (every write is watched, so no intermediate
state is missed), `kubectl rollout status` reports the steps, `history` lists the revisions, `undo`
goes back; Recreate replaces everything at once; the Deployment's status matches its Pods."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from federation.sandbox.kube import KubeSimulator, SimCluster
from federation.sandbox.kube.store import Event
from tests.kube_sim.conftest import Kubectl
from tests.waiting import wait_for

pytestmark = pytest.mark.kubectl


@pytest.fixture
async def sim() -> AsyncIterator[KubeSimulator]:
    # each step waits one rollout delay: long enough for a kubectl started meanwhile to see the rollout
    # in progress on a loaded machine, short enough to keep these tests at seconds
    s = KubeSimulator(rollout_delay=0.6, progress_deadline=10, bookmark_interval=0.3)
    yield s
    await s.stop()


def _web(replicas: int, strategy: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    }
    if strategy is not None:
        spec["strategy"] = strategy
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": spec,
        }
    )


class PodWatch:
    """(Pods, ready Pods, images) of app=web after every write to a Pod, straight from the store."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.states: list[tuple[int, int, frozenset[str]]] = []
        cluster.api.store.listeners.append(self)

    def __call__(self, ev: Event) -> None:
        if ev.rkey != "/pods":
            return
        pods = [
            p
            for _, p in self.cluster.api.store.iter_objects("/pods", "default")
            if (p["metadata"].get("labels") or {}).get("app") == "web"
        ]
        ready = sum(
            1
            for p in pods
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (p.get("status") or {}).get("conditions", [])
            )
        )
        self.states.append((len(pods), ready, frozenset(p["spec"]["containers"][0]["image"] for p in pods)))

    def close(self) -> None:
        self.cluster.api.store.listeners.remove(self)


async def _rs(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    items = json.loads((await kubectl("get", "rs", "-l", "app=web", "-o", "json")).out)["items"]
    return {r["spec"]["template"]["spec"]["containers"][0]["image"]: r for r in items}


async def test_rolling_update_steps_within_surge_and_unavailable(
    kubectl: Kubectl, cluster: SimCluster
) -> None:
    # 8 replicas, 25%/25%: at most 10 Pods, at least 6 available
    await kubectl("apply", "-f", "-", stdin=_web(8))
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    watch = PodWatch(cluster)
    try:
        await kubectl("set", "image", "deployment/web", "web=nginx:1.28")
        r = await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    finally:
        watch.close()
    assert "successfully rolled out" in r.out
    # kubectl saw the rollout in progress, from the Deployment's status fields
    assert "new replicas have been updated" in r.out or "old replicas are pending termination" in r.out

    assert watch.states, "no Pod writes observed"
    assert max(n for n, _, _ in watch.states) <= 10
    assert min(ready for _, ready, _ in watch.states) >= 6
    mixed = [s for s in watch.states if len(s[2]) == 2]
    assert mixed, "old and new Pods never ran side by side"
    final = watch.states[-1]
    assert final == (8, 8, frozenset({"nginx:1.28"}))
    rs = await _rs(kubectl)
    assert rs["nginx:1.28"]["spec"]["replicas"] == 8
    assert rs["nginx:1.27"]["spec"]["replicas"] == 0
    assert rs["nginx:1.28"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    h = rs["nginx:1.28"]["metadata"]["labels"]["pod-template-hash"]
    assert rs["nginx:1.28"]["metadata"]["name"] == f"web-{h}"
    events = json.loads(
        (await kubectl("get", "events", "--field-selector", "reason=ScalingReplicaSet", "-o", "json")).out
    )["items"]
    ups = [e["message"] for e in events if f"web-{h}" in e["message"] and "Scaled up" in e["message"]]
    assert len(ups) >= 2, ups  # the new ReplicaSet grew in steps, not at once

    dep = json.loads((await kubectl("get", "deployment", "web", "-o", "json")).out)
    st = dep["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (
        8,
        8,
        8,
        8,
    )
    assert "unavailableReplicas" not in st
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conds["Available"]["status"] == "True"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


async def test_status_during_rollout_within_bounds(kubectl: Kubectl, cluster: SimCluster) -> None:
    await kubectl(
        "apply",
        "-f",
        "-",
        stdin=_web(4, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
    )
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    statuses: list[dict[str, Any]] = []

    def record(ev: Event) -> None:
        if ev.rkey == "apps/deployments" and ev.obj["metadata"]["name"] == "web":
            statuses.append(ev.obj.get("status") or {})

    cluster.api.store.listeners.append(record)
    try:
        await kubectl("set", "image", "deployment/web", "web=nginx:1.28")
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    finally:
        cluster.api.store.listeners.remove(record)
    # maxUnavailable 0, maxSurge 1: never more than 5 Pods, never fewer than 4 available
    assert all(s["replicas"] <= 5 and s.get("availableReplicas", 0) >= 4 for s in statuses)
    mid = [s for s in statuses if 0 < s.get("updatedReplicas", 0) < 4]
    assert mid, "the rollout never reported a step between the templates"
    assert all(s["conditions"][1]["reason"] == "ReplicaSetUpdated" for s in mid)
    assert sorted({s["updatedReplicas"] for s in mid}) == [1, 2, 3]  # one new Pod at a time
    pods = json.loads((await kubectl("get", "pods", "-l", "app=web", "-o", "json")).out)["items"]
    st = json.loads((await kubectl("get", "deployment", "web", "-o", "json")).out)["status"]
    assert len(pods) == st["replicas"] == st["readyReplicas"] == 4
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}


async def test_history_and_undo_roll_back_in_steps(kubectl: Kubectl, cluster: SimCluster) -> None:
    await kubectl("apply", "-f", "-", stdin=_web(4))
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    await kubectl("annotate", "deployment/web", "kubernetes.io/change-cause=to 1.28")
    await kubectl("set", "image", "deployment/web", "web=nginx:1.28")
    await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    history = (await kubectl("rollout", "history", "deployment/web")).out
    rows = [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()]
    assert [r[0] for r in rows] == ["1", "2"]
    assert rows[1][1].strip() == "to 1.28"
    rev2 = (await kubectl("rollout", "history", "deployment/web", "--revision=2")).out
    assert "nginx:1.28" in rev2

    watch = PodWatch(cluster)
    try:
        assert "rolled back" in (await kubectl("rollout", "undo", "deployment/web")).out
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    finally:
        watch.close()
    assert max(n for n, _, _ in watch.states) <= 5  # 4 + 25% rounded up
    assert min(ready for _, ready, _ in watch.states) >= 3  # 4 - 25% rounded down
    assert watch.states[-1] == (4, 4, frozenset({"nginx:1.27"}))
    dep = json.loads((await kubectl("get", "deployment", "web", "-o", "json")).out)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    history = (await kubectl("rollout", "history", "deployment/web")).out
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


async def test_recreate_replaces_all_at_once(kubectl: Kubectl, cluster: SimCluster) -> None:
    await kubectl("apply", "-f", "-", stdin=_web(4, {"type": "Recreate"}))
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    watch = PodWatch(cluster)
    try:
        await kubectl("set", "image", "deployment/web", "web=nginx:1.28")
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    finally:
        watch.close()
    # no old and new Pods side by side; all old ones gone before the new ones came
    assert not [s for s in watch.states if len(s[2]) == 2]
    assert max(n for n, _, _ in watch.states) <= 4
    assert (0, 0, frozenset()) in watch.states
    assert watch.states[-1] == (4, 4, frozenset({"nginx:1.28"}))


async def test_failing_rollout_exceeds_its_progress_deadline(kubectl: Kubectl, cluster: SimCluster) -> None:
    await kubectl("apply", "-f", "-", stdin=_web(4))
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    cluster.behaviours.progress_deadline = 1.5
    cluster.fail_deployment("default", "web", True)
    await kubectl("set", "image", "deployment/web", "web=nginx:1.28")
    r = await kubectl("rollout", "status", "deployment/web", "--timeout=20s", check=False)
    assert r.rc != 0
    assert "exceeded its progress deadline" in r.err
    st = json.loads((await kubectl("get", "deployment", "web", "-o", "json")).out)["status"]
    conds = {c["type"]: c for c in st["conditions"]}
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == (
        "False",
        "ProgressDeadlineExceeded",
    )
    # the rollout stalled within its bounds: crash-looping Pods are not available, so the old
    # ReplicaSet only lost what maxUnavailable allows
    assert st["replicas"] <= 5
    assert 0 < st["updatedReplicas"] < 4
    pods = json.loads((await kubectl("get", "pods", "-l", "app=web", "-o", "json")).out)["items"]
    assert len(pods) == st["replicas"]
    waiting = {
        (c.get("state") or {}).get("waiting", {}).get("reason")
        for p in pods
        for c in p["status"]["containerStatuses"]
    }
    assert waiting == {"CrashLoopBackOff"}

    cluster.fail_deployment("default", "web", False)
    r = await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert "successfully rolled out" in r.out


async def test_without_pods_the_status_steps_the_same() -> None:
    # KubeSimulator(pods=False): no ReplicaSet or Pod objects, the same rollout steps in the status
    s = KubeSimulator(rollout_delay=0.2, https=False, pods=False)
    try:
        c = await s.add_cluster("np", nodes=2)
        rt = c.api.resolve("apps", "v1", "deployments")
        c.api.create(rt, "default", json.loads(_web(4)))
        statuses: list[dict[str, Any]] = []

        def record(ev: Event) -> None:
            if ev.rkey == "apps/deployments":
                statuses.append(ev.obj.get("status") or {})

        async def rolled(image: str) -> bool:
            d = c.api.get(rt, "default", "web")
            st = d.get("status") or {}
            return (
                d["spec"]["template"]["spec"]["containers"][0]["image"] == image
                and st.get("replicas") == st.get("updatedReplicas") == st.get("availableReplicas") == 4
            )

        await wait_for(lambda: rolled("nginx:1.27"), 10, "the first rollout")
        c.api.store.listeners.append(record)
        body = json.loads(_web(4))
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
        body["metadata"]["resourceVersion"] = c.api.get(rt, "default", "web")["metadata"]["resourceVersion"]
        c.api.update(rt, "default", "web", body)
        await wait_for(lambda: rolled("nginx:1.28"), 10, "the rolling update")
        assert all(st["replicas"] <= 5 and st.get("availableReplicas", 0) >= 3 for st in statuses)
        assert {st["updatedReplicas"] for st in statuses} >= {2, 4}  # steps, not at once
        assert not list(c.api.store.iter_objects("/pods"))
        assert not list(c.api.store.iter_objects("apps/replicasets"))
    finally:
        await s.stop()


async def test_pause_holds_a_template_change_until_resumed(kubectl: Kubectl) -> None:
    await kubectl("apply", "-f", "-", stdin=_web(4))
    await kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    await kubectl("rollout", "pause", "deployment/web")
    await kubectl("set", "image", "deployment/web", "web=nginx:1.28")

    async def paused() -> bool:
        st = json.loads((await kubectl("get", "deployment", "web", "-o", "json")).out)["status"]
        return st["conditions"][1]["reason"] == "DeploymentPaused"

    await wait_for(paused, 10, "the Deployment reporting DeploymentPaused")
    await asyncio.sleep(1.5)  # more than two rollout delays: nothing moves
    pods = json.loads((await kubectl("get", "pods", "-l", "app=web", "-o", "json")).out)["items"]
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.27"}
    assert set(await _rs(kubectl)) == {"nginx:1.27"}

    await kubectl("rollout", "resume", "deployment/web")
    assert (
        "successfully rolled out"
        in (await kubectl("rollout", "status", "deployment/web", "--timeout=30s")).out
    )
    pods = json.loads((await kubectl("get", "pods", "-l", "app=web", "-o", "json")).out)["items"]
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
