"""The ReplicaSets and Pods behind each simulated Deployment, so that `kubectl get pods`, `kubectl get rs`,
`kubectl rollout status/history/undo` and `kubectl logs` work against a member as against a real one.

The Deployment's status stays the simulator's source of truth (see :func:`~federation.sandbox.kube.
behaviour.deployment_status`: rollout delay, failing rollouts, replicas on NotReady nodes); this
controller materialises what a Deployment controller and a kubelet would have made for that status:

* one ReplicaSet per pod template (``<deployment>-<template hash>``, the name the Deployment's
  conditions already print), owned by the Deployment, carrying ``deployment.kubernetes.io/revision``;
  the current one has ``spec.replicas`` pods, older ones are scaled to 0 and kept up to
  ``revisionHistoryLimit`` (default 10). A template that returns to an older one (``rollout undo``)
  reuses that ReplicaSet with the next revision number, as the real controller does;
* the Pods of the current ReplicaSet, owned by it, bound when created to a schedulable node (Ready,
  not cordoned, matching ``nodeSelector``; none: Pending and Unschedulable) and kept there; exactly
  ``readyReplicas`` of them are Ready, those on Ready nodes first. A failing rollout's Pods are in
  CrashLoopBackOff. Pod IPs come from the node's ``podCIDR``.

Garbage collection needs nothing here: ownerReferences make the collector delete ReplicaSets with
their Deployment and Pods with their ReplicaSet. Endpoints are built from :meth:`Workloads.ready_pods`.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from federation.sandbox.kube.api import now_iso
from federation.sandbox.kube.errors import ApiError

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi
    from federation.sandbox.kube.store import Event, Key

log = logging.getLogger(__name__)

DEPLOY_KEY = "apps/deployments"
RS_KEY = "apps/replicasets"
POD_KEY = "/pods"
NODE_KEY = "/nodes"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated name suffixes


def template_hash(template: dict[str, Any]) -> str:
    import orjson

    return hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).hexdigest()[:10]


def _suffix(seed: str) -> str:
    n = int(hashlib.sha256(seed.encode()).hexdigest()[:12], 16)
    out = []
    for _ in range(5):
        n, r = divmod(n, len(_SUFFIX))
        out.append(_SUFFIX[r])
    return "".join(out)


def _ready_node(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION) or 0)
    except ValueError:
        return 0


class Workloads:
    def __init__(
        self,
        api: ClusterApi,
        *,
        is_failing: Callable[[tuple[str, str]], bool] = lambda key: False,
        on_pods_changed: Callable[[str, dict[str, Any]], None] = lambda ns, labels: None,
    ) -> None:
        """``is_failing(namespace, name)``: the Deployment's rollout crash-loops; ``on_pods_changed``
        (namespace, pod labels): Pods became ready or not (Endpoints follow)."""
        self.api = api
        self.is_failing = is_failing
        self.on_pods_changed = on_pods_changed
        self._dirty: set[Key] = set()
        self._scheduled = False
        self._running = False
        self._pod_ips: dict[tuple[str, str], str] = {}  # (namespace, pod) -> IP, stable while it lives
        api.store.listeners.append(self._on_event)

    def start(self) -> None:
        self._running = True
        for key, _ in list(self.api.store.iter_objects(DEPLOY_KEY)):
            self._dirty.add(key)
        self._schedule()

    def stop(self) -> None:
        self._running = False

    # --- events -----------------------------------------------------------------------------------

    def _on_event(self, ev: Event) -> None:
        if not self._running:
            return
        if ev.rkey == DEPLOY_KEY and ev.type != "DELETED":
            md = ev.obj["metadata"]
            old = ev.old or {}
            if (
                ev.type == "ADDED"
                or old.get("status") != ev.obj.get("status")
                or old.get("spec") != ev.obj.get("spec")
            ):
                self._dirty.add((md.get("namespace") or "", md["name"]))
                self._schedule()
        elif ev.rkey == POD_KEY and ev.type == "DELETED":
            md = ev.obj["metadata"]
            self._pod_ips.pop((md.get("namespace") or "", md["name"]), None)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        if not self._running:
            return
        dirty, self._dirty = self._dirty, set()
        for key in sorted(dirty):
            try:
                self._reconcile(key)
            except ApiError as exc:  # a racing delete of the namespace or the Deployment: next event
                log.debug("workloads %s/%s: %s", key[0], key[1], exc.message)

    # --- the plan ---------------------------------------------------------------------------------

    def _owned(self, rkey: str, owner_uid: str) -> list[dict[str, Any]]:
        store = self.api.store
        out = []
        for rk, key in list(store.dependents.get(owner_uid, ())):
            if rk == rkey and (obj := store.get(rk, key)) is not None:
                out.append(obj)
        return out

    def _schedulable(self, pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
        selector = pod_spec.get("nodeSelector") or {}
        out = []
        for _, node in self.api.store.iter_objects(NODE_KEY):
            labels = (node.get("metadata") or {}).get("labels") or {}
            if (
                _ready_node(node)
                and not (node.get("spec") or {}).get("unschedulable")
                and all(labels.get(k) == v for k, v in selector.items())
            ):
                out.append(node)
        return out

    def _pod_ip(self, ns: str, pod: str, node: dict[str, Any] | None) -> str:
        key = (ns, pod)
        if key not in self._pod_ips:
            cidr = ((node or {}).get("spec") or {}).get("podCIDR") or "172.20.0.0/24"
            base = cidr.split("/")[0].rsplit(".", 1)[0]
            used = {ip for ip in self._pod_ips.values() if ip.startswith(base + ".")}
            host = int(hashlib.sha256(pod.encode()).hexdigest()[:4], 16) % 250 + 2
            while f"{base}.{host}" in used:
                host = host % 250 + 2
            self._pod_ips[key] = f"{base}.{host}"
        return self._pod_ips[key]

    def ready_pods(self, dep: dict[str, Any]) -> list[tuple[str, str]]:
        """(pod name, IP) of the Deployment's ready Pods, as Endpoints list them."""
        template = (dep.get("spec") or {}).get("template") or {}
        owned = self._owned(RS_KEY, dep["metadata"].get("uid") or "")
        rs = next((r for r in owned if _same_template(r["spec"].get("template") or {}, template)), None)
        if rs is None:
            return []
        return sorted(
            (p["metadata"]["name"], (p.get("status") or {}).get("podIP") or "")
            for p in self._owned(POD_KEY, rs["metadata"]["uid"])
            if _pod_ready(p)
        )

    # --- reconcile one Deployment -------------------------------------------------------------------

    def _reconcile(self, key: Key) -> None:
        store, api = self.api.store, self.api
        dep = store.get(DEPLOY_KEY, key)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return
        ns, name = key
        md, spec = dep["metadata"], dep.get("spec") or {}
        template = spec.get("template") or {}
        h = template_hash(template)
        rs_name = f"{name}-{h}"
        rs_rt = api.resolve("apps", "v1", "replicasets")
        owned = self._owned(RS_KEY, md["uid"])
        latest = max((_revision(r) for r in owned), default=0)
        # the ReplicaSet whose template is the Deployment's, ignoring the hash label (the real
        # controller's EqualIgnoreHash): `rollout undo` copies an old template back, defaults and all
        current = next((r for r in owned if _same_template(r["spec"].get("template") or {}, template)), None)
        if current is not None:
            rs_name = current["metadata"]["name"]
        want = int(spec.get("replicas", 1))
        if current is None:
            current = api.create(rs_rt, ns, self._new_rs(dep, rs_name, h, latest + 1, want))
        elif _revision(current) < latest or current["spec"].get("replicas") != want:
            new = copy.deepcopy(current)
            if _revision(current) < latest:  # back to an older template: it becomes the newest revision
                new["metadata"].setdefault("annotations", {})[REVISION] = str(latest + 1)
            new["spec"]["replicas"] = want
            current = api.update(rs_rt, ns, rs_name, new)
        revision = _revision(current)
        if str(revision) != (md.get("annotations") or {}).get(REVISION):
            new_dep = copy.deepcopy(dep)
            new_dep["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            api.update(api.resolve("apps", "v1", "deployments"), ns, name, new_dep)
        # older ReplicaSets: scaled to 0, their Pods gone, history trimmed
        old = sorted((r for r in owned if r["metadata"]["name"] != rs_name), key=_revision)
        limit = int(spec.get("revisionHistoryLimit", 10))
        for i, rs in enumerate(old):
            for pod in self._owned(POD_KEY, rs["metadata"]["uid"]):
                self._delete_pod(ns, pod["metadata"]["name"])
            if i < len(old) - limit:
                api.delete(rs_rt, ns, rs["metadata"]["name"], {"propagationPolicy": "Background"})
            elif rs["spec"].get("replicas"):
                scaled = copy.deepcopy(rs)
                scaled["spec"]["replicas"] = 0
                api.update(rs_rt, ns, rs["metadata"]["name"], scaled)
                api.write_status(rs_rt, scaled, {"replicas": 0, "observedGeneration": 1})
        ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
        self._sync_pods(dep, current, want, ready)

    def _new_rs(self, dep: dict[str, Any], rs_name: str, h: str, revision: int, want: int) -> dict[str, Any]:
        md, spec = dep["metadata"], dep.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        annotations = {
            REVISION: str(revision),
            "deployment.kubernetes.io/desired-replicas": str(want),
            "deployment.kubernetes.io/max-replicas": str(want + 1),
        }
        cause = (md.get("annotations") or {}).get("kubernetes.io/change-cause")
        if cause:
            annotations["kubernetes.io/change-cause"] = cause
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": md.get("namespace"),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": md["name"],
                        "uid": md["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": want, "selector": selector, "template": template},
        }

    def _delete_pod(self, ns: str, name: str) -> None:
        try:
            self.api.delete(self.api.resolve("", "v1", "pods"), ns, name, {"gracePeriodSeconds": 0})
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _sync_pods(self, dep: dict[str, Any], rs: dict[str, Any], want: int, ready: int) -> None:
        api, store = self.api, self.api.store
        ns = rs["metadata"]["namespace"]
        rs_name = rs["metadata"]["name"]
        pod_rt, rs_rt = api.resolve("", "v1", "pods"), api.resolve("apps", "v1", "replicasets")
        template = rs["spec"]["template"]
        names = [f"{rs_name}-{_suffix(f'{rs_name}/{i}')}" for i in range(want)]
        existing = {p["metadata"]["name"]: p for p in self._owned(POD_KEY, rs["metadata"]["uid"])}
        for extra in sorted(set(existing) - set(names)):
            self._delete_pod(ns, extra)
        nodes = self._schedulable(template.get("spec") or {})
        for i, pod_name in enumerate(names):
            if pod_name not in existing:
                node = nodes[i % len(nodes)]["metadata"]["name"] if nodes else None
                existing[pod_name] = api.create(pod_rt, ns, self._new_pod(rs, pod_name, node))
        # exactly `ready` Pods are Ready: those on Ready nodes first, then in name order
        order = sorted(
            names,
            key=lambda n: (not _on_ready_node(store, existing[n]), n),
        )
        ready_set = set(order[:ready])
        failing = self.is_failing((ns, dep["metadata"]["name"]))
        n_ready = 0
        readiness_moved = False
        for pod_name in names:
            pod = existing[pod_name]
            node = store.get(NODE_KEY, ("", (pod.get("spec") or {}).get("nodeName") or ""))
            status = self._pod_status(pod, node, pod_name in ready_set, failing)
            n_ready += pod_name in ready_set
            if pod.get("status") != status:
                readiness_moved |= _pod_ready(pod) != (
                    status.get("phase") == "Running" and pod_name in ready_set
                )
                api.write_status(pod_rt, pod, status)
        if readiness_moved:
            self.on_pods_changed(ns, (template.get("metadata") or {}).get("labels") or {})
        rs_status = {
            "replicas": want,
            "fullyLabeledReplicas": want,
            "readyReplicas": n_ready,
            "availableReplicas": n_ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if not n_ready:
            rs_status.pop("readyReplicas")
            rs_status.pop("availableReplicas")
        if rs.get("status") != rs_status:
            api.write_status(rs_rt, rs, rs_status)

    def _new_pod(self, rs: dict[str, Any], name: str, node: str | None) -> dict[str, Any]:
        template = copy.deepcopy(rs["spec"]["template"])
        spec = template.get("spec") or {}
        if node:
            spec["nodeName"] = node
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": rs["metadata"]["namespace"],
                "labels": (template.get("metadata") or {}).get("labels") or {},
                "annotations": (template.get("metadata") or {}).get("annotations") or {},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": rs["metadata"]["name"],
                        "uid": rs["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {**spec, "restartPolicy": spec.get("restartPolicy", "Always")},
        }

    def _pod_status(
        self, pod: dict[str, Any], node: dict[str, Any] | None, ready: bool, failing: bool
    ) -> dict[str, Any]:
        prev = pod.get("status") or {}
        now = now_iso()
        started = prev.get("startTime") or now
        containers = (pod.get("spec") or {}).get("containers") or []
        if node is None:
            return {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/N nodes are available: no Ready, schedulable node matches the Pod.",
                        "lastTransitionTime": _since(prev, "PodScheduled", "False", now),
                    }
                ],
                "qosClass": "BestEffort",
            }
        flag = "True" if ready else "False"
        if failing:
            state: dict[str, Any] = {
                "waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}
            }
        else:
            state = {"running": {"startedAt": started}}
        restarts = int(((prev.get("containerStatuses") or [{}])[0]).get("restartCount", 0)) + (
            1
            if failing and not (prev.get("containerStatuses") or [{}])[0].get("state", {}).get("waiting")
            else 0
        )
        return {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {
                    "type": "ContainersReady",
                    "status": flag,
                    "lastTransitionTime": _since(prev, "ContainersReady", flag, now),
                },
                {"type": "Ready", "status": flag, "lastTransitionTime": _since(prev, "Ready", flag, now)},
            ],
            "hostIP": ((node.get("status") or {}).get("addresses") or [{}])[0].get("address", ""),
            "podIP": self._pod_ip(pod["metadata"]["namespace"], pod["metadata"]["name"], node),
            "startTime": started,
            "qosClass": "BestEffort",
            "containerStatuses": [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": ready and not failing,
                    "started": not failing,
                    "restartCount": restarts,
                    "state": state,
                }
                for c in containers
            ],
        }


def _bare(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    meta = t.setdefault("metadata", {})
    (meta.get("labels") or {}).pop(HASH_LABEL, None)
    if meta.get("creationTimestamp") is None:
        meta.pop("creationTimestamp", None)
    if not meta.get("labels"):
        meta.pop("labels", None)
    return t


def _same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _bare(a) == _bare(b)


def _since(prev: dict[str, Any], type_: str, status: str, now: str) -> str:
    for c in prev.get("conditions") or ():
        if c.get("type") == type_ and c.get("status") == status:
            return str(c.get("lastTransitionTime") or now)
    return now


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


def _on_ready_node(store: Any, pod: dict[str, Any]) -> bool:
    node = store.get(NODE_KEY, ("", (pod.get("spec") or {}).get("nodeName") or ""))
    return node is not None and _ready_node(node)
