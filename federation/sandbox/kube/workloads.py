"""The ReplicaSets and Pods behind each simulated Deployment, so that `kubectl get pods`, `kubectl get rs`,
`kubectl rollout status/history/undo` and `kubectl logs` work against a member as against a real one.

The Deployment controller's rollout (behaviour.py with rollout.py: ReplicaSets scaled in steps within
maxSurge/maxUnavailable, pods ready after the rollout delay, failing rollouts, NotReady nodes) is the
simulator's source of truth for the Deployment's status; this controller materialises what it
decided, as the ReplicaSet controller and a kubelet would:

* one ReplicaSet per pod template (``<deployment>-<template hash>``, the name the Deployment's
  conditions print), owned by the Deployment, carrying ``deployment.kubernetes.io/revision`` and
  the ``spec.replicas`` the rollout gives it; those left with no pods are kept at 0 up to
  ``revisionHistoryLimit`` (default 10). A template that returns to an older one (``rollout undo``)
  reuses that ReplicaSet with the next revision number, as the real controller does;
* the Pods of each ReplicaSet, owned by it, bound when created to a schedulable node (Ready, not
  cordoned, matching ``nodeSelector``; none: Pending and Unschedulable) and kept there; exactly as
  many as the rollout counts ready are Ready, those on Ready nodes first, then the oldest. A failing
  rollout's Pods are in CrashLoopBackOff. Pod IPs come from the node's ``podCIDR``.

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
from federation.sandbox.kube.rollout import HASH_LABEL, template_hash

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi
    from federation.sandbox.kube.behaviour import PoolView
    from federation.sandbox.kube.store import Event, Key

log = logging.getLogger(__name__)

DEPLOY_KEY = "apps/deployments"
RS_KEY = "apps/replicasets"
POD_KEY = "/pods"
NODE_KEY = "/nodes"
REVISION = "deployment.kubernetes.io/revision"
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated name suffixes


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
        plan: Callable[[Key], list[PoolView] | None],
        is_failing: Callable[[tuple[str, str]], bool] = lambda key: False,
        on_pods_changed: Callable[[str, dict[str, Any]], None] = lambda ns, labels: None,
    ) -> None:
        """``is_failing(namespace, name)``: the Deployment's rollout crash-loops; ``on_pods_changed``
        (namespace, pod labels): Pods became ready or not (Endpoints follow)."""
        self.api = api
        self.plan = plan
        self.is_failing = is_failing
        self.on_pods_changed = on_pods_changed
        self._dirty: set[Key] = set()
        self._scheduled = False
        self._running = False
        self._pod_ips: dict[tuple[str, str], str] = {}  # (namespace, pod) -> IP, stable while it lives
        self._ips_used: set[str] = set()
        self._overflow = 0  # Pods beyond a node's /24 get addresses of their own range
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
            self._ips_used.discard(self._pod_ips.pop((md.get("namespace") or "", md["name"]), ""))

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
            host = int(hashlib.sha256(pod.encode()).hexdigest()[:4], 16) % 250 + 2
            ip = f"{base}.{host}"
            for _ in range(250):
                if ip not in self._ips_used:
                    break
                host = host % 250 + 2
                ip = f"{base}.{host}"
            while ip in self._ips_used:  # the node's /24 is full
                ip = f"172.31.{self._overflow // 250 % 256}.{self._overflow % 250 + 2}"
                self._overflow += 1
            self._pod_ips[key] = ip
            self._ips_used.add(ip)
        return self._pod_ips[key]

    def ready_pods(self, dep: dict[str, Any]) -> list[tuple[str, str]]:
        """(pod name, IP) of the Deployment's ready Pods (of every ReplicaSet), as Endpoints list them."""
        return sorted(
            (p["metadata"]["name"], (p.get("status") or {}).get("podIP") or "")
            for rs in self._owned(RS_KEY, dep["metadata"].get("uid") or "")
            for p in self._owned(POD_KEY, rs["metadata"]["uid"])
            if _pod_ready(p)
        )

    # --- reconcile one Deployment -------------------------------------------------------------------

    def _reconcile(self, key: Key) -> None:
        store, api = self.api.store, self.api
        dep = store.get(DEPLOY_KEY, key)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return
        plan = self.plan(key)
        if plan is None:
            return
        ns, name = key
        md, spec = dep["metadata"], dep.get("spec") or {}
        new_hash = template_hash(spec.get("template") or {})
        rs_rt = api.resolve("apps", "v1", "replicasets")
        owned = self._owned(RS_KEY, md["uid"])
        latest = max((_revision(r) for r in owned), default=0)
        # each ReplicaSet by the hash of its template without the hash label (the real controller's
        # EqualIgnoreHash): `rollout undo` copies an old template back and finds its ReplicaSet
        by_hash = {template_hash(r["spec"].get("template") or {}): r for r in owned}
        keep: set[str] = set()
        synced: list[tuple[dict[str, Any], PoolView]] = []
        for pool in plan:
            rs = by_hash.get(pool.hash)
            if rs is None:
                if pool.hash != new_hash and not pool.replicas:
                    continue
                template = spec.get("template") or {} if pool.hash == new_hash else None
                if template is None:
                    continue  # an old template the simulator never materialised (pods turned on later)
                latest += 1
                rs = api.create(
                    rs_rt, ns, self._new_rs(dep, f"{name}-{pool.hash}", pool.hash, latest, pool.replicas)
                )
            elif (pool.hash == new_hash and _revision(rs) < latest) or rs["spec"].get(
                "replicas"
            ) != pool.replicas:
                new = copy.deepcopy(rs)
                if pool.hash == new_hash and _revision(rs) < latest:
                    # back to an older template: it becomes the newest revision
                    latest += 1
                    new["metadata"].setdefault("annotations", {})[REVISION] = str(latest)
                new["spec"]["replicas"] = pool.replicas
                rs = api.update(rs_rt, ns, rs["metadata"]["name"], new, owned=True)
            keep.add(rs["metadata"]["name"])
            if pool.hash == new_hash:
                revision = _revision(rs)
                if str(revision) != (md.get("annotations") or {}).get(REVISION):
                    new_dep = copy.deepcopy(dep)
                    new_dep["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
                    api.update(api.resolve("apps", "v1", "deployments"), ns, name, new_dep, owned=True)
            synced.append((rs, pool))
        # Pods that became ready first, then the scale-downs (ReplicaSets left without pods included),
        # then the new Pods: whoever watches never sees fewer available or more Pods than the rollout
        # allows
        for rs, pool in synced:
            self._sync_pods(dep, rs, pool.replicas, pool.ready, "ready")
        for rs, pool in synced:
            self._sync_pods(dep, rs, pool.replicas, pool.ready, "shrink")
        # ReplicaSets with no pods left: scaled to 0, their Pods gone, history trimmed
        old = sorted((r for r in owned if r["metadata"]["name"] not in keep), key=_revision)
        limit = int(spec.get("revisionHistoryLimit", 10))
        for i, rs in enumerate(old):
            for pod in self._owned(POD_KEY, rs["metadata"]["uid"]):
                self._delete_pod(ns, pod["metadata"]["name"])
            if i < len(old) - limit:
                api.delete(rs_rt, ns, rs["metadata"]["name"], {"propagationPolicy": "Background"})
            elif rs["spec"].get("replicas"):
                scaled = copy.deepcopy(rs)
                scaled["spec"]["replicas"] = 0
                api.update(rs_rt, ns, rs["metadata"]["name"], scaled, owned=True)
                api.write_status(rs_rt, scaled, {"replicas": 0, "observedGeneration": 1})
        for rs, pool in synced:
            self._sync_pods(dep, rs, pool.replicas, pool.ready, "grow")

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

    def _sync_pods(self, dep: dict[str, Any], rs: dict[str, Any], want: int, ready: int, phase: str) -> None:
        """``phase`` "ready": the existing Pods' readiness; "shrink": Pods beyond ``want`` deleted;
        "grow": the missing Pods created, and the ReplicaSet's status."""
        api, store = self.api, self.api.store
        ns = rs["metadata"]["namespace"]
        rs_name = rs["metadata"]["name"]
        pod_rt, rs_rt = api.resolve("", "v1", "pods"), api.resolve("apps", "v1", "replicasets")
        template = rs["spec"]["template"]
        names = [f"{rs_name}-{_suffix(f'{rs_name}/{i}')}" for i in range(want)]
        existing = {p["metadata"]["name"]: p for p in self._owned(POD_KEY, rs["metadata"]["uid"])}
        if phase == "shrink":
            for extra in sorted(set(existing) - set(names)):
                self._delete_pod(ns, extra)
            return
        if phase == "grow":
            nodes = self._schedulable(template.get("spec") or {})
            for i, pod_name in enumerate(names):
                if pod_name not in existing:
                    node = nodes[i % len(nodes)]["metadata"]["name"] if nodes else None
                    existing[pod_name] = api.create(pod_rt, ns, self._new_pod(rs, pod_name, node), owned=True)
        present = [i for i in range(want) if names[i] in existing]
        # exactly `ready` Pods are Ready: those on Ready nodes first, then the oldest
        order = sorted(present, key=lambda i: (not _on_ready_node(store, existing[names[i]]), i))
        ready_set = {names[i] for i in order[:ready]}
        failing = self.is_failing((ns, dep["metadata"]["name"]))
        readiness_moved = False
        for i in present:
            pod_name = names[i]
            pod = existing[pod_name]
            node = store.get(NODE_KEY, ("", (pod.get("spec") or {}).get("nodeName") or ""))
            status = self._pod_status(pod, node, pod_name in ready_set, failing)
            if pod.get("status") != status:
                readiness_moved |= _pod_ready(pod) != (
                    status.get("phase") == "Running" and pod_name in ready_set
                )
                api.write_status(pod_rt, pod, status)
        if readiness_moved:
            self.on_pods_changed(ns, (template.get("metadata") or {}).get("labels") or {})
        if phase != "grow":
            return
        n_ready = len(ready_set)
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
        cur = store.get(RS_KEY, (ns, rs_name))
        if cur is not None and cur.get("status") != rs_status:
            api.write_status(rs_rt, cur, rs_status)

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
