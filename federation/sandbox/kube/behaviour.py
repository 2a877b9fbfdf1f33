"""Simulated controllers of one cluster: Deployment rollouts (and failing rollouts), Service load
balancers, Endpoints, garbage collection by ownerReferences, namespace termination, node readiness.

They react to store events (nothing is polled) and write status through the same storage path as the
API, so watchers see their changes like any other write.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from federation.sandbox.kube import rollout
from federation.sandbox.kube.api import NS_KEY, now_iso
from federation.sandbox.kube.errors import ApiError
from federation.sandbox.kube.store import Event, Key

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi

log = logging.getLogger(__name__)

DEPLOY_KEY = "apps/deployments"
SVC_KEY = "/services"
EP_KEY = "/endpoints"
POD_KEY = "/pods"
NODE_KEY = "/nodes"
EVENT_KEY = "/events"
MANAGED_LABEL = "endpoints.kubernetes.io/managed-by"


@dataclass
class Rollout:
    generation: int
    started: float  # when this generation (or the fault state) began: the progress deadline counts from it
    timers: list[asyncio.TimerHandle]
    pools: dict[str, rollout.Pool] = field(default_factory=dict)  # ReplicaSets' pods, oldest first
    wake: asyncio.TimerHandle | None = None  # the next step (a batch of pods becoming ready)
    wake_at: float | None = None


@dataclass(frozen=True)
class PoolView:
    """One ReplicaSet of a Deployment as the controller sees it now."""

    hash: str
    replicas: int
    ready: int


def _cond(
    type_: str, status: str, reason: str, message: str, prev: list[dict[str, Any]], now: str
) -> dict[str, Any]:
    old = next((c for c in prev if c.get("type") == type_), None)
    transition = old["lastTransitionTime"] if old and old.get("status") == status else now
    update = (
        old["lastUpdateTime"] if old and old.get("reason") == reason and old.get("status") == status else now
    )
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": update,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


def deployment_status(
    dep: dict[str, Any],
    *,
    pools: list[PoolView],
    new_hash: str,
    complete: bool,
    failing: bool,
    deadline_passed: bool,
    now: str,
) -> dict[str, Any]:
    """The status a Deployment controller reports for its ReplicaSets (``pools``, one per template;
    ``new_hash`` the current one's) at this point of a (simulated) rollout.

    Counts follow the controller's ``calculateStatus``: replicas and ready over all ReplicaSets,
    updated from the new one, unavailable = desired - available (never below 0). Available follows the
    rolling-update rule ready >= replicas - maxUnavailable; Progressing says NewReplicaSetAvailable
    once the new ReplicaSet completed, ProgressDeadlineExceeded when a failing rollout ran out of time
    (Kubernetes docs: "Deployments", "Deployment status").
    """
    spec = dep.get("spec") or {}
    prev = dep.get("status") or {}
    prev_conds = prev.get("conditions") or []
    name = dep["metadata"]["name"]
    want = max(int(spec.get("replicas", 1)), 0)
    rs_name = f"{name}-{new_hash}"
    total = sum(p.replicas for p in pools)
    ready = sum(p.ready for p in pools)
    updated = sum(p.replicas for p in pools if p.hash == new_hash)
    status: dict[str, Any] = {
        "observedGeneration": dep["metadata"].get("generation", 1),
        "replicas": total,
        "updatedReplicas": updated,
    }
    if ready:
        status["readyReplicas"] = ready
        status["availableReplicas"] = ready
    if want - ready > 0:
        status["unavailableReplicas"] = want - ready
    if ready >= want - _max_unavailable(spec, want):
        available = _cond(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            prev_conds,
            now,
        )
    else:
        available = _cond(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            prev_conds,
            now,
        )
    if spec.get("paused"):
        progressing = _cond(
            "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", prev_conds, now
        )
    elif failing and deadline_passed:
        progressing = _cond(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{rs_name}" has timed out progressing.',
            prev_conds,
            now,
        )
    elif want == 0 or (complete and not failing):
        progressing = _cond(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
            prev_conds,
            now,
        )
    else:
        progressing = _cond(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
            prev_conds,
            now,
        )
    status["conditions"] = [available, progressing]
    return status


def _max_unavailable(spec: dict[str, Any], want: int) -> int:
    """The controller's MaxUnavailable: 0 for Recreate, else the resolved rolling-update value."""
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        return 0
    return min(rollout.surge_and_unavailable(spec, want)[1], want)


class Behaviours:
    def __init__(
        self, api: ClusterApi, *, rollout_delay: float, progress_deadline: float, lb_prefix: str
    ) -> None:
        self.api = api
        self.rollout_delay = rollout_delay
        self.progress_deadline = progress_deadline
        self.cloud_controller = True
        self.failing: set[Key] = set()
        self.rollouts: dict[Key, Rollout] = {}
        self.lb_prefix = lb_prefix
        self.lb_next = 10
        self._terminating_ns: set[str] = set()
        self._dirty_svcs: set[Key] = set()
        self._dep_changes: list[tuple[str, dict[str, Any]]] = []
        # (namespace, label key, value) -> names: which Services select, and which Deployments' pods
        # carry, a label; keeps Endpoints upkeep proportional to the matches, not to the namespace.
        self._svc_by_pair: dict[tuple[str, str, str], set[str]] = {}
        self._dep_by_pair: dict[tuple[str, str, str], set[str]] = {}
        self._gc_queue: list[str] = []
        # the ready Pods (name, IP) of a Deployment, when the cluster materialises Pods (workloads.py)
        self.pod_source: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None
        self._scheduled = False
        self._running = False
        self._events: deque[tuple[str, str]] = deque()
        self.max_events = 2000
        api.store.listeners.append(self._on_event)

    def start(self) -> None:
        self._running = True
        for k, d in list(self.api.store.iter_objects(DEPLOY_KEY)):
            _index(self._dep_by_pair, k, None, _pod_labels(d))
            self._new_rollout(k, d)
        for k, s in list(self.api.store.iter_objects(SVC_KEY)):
            _index(self._svc_by_pair, k, None, _selector(s))
            self._ensure_lb(s)

    def stop(self) -> None:
        self._running = False
        for r in self.rollouts.values():
            for t in r.timers:
                t.cancel()
            if r.wake is not None:
                r.wake.cancel()
        self.rollouts.clear()

    # ----- event fan-in --------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        if not self._running:
            return
        md = ev.obj["metadata"]
        key: Key = (md.get("namespace", "") or "", md["name"])
        if ev.rkey == DEPLOY_KEY:
            if ev.type == "DELETED":
                r = self.rollouts.pop(key, None)
                if r:
                    for t in r.timers:
                        t.cancel()
                    if r.wake is not None:
                        r.wake.cancel()
                self.failing.discard(key)
            else:
                r = self.rollouts.get(key)
                if r is None or r.generation != md.get("generation"):
                    self._new_rollout(key, ev.obj)
            # Endpoints only change when ready counts or pod labels do.
            new_labels, old_labels = _pod_labels(ev.obj), _pod_labels(ev.old)
            _index(self._dep_by_pair, key, old_labels, None if ev.type == "DELETED" else new_labels)
            if ev.type != "MODIFIED" or new_labels != old_labels or _ready(ev.obj) != _ready(ev.old):
                self._dep_changes.append((key[0], new_labels))
                if ev.old is not None and old_labels != new_labels:
                    self._dep_changes.append((key[0], old_labels))
                self._schedule()
        elif ev.rkey == POD_KEY and self.pod_source is not None:
            # Endpoints list ready Pods: a Pod that comes, goes or changes readiness re-syncs the
            # Services selecting it (a scale to 0 deletes Pods after the Deployment's status changed)
            if ev.type != "MODIFIED" or _pod_is_ready(ev.obj) != _pod_is_ready(ev.old):
                self._dep_changes.append((key[0], (ev.obj["metadata"].get("labels") or {})))
                self._schedule()
        elif ev.rkey == SVC_KEY:
            if ev.type != "DELETED":
                self._ensure_lb(ev.obj)
            _index(
                self._svc_by_pair, key, _selector(ev.old), None if ev.type == "DELETED" else _selector(ev.obj)
            )
            self._dirty_svcs.add(key)
            self._schedule()
        elif ev.rkey == NS_KEY and ev.type != "DELETED" and md.get("deletionTimestamp"):
            self._mark_ns(md["name"], terminating=True)
        if ev.type == "DELETED" and md.get("uid"):
            self._gc_queue.append(md["uid"])
            # an owner in foreground deletion finishes once its last dependent is gone
            self._gc_queue.extend(r.get("uid", "") for r in md.get("ownerReferences") or ())
            self._schedule()
        elif (
            ev.type == "ADDED"
            and md.get("ownerReferences")
            and not any(r.get("uid") in self.api.store.by_uid for r in md["ownerReferences"])
        ):
            # created already orphaned: the collector deletes it like any dependent of a gone owner
            self._gc_queue.append(md["ownerReferences"][0].get("uid", ""))
            self._schedule()
        if md.get("deletionTimestamp") and "foregroundDeletion" in (md.get("finalizers") or ()):
            self._gc_queue.append(md.get("uid", ""))
            self._schedule()
        if ev.type == "DELETED" and key[0] and ev.rkey != NS_KEY:
            ns = self.api.store.get(NS_KEY, ("", key[0]))
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self._mark_ns(key[0], terminating=True)

    def pods_changed(self, ns: str, labels: dict[str, Any]) -> None:
        """Pods with these labels became ready or not: the Services selecting them resync."""
        self._dep_changes.append((ns, labels))
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run_pending)

    def _mark_ns(self, ns: str, terminating: bool = False) -> None:
        self._terminating_ns.add(ns)
        self._schedule()

    def _run_pending(self) -> None:
        self._scheduled = False
        if not self._running:
            return
        while self._gc_queue:
            uid = self._gc_queue.pop()
            self._collect(uid)
        changes, self._dep_changes = self._dep_changes, []
        store = self.api.store
        for ns, labels in changes:
            candidates: set[str] = set()
            for k, v in labels.items():
                candidates |= self._svc_by_pair.get((ns, k, str(v)), set())
            for name in candidates:
                sel = _selector(store.get(SVC_KEY, (ns, name)))
                if sel and all(labels.get(k) == v for k, v in sel.items()):
                    self._dirty_svcs.add((ns, name))
        svcs, self._dirty_svcs = self._dirty_svcs, set()
        for ns, name in sorted(svcs):
            self._sync_endpoints(ns, name)
        dirty, self._terminating_ns = self._terminating_ns, set()
        for ns in dirty:
            self._terminate_namespace(ns)

    # ----- deployments ---------------------------------------------------------------------------
    def _deployment_type(self) -> Any:
        return self.api.resolve("apps", "v1", "deployments")

    def _new_rollout(self, key: Key, dep: dict[str, Any]) -> None:
        """A new generation (or a fault switched): the progress deadline counts from now; the
        ReplicaSets' pods carry over."""
        old = self.rollouts.pop(key, None)
        if old:
            for t in old.timers:
                t.cancel()
            if old.wake is not None:
                old.wake.cancel()
        loop = asyncio.get_running_loop()
        gen = dep["metadata"].get("generation", 1)
        r = Rollout(gen, loop.time(), [])
        r.pools = old.pools if old is not None else self._seed_pools(dep)
        self.rollouts[key] = r
        r.timers.append(loop.call_later(self.progress_deadline, self._reconcile_deployment, key))
        self._reconcile_deployment(key)

    def _seed_pools(self, dep: dict[str, Any]) -> dict[str, rollout.Pool]:
        """A Deployment first seen with a status (a restored simulator): its ready replicas stay ready."""
        st = dep.get("status") or {}
        spec = dep.get("spec") or {}
        if st.get("observedGeneration") != dep["metadata"].get("generation"):
            return {}
        ready = min(int(st.get("readyReplicas") or 0), max(int(spec.get("replicas", 1)), 0))
        if not ready:
            return {}
        h = rollout.template_hash(spec.get("template") or {})
        return {h: rollout.Pool(h, [[ready, float("-inf")]])}

    def _pool_ready(self, failing: bool, now: float, nodes: list[bool]) -> Callable[[rollout.Pool], int]:
        """Ready pods of a pool: started (the rollout delay passed), not crash-looping, and placed
        round-robin over the nodes, those on a NotReady node not ready."""

        def ready(pool: rollout.Pool) -> int:
            if failing:
                return 0
            n = len(nodes)
            want = pool.replicas
            capacity = (want // n) * sum(nodes) + sum(nodes[: want % n]) if n else want
            return min(pool.matured(now), capacity)

        return ready

    def _reconcile_deployment(self, key: Key) -> None:
        """One sync of the Deployment controller: step the rollout, write the status, and wake up
        when the next batch of pods becomes ready."""
        if not self._running:
            return
        dep = self.api.store.get(DEPLOY_KEY, key)
        r = self.rollouts.get(key)
        if dep is None or r is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time() + 1e-3  # a timer may fire a hair early
        spec = dep.get("spec") or {}
        new_hash = rollout.template_hash(spec.get("template") or {})
        failing = key in self.failing
        ready = self._pool_ready(failing, now, self._node_readiness())
        name = dep["metadata"]["name"]

        def scaled(pool: rollout.Pool, before: int, after: int) -> None:
            verb = "up" if after > before else "down"
            self.record_event(
                dep,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {verb} replica set {name}-{pool.hash} from {before} to {after}",
                "deployment-controller",
            )

        rollout.step(r.pools, new_hash, spec, now=now, delay=self.rollout_delay, ready=ready, on_scale=scaled)
        desired = max(int(spec.get("replicas", 1)), 0)
        status = deployment_status(
            dep,
            pools=[PoolView(p.hash, p.replicas, ready(p)) for p in r.pools.values()],
            new_hash=new_hash,
            complete=rollout.complete(r.pools, new_hash, desired, now),
            failing=failing,
            deadline_passed=now - r.started >= self.progress_deadline,
            now=now_iso(),
        )
        self.api.write_status(self._deployment_type(), dep, status)
        wake = rollout.next_change(r.pools, now)
        if wake != r.wake_at:
            if r.wake is not None:
                r.wake.cancel()
            r.wake, r.wake_at = None, wake
            if wake is not None:
                r.wake = loop.call_at(wake, self._reconcile_deployment, key)

    def pools_of(self, key: Key) -> list[PoolView] | None:
        """The Deployment's ReplicaSets (template hash, replicas, ready pods) now, oldest first."""
        r = self.rollouts.get(key)
        if r is None:
            return None
        ready = self._pool_ready(
            key in self.failing, asyncio.get_running_loop().time() + 1e-3, self._node_readiness()
        )
        return [PoolView(p.hash, p.replicas, ready(p)) for p in r.pools.values()]

    def _node_readiness(self) -> list[bool]:
        """Ready flag per node, in name order (empty: no simulated nodes, scheduling always works)."""
        out = []
        for _, n in self.api.store.iter_objects(NODE_KEY):
            conds = (n.get("status") or {}).get("conditions") or ()
            out.append(any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds))
        return out

    def fail_deployment(self, ns: str, name: str, failing: bool) -> None:
        key = (ns, name)
        if failing:
            self.failing.add(key)
        elif key in self.failing:
            self.failing.discard(key)
            r = self.rollouts.get(key)
            if r is not None:  # the crash-looping containers start again: ready after the delay
                now = asyncio.get_running_loop().time()
                for pool in r.pools.values():
                    pool.restart(now, self.rollout_delay)
        dep = self.api.store.get(DEPLOY_KEY, key)
        if dep is not None:
            self._new_rollout(key, dep)

    def reconcile_all_deployments(self) -> None:
        for k, _ in list(self.api.store.iter_objects(DEPLOY_KEY)):
            self._reconcile_deployment(k)

    # ----- services ------------------------------------------------------------------------------
    def set_cloud_controller(self, enabled: bool) -> None:
        self.cloud_controller = enabled
        if enabled:
            for _, s in list(self.api.store.iter_objects(SVC_KEY)):
                self._ensure_lb(s)

    def _ensure_lb(self, svc: dict[str, Any]) -> None:
        if not self.cloud_controller or (svc.get("spec") or {}).get("type") != "LoadBalancer":
            return
        if ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            return
        if self.lb_prefix.count(".") == 2:  # a /24 of its own (the sandbox's loopback load balancers)
            ip = f"{self.lb_prefix}.{self.lb_next % 250 + 1}"
        else:
            ip = f"{self.lb_prefix}.{self.lb_next // 250}.{self.lb_next % 250 + 1}"
        self.lb_next += 1
        rt = self.api.resolve("", "v1", "services")
        self.api.write_status(
            rt, svc, {**(svc.get("status") or {}), "loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}
        )

    def _sync_endpoints(self, ns: str, name: str) -> None:
        """Endpoints of one Service: an address per ready replica of the Deployments it selects."""
        store = self.api.store
        ep_rt = self.api.resolve("", "v1", "endpoints")
        svc = store.get(SVC_KEY, (ns, name))
        cur = store.get(EP_KEY, (ns, name))
        sel = ((svc or {}).get("spec") or {}).get("selector")
        if svc is None or not sel:
            # the Service is gone (or selects nothing): drop the Endpoints the simulator made for it
            if (
                cur is not None
                and (cur["metadata"].get("labels") or {}).get(MANAGED_LABEL)
                and not cur["metadata"].get("deletionTimestamp")
            ):
                with contextlib.suppress(ApiError):
                    self.api.delete(ep_rt, ns, name)
            self._sync_slice(ns, name, None, [], [])
            return
        addresses: list[dict[str, Any]] = []
        k0, v0 = next(iter(sel.items()))
        for dep_name in sorted(self._dep_by_pair.get((ns, k0, str(v0)), ())):
            d = store.get(DEPLOY_KEY, (ns, dep_name))
            if d is None:
                continue
            labels = _pod_labels(d)
            if not all(labels.get(k) == v for k, v in sel.items()):
                continue
            if self.pod_source is not None:
                addresses.extend(
                    {"ip": ip, "targetRef": {"kind": "Pod", "namespace": ns, "name": pod}}
                    for pod, ip in self.pod_source(d)
                )
                continue
            ready = _ready(d)
            base = int(hashlib.sha256(d["metadata"]["uid"].encode()).hexdigest()[:4], 16)
            for i in range(ready):
                n = base + i
                addresses.append(
                    {
                        "ip": f"172.20.{(n // 250) % 250}.{n % 250 + 2}",
                        "targetRef": {"kind": "Pod", "namespace": ns, "name": f"{d['metadata']['name']}-{i}"},
                    }
                )
        ports = [
            {"name": p["name"], "port": _target_port(p), "protocol": p.get("protocol", "TCP")}
            if p.get("name")
            else {"port": _target_port(p), "protocol": p.get("protocol", "TCP")}
            for p in (svc.get("spec") or {}).get("ports") or []
        ]
        subsets = [{"addresses": addresses, "ports": ports}] if addresses else []
        labels = {**(svc["metadata"].get("labels") or {}), MANAGED_LABEL: "endpoint-controller"}
        try:
            if cur is None:
                self.api.create(
                    ep_rt,
                    ns,
                    {
                        "apiVersion": "v1",
                        "kind": "Endpoints",
                        "metadata": {"name": name, "namespace": ns, "labels": labels},
                        "subsets": subsets,
                    },
                )
            elif cur.get("subsets", []) != subsets:
                new = copy.deepcopy(cur)
                new["subsets"] = subsets
                self.api.update(ep_rt, ns, name, new)
        except ApiError as e:
            log.debug("endpoints %s/%s: %s", ns, name, e.message)
        self._sync_slice(ns, name, svc, addresses, ports)

    def _sync_slice(
        self,
        ns: str,
        svc_name: str,
        svc: dict[str, Any] | None,
        addresses: list[dict[str, Any]],
        ports: list[dict[str, Any]],
    ) -> None:
        """The Service's EndpointSlice (discovery.k8s.io/v1), one per Service: the same ready addresses
        as its Endpoints, as the EndpointSlice controller writes them (``<service>-<suffix>``, label
        ``kubernetes.io/service-name``, owned by the Service)."""
        rt = self.api.resolve("discovery.k8s.io", "v1", "endpointslices")
        name = f"{svc_name}-sim"
        cur = self.api.store.get(rt.key, (ns, name))
        if svc is None:
            if cur is not None and not cur["metadata"].get("deletionTimestamp"):
                with contextlib.suppress(ApiError):
                    self.api.delete(rt, ns, name)
            return
        endpoints = [
            {
                "addresses": [a["ip"]],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": a["targetRef"],
            }
            for a in addresses
        ]
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": {
                    "kubernetes.io/service-name": svc_name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": svc_name,
                        "uid": svc["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        }
        try:
            if cur is None:
                self.api.create(rt, ns, body)
            elif cur.get("endpoints") != endpoints or cur.get("ports") != ports:
                new = copy.deepcopy(cur)
                new["endpoints"], new["ports"] = endpoints, ports
                self.api.update(rt, ns, name, new)
        except ApiError as e:
            log.debug("endpointslice %s/%s: %s", ns, name, e.message)

    # ----- garbage collection --------------------------------------------------------------------
    def _collect(self, uid: str) -> None:
        """Delete dependents whose owners are all gone; finish foreground deletions."""
        store = self.api.store
        for rkey, key in list(store.dependents.get(uid, ())):
            dep = store.get(rkey, key)
            if dep is None:
                continue
            owners = dep["metadata"].get("ownerReferences") or []
            alive = [
                r for r in owners if r.get("uid") in store.by_uid and not self._being_foreground_deleted(r)
            ]
            if not alive:
                self._delete_obj(rkey, key)
        owner_loc = store.by_uid.get(uid)
        if owner_loc is not None:
            owner = store.get(*owner_loc)
            if (
                owner is not None
                and self._being_foreground_deleted({"uid": uid})
                and not store.dependents.get(uid)
            ):
                new = copy.deepcopy(owner)
                new["metadata"]["finalizers"] = [
                    f for f in new["metadata"]["finalizers"] if f != "foregroundDeletion"
                ]
                rt = self._rt_for(owner_loc[0], owner)
                if rt is not None:
                    with contextlib.suppress(ApiError):
                        self.api.update(rt, owner_loc[1][0] or None, owner_loc[1][1], new)
        # dependents of a dependent that was just deleted are handled when its DELETED event arrives

    def _being_foreground_deleted(self, ref: dict[str, Any]) -> bool:
        loc = self.api.store.by_uid.get(ref.get("uid", ""))
        if loc is None:
            return False
        o = self.api.store.get(*loc)
        md = (o or {}).get("metadata") or {}
        return bool(md.get("deletionTimestamp")) and "foregroundDeletion" in (md.get("finalizers") or ())

    def _rt_for(self, rkey: str, obj: dict[str, Any]) -> Any:
        for rt in self.api.types.values():
            if rt.key == rkey:
                return rt
        return None

    def _delete_obj(self, rkey: str, key: Key) -> None:
        obj = self.api.store.get(rkey, key)
        if obj is None:
            return
        rt = self._rt_for(rkey, obj)
        if rt is None:
            return
        with contextlib.suppress(ApiError):
            self.api.delete(rt, key[0] or None, key[1], {"propagationPolicy": "Background"})

    # ----- namespaces ----------------------------------------------------------------------------
    def _terminate_namespace(self, ns: str) -> None:
        store = self.api.store
        nso = store.get(NS_KEY, ("", ns))
        if nso is None or not nso["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for rkey, bucket in list(store.objects.items()):
            if rkey == NS_KEY:
                continue
            for key in [k for k in bucket if k[0] == ns]:
                obj = bucket.get(key)
                if obj is None:
                    continue
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete_obj(rkey, key)
                if store.get(rkey, key) is None:
                    remaining -= 1
        if remaining:
            return
        new = copy.deepcopy(nso)
        spec = new.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != "kubernetes"]
        ns_rt = self.api.resolve("", "v1", "namespaces")
        if new["metadata"].get("finalizers"):
            with contextlib.suppress(ApiError):
                self.api.update(ns_rt, None, ns, new)
            return
        self.api._stamp(new)
        self.api._finish_delete(ns_rt, ("", ns), new)

    # ----- nodes and events ----------------------------------------------------------------------
    def set_node_ready(self, node: str, ready: bool) -> None:
        rt = self.api.resolve("", "v1", "nodes")
        cur = self.api.get(rt, None, node)
        status = copy.deepcopy(cur.get("status") or {})
        now = now_iso()
        conds = status.setdefault("conditions", [])
        for c in conds:
            if c.get("type") == "Ready":
                new_status = "True" if ready else "Unknown"
                if c.get("status") != new_status:
                    c["lastTransitionTime"] = now
                c["status"] = new_status
                c["lastHeartbeatTime"] = now
                c["reason"] = "KubeletReady" if ready else "NodeStatusUnknown"
                c["message"] = (
                    "kubelet is posting ready status" if ready else "Kubelet stopped posting node status."
                )
        self.api.write_status(rt, cur, status)
        node_obj = self.api.get(rt, None, node)
        taints = [
            t
            for t in (node_obj.get("spec") or {}).get("taints") or []
            if t.get("key") != "node.kubernetes.io/unreachable"
        ]
        if not ready:
            taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": now})
        new = copy.deepcopy(node_obj)
        new.setdefault("spec", {})["taints"] = taints
        if not taints:
            new["spec"].pop("taints")
        self.api.update(rt, None, node, new)
        self.record_event(
            node_obj,
            "Normal" if ready else "Warning",
            "NodeReady" if ready else "NodeNotReady",
            f"Node {node} status is now: {'NodeReady' if ready else 'NodeNotReady'}",
            "node-controller",
        )
        self.reconcile_all_deployments()

    def record_event(
        self, obj: dict[str, Any], type_: str, reason: str, message: str, component: str
    ) -> None:
        md = obj["metadata"]
        ns = md.get("namespace") or "default"
        if self.api.store.get(NS_KEY, ("", ns)) is None:
            return
        now = now_iso()
        ev = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{md['name']}.{hashlib.sha1(f'{reason}{message}{now}'.encode()).hexdigest()[:16]}",
                "namespace": ns,
            },
            "involvedObject": {
                "kind": obj.get("kind"),
                "apiVersion": obj.get("apiVersion"),
                "name": md["name"],
                "namespace": md.get("namespace", ""),
                "uid": md.get("uid"),
                "resourceVersion": md.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": "",
        }
        ev_rt = self.api.resolve("", "v1", "events")
        with contextlib.suppress(ApiError):
            created = self.api.create(ev_rt, ns, ev, owned=True)
            self._events.append((ns, created["metadata"]["name"]))
        # Events expire in a real cluster (1 h TTL); here the oldest go once there are too many.
        while len(self._events) > self.max_events:
            old_ns, old_name = self._events.popleft()
            with contextlib.suppress(ApiError):
                self.api.delete(ev_rt, old_ns, old_name)


def _pod_labels(dep: dict[str, Any] | None) -> dict[str, Any]:
    if dep is None:
        return {}
    return (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def _selector(svc: dict[str, Any] | None) -> dict[str, Any]:
    if svc is None:
        return {}
    return (svc.get("spec") or {}).get("selector") or {}


def _index(
    idx: dict[tuple[str, str, str], set[str]],
    key: Key,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
) -> None:
    ns, name = key
    if old == new:
        return
    for k, v in (old or {}).items():
        names = idx.get((ns, k, str(v)))
        if names is not None:
            names.discard(name)
            if not names:
                del idx[(ns, k, str(v))]
    for k, v in (new or {}).items():
        idx.setdefault((ns, k, str(v)), set()).add(name)


def _pod_is_ready(pod: dict[str, Any] | None) -> bool:
    conds = ((pod or {}).get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _ready(dep: dict[str, Any] | None) -> int:
    return int(((dep or {}).get("status") or {}).get("readyReplicas", 0) or 0)


def _target_port(p: dict[str, Any]) -> int:
    tp = p.get("targetPort", p.get("port"))
    return tp if isinstance(tp, int) else int(p.get("port", 0))
