"""The MemberCluster reconciler: a client per member, a probe of its API, and its status.

For each MemberCluster: read the referenced Secret, build (or keep, or replace) the member's client,
probe it (``GET /version`` for reachability, version and latency; ``list nodes`` for the node count and
readiness) and write ``status`` with the ``Reachable`` and ``Ready`` conditions. A change of health
(including the ``federation.io/health-override: Unhealthy`` drain annotation) enqueues every app, so
placement reacts at once rather than at the next resync.

The status is rewritten only when something a reader cares about changed (conditions, version, node
count, a large move in latency) or when it is older than ``status_refresh``: the probe runs every few
seconds, the writes stay rare.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from federation.api import constants as c
from federation.api.conditions import set_condition
from federation.api.membercluster import MemberCluster, MemberClusterStatus
from federation.clusters.kubeapi import NODES, KubeError, NotLeaderError
from federation.clusters.registry import KubeconfigError, kubeconfig_from_secret
from federation.clusters.resources import MEMBERCLUSTERS
from federation.controller.collaborators import ClusterCollaborators
from federation.controller.members import MemberProbe, MemberView
from federation.network.reachability import NOT_CONFIGURED

log = logging.getLogger(__name__)


def _node_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


@dataclass
class ProbeOutcome:
    """What one probe of a member's API found."""

    view: MemberView | None = None
    problem: str | None = None  # None: reachable
    latency_ms: float | None = None
    version: str | None = None
    nodes: int = 0
    ready_nodes: int = 0


class ClusterReconciler:
    def __init__(self, deps: ClusterCollaborators) -> None:
        self.deps = deps
        self._last_write: dict[str, float] = {}
        self._latency: dict[str, float] = {}  # smoothed (EWMA) API latency per member

    def probed(self) -> set[str]:
        """The MemberClusters probed at least once since this controller started leading."""
        return self.deps.members.probed()

    async def reconcile(self, name: str) -> None:
        deps = self.deps
        raw = deps.clusters.get(name)
        if raw is None:
            await deps.registry.remove(name)
            self._last_write.pop(name, None)
            self._latency.pop(name, None)
            if deps.members.forget_probe(name):
                deps.health_changed()
            return
        try:
            mc = MemberCluster.model_validate(raw)
        except ValidationError as exc:
            log.warning("membercluster %s: invalid: %s", name, exc.errors()[0].get("msg"))
            return
        try:
            got = await self._probe(mc)
        finally:
            deps.requeue_after(name, deps.settings.probe_interval)
        problem, latency_ms = got.problem, got.latency_ms
        # placement acts on what the sweeps' hysteresis confirmed, not on one failed probe of ours
        # (the MemberCluster status below still reports what this probe saw)
        noise = problem is not None and got.view is not None and deps.sweeps_hold_healthy(name)
        if got.view is not None and not noise:
            got.view.reachable = problem is None
            got.view.ready = problem is None and got.ready_nodes > 0
            got.view.message = problem or ("" if got.ready_nodes else "no node is Ready")
        reachable = problem is None
        ready = reachable and got.ready_nodes > 0
        probe = (
            deps.members.probes.get(name) or MemberProbe(True, True, mc.drained(), None)
            if noise
            else MemberProbe(reachable, ready, mc.drained(), problem)
        )
        first = name not in deps.members.probes
        if deps.members.record_probe(name, probe):
            if not first:
                log.info(
                    "member %s: reachable=%s ready=%s drained=%s%s",
                    name,
                    reachable,
                    ready,
                    mc.drained(),
                    f" ({problem})" if problem else "",
                )
            deps.health_changed()
        if latency_ms is not None:
            # one slow answer on a busy machine is noise: smooth before reporting
            prev = self._latency.get(name)
            latency_ms = round(latency_ms if prev is None else 0.7 * prev + 0.3 * latency_ms, 1)
            self._latency[name] = latency_ms
        await self._write_status(
            mc, raw, reachable, ready, problem, latency_ms, got.version, got.nodes, got.ready_nodes
        )

    async def _probe(self, mc: MemberCluster) -> ProbeOutcome:
        deps = self.deps
        ref = mc.spec.kubeconfig_secret_ref
        try:
            secret = await deps.secrets.secret(ref.namespace, ref.name)
            config = kubeconfig_from_secret(secret, namespace=ref.namespace, name=ref.name, key=ref.key)
        except KubeconfigError as exc:
            await deps.registry.remove(mc.name)
            return ProbeOutcome(problem=f"kubeconfig: {exc}")
        except KubeError as exc:
            problem = f"cannot read the kubeconfig secret: {exc.reason}"
            return ProbeOutcome(deps.members.view(mc.name), problem)
        try:
            member = await deps.registry.ensure(mc.name, mc.spec.region, config)
        except Exception as exc:  # a kubeconfig the client library rejects
            return ProbeOutcome(problem=f"kubeconfig: unusable ({type(exc).__name__})")
        view = deps.members.view(member.name)
        timeout = deps.settings.member_timeout
        try:
            started = time.monotonic()
            async with asyncio.timeout(timeout):
                version = await member.probe_api.version()
            latency_ms = round((time.monotonic() - started) * 1000, 1)
            async with asyncio.timeout(timeout):
                nodes, _ = await member.probe_api.list(NODES)
        except (KubeError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, KubeError) else "Timeout"
            status = f" (HTTP {exc.status})" if isinstance(exc, KubeError) and exc.status else ""
            return ProbeOutcome(view, f"member API unreachable: {reason}{status}")
        return ProbeOutcome(
            view,
            latency_ms=latency_ms,
            version=str(version.get("gitVersion") or ""),
            nodes=len(nodes),
            ready_nodes=sum(1 for n in nodes if _node_ready(n)),
        )

    async def _write_status(
        self,
        mc: MemberCluster,
        raw: dict[str, Any],
        reachable: bool,
        ready: bool,
        problem: str | None,
        latency_ms: float | None,
        version: str | None,
        nodes: int,
        ready_nodes: int,
    ) -> None:
        deps = self.deps
        now = deps.clock()
        old = mc.status or MemberClusterStatus()
        gen = mc.metadata.generation
        conds = set_condition(
            old.conditions,
            c.COND_REACHABLE,
            reachable,
            "APIReachable" if reachable else "APIUnreachable",
            problem or "",
            gen,
            now,
        )
        if not reachable:
            ready_reason, ready_msg = "Unreachable", problem or ""
        elif mc.drained():
            ready_reason, ready_msg = "Drained", f"{c.ANNOTATION_REGION_HEALTH}={c.HEALTH_OVERRIDE_UNHEALTHY}"
        elif ready_nodes:
            ready_reason, ready_msg = "NodesReady", f"{ready_nodes}/{nodes} nodes Ready"
        else:
            ready_reason, ready_msg = "NoReadyNodes", f"0/{nodes} nodes Ready"
        conds = set_condition(
            conds, c.COND_READY, ready and not mc.drained(), ready_reason, ready_msg, gen, now
        )
        net = deps.network(mc.name)
        if net is None or net.reason == NOT_CONFIGURED:  # not checked: say nothing rather than guess
            conds = [x for x in conds if x.type != c.COND_NETWORK_READY]
        else:
            conds = set_condition(
                conds, c.COND_NETWORK_READY, bool(net.ready), net.reason, net.message, gen, now
            )
        new = MemberClusterStatus(
            conditions=conds,
            kubernetes_version=version if reachable else old.kubernetes_version,
            node_count=nodes if reachable else old.node_count,
            api_latency_ms=latency_ms if reachable else old.api_latency_ms,
            last_probe_time=now.replace(microsecond=0),
        )
        important_same = (
            [(x.type, x.status, x.reason, x.message) for x in new.conditions]
            == [(x.type, x.status, x.reason, x.message) for x in old.conditions]
            and new.kubernetes_version == old.kubernetes_version
            and new.node_count == old.node_count
            and not _latency_moved(old.api_latency_ms, new.api_latency_ms)
        )
        fresh = time.monotonic() - self._last_write.get(mc.name, -1e9) < deps.settings.status_refresh
        if important_same and fresh and old.last_probe_time is not None:
            return
        body = {"status": new.model_dump(mode="json", by_alias=True, exclude_none=True)}
        try:
            await deps.host.merge_patch(MEMBERCLUSTERS, mc.name, body, sub="status")
            self._last_write[mc.name] = time.monotonic()
        except NotLeaderError:
            return  # sharded replicas probe their own clients; the leader reports the status
        except KubeError as exc:
            if not exc.not_found:
                raise


def _latency_moved(old: float | None, new: float | None) -> bool:
    """A move worth a status write on its own: the smoothed latency doubled or halved, by 100 ms or more
    (smaller moves reach the status with the periodic refresh)."""
    if old is None or new is None:
        return old != new
    return abs(new - old) > max(100.0, old)
