"""Propagation: an app's Namespace, Deployment and Service written into one member, and removed from it.

What a member must offer is narrow (:class:`MemberTarget`: a client, the caches of what we own there, the
namespaces known to exist), so the controller's member views and a test's fakes both fit. The rules:

* the Namespace is created only when the app's objects are missing there (a known namespace costs no
  request); namespaces are never deleted: other workloads may live in them;
* a live object with our name but without our labels is never modified: it is a name clash, reported;
* a stale cache is no excuse for a duplicate: a create that conflicts re-reads the object and decides
  again from what is there;
* removal deletes only what we own, with a ``uid`` precondition (a namesake that replaced it stays).

It decides nothing about where replicas go (placement) or what the status says (the controller).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from federation.api.federatedapp import FederatedApp
from federation.api.membercluster import MemberCluster
from federation.clusters.kubeapi import (
    DEPLOYMENTS,
    NAMESPACES,
    SERVICES,
    KubeError,
    NotLeaderError,
    Resource,
)
from federation.clusters.render import (
    merge_for_update,
    needs_update,
    ownership,
    render_deployment,
    render_namespace,
    render_service,
)

Obj = dict[str, Any]


class MemberApi(Protocol):
    """The requests propagation makes to a member (``KubeApi`` provides them)."""

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj | None: ...

    async def create(self, res: Resource, body: Obj, namespace: str | None = None) -> Obj: ...

    async def replace(
        self, res: Resource, name: str, body: Obj, namespace: str | None = None, sub: str | None = None
    ) -> Obj: ...

    async def delete(
        self, res: Resource, name: str, namespace: str | None = None, *, uid: str | None = None
    ) -> bool: ...


class ObjectCache(Protocol):
    """A watch cache keyed by ``namespace/name`` that our own writes update at once."""

    def get(self, key: str) -> Obj | None: ...

    def remember(self, obj: Obj) -> None: ...

    def forget(self, key: str) -> None: ...


class MemberTarget(Protocol):
    """One member cluster as propagation sees it."""

    @property
    def name(self) -> str: ...

    @property
    def api(self) -> MemberApi: ...

    @property
    def deployments(self) -> ObjectCache: ...

    @property
    def services(self) -> ObjectCache: ...

    @property
    def namespaces(self) -> set[str]: ...


@dataclass
class RegionPropagation:
    """What writing an app into one member found."""

    unreachable: bool = False  # the member did not answer (connection error): probe it again
    problem: str = ""  # why the region is not as desired (stable text: it goes into conditions)
    clashes: list[str] = field(default_factory=list)  # objects with our name that are not ours
    ready_replicas: int | None = None
    rolled_out: bool = False  # the Deployment's controller observed and finished our last write


class Propagator:
    """Writes apps into members and removes them again (stateless apart from the Service type).

    The Service's type follows the app's ``spec.loadBalancer.mode``: ``CloudController`` renders a
    LoadBalancer Service with the cloud-controller-manager's annotations (``member_cluster`` gives the
    member's zones and vSwitches for them); ``Managed`` renders NodePort when the controller runs the
    regional SLB step (``slb_managed``: the SLB targets the NodePorts), else ``service_type``.
    """

    def __init__(
        self,
        service_type: str = "NodePort",
        *,
        slb_managed: bool = False,
        member_cluster: Callable[[str], MemberCluster | None] | None = None,
    ) -> None:
        self.service_type = service_type
        self.slb_managed = slb_managed
        self.member_cluster = member_cluster

    def render_service(self, app: FederatedApp, region: str, member: str) -> Obj:
        if app.spec.load_balancer.mode == "CloudController":
            from federation.slb.ccm import ccm_annotations

            mc = self.member_cluster(member) if self.member_cluster is not None else None
            return render_service(app, region, "LoadBalancer", ccm_annotations(app, mc))
        return render_service(app, region, "NodePort" if self.slb_managed else self.service_type)

    async def propagate(
        self, app: FederatedApp, region: str, replicas: int, target: MemberTarget
    ) -> RegionPropagation:
        """Namespace (if needed), Deployment with the region's override and ``replicas``, and Service."""
        out = RegionPropagation()
        dep_desired = render_deployment(app, region, replicas)
        svc_desired = self.render_service(app, region, target.name)
        key = f"{app.namespace}/{app.name}"
        try:
            if target.deployments.get(key) is None or target.services.get(key) is None:
                await self.ensure_namespace(target, app)
            dep, _ = await asyncio.gather(
                self.apply_object(target, target.deployments, DEPLOYMENTS, dep_desired, app, out),
                self.apply_object(target, target.services, SERVICES, svc_desired, app, out),
            )
        except NotLeaderError:
            raise
        except KubeError as exc:
            if exc.status == 0:
                out.unreachable = True
                out.problem = f"member {target.name} unreachable: {exc.reason}"
            else:
                out.problem = f"writing to member {target.name} failed: {exc.status} {exc.reason}"
            return out
        if dep is not None:
            st = dep.get("status") or {}
            meta = dep.get("metadata") or {}
            out.ready_replicas = int(st.get("readyReplicas") or 0)
            out.rolled_out = (
                int(st.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
                and int(st.get("updatedReplicas") or 0) >= replicas
                and out.ready_replicas >= replicas
            )
        return out

    async def apply_object(
        self,
        target: MemberTarget,
        cache: ObjectCache,
        res: Resource,
        desired: Obj,
        app: FederatedApp,
        out: RegionPropagation,
    ) -> Obj | None:
        """Create or update one object we own; None (and a clash in ``out``) if the name is taken."""
        api = target.api
        ns, name = app.namespace, app.name
        key = f"{ns}/{name}"
        actual = cache.get(key)
        state = ownership(actual, app)
        if state == "absent":
            try:
                created = await api.create(res, desired, ns)
            except KubeError as exc:
                if exc.not_found:  # the namespace went away since we last saw it
                    target.namespaces.discard(ns)
                if not exc.conflict:
                    raise
                actual = await api.get(res, name, ns)  # a stale cache, or someone else's object
                state = ownership(actual, app)
            else:
                cache.remember(created)
                return created
        if state == "foreign" or actual is None:
            kind = desired["kind"]
            msg = f"{kind} {key} in member {target.name} exists and is not managed by this app"
            out.clashes.append(msg)
            out.problem = msg
            return None
        if needs_update(desired, actual):
            updated = await api.replace(res, name, merge_for_update(desired, actual), ns)
            cache.remember(updated)
            return updated
        return actual

    async def ensure_namespace(self, target: MemberTarget, app: FederatedApp) -> None:
        """Create the app's namespace in the member if needed; known namespaces cost no request."""
        if app.namespace in target.namespaces:
            return
        api = target.api
        if await api.get(NAMESPACES, app.namespace) is None:
            try:
                await api.create(NAMESPACES, render_namespace(app))
            except KubeError as exc:
                if not exc.conflict:
                    raise
        target.namespaces.add(app.namespace)

    async def remove(self, app: FederatedApp, target: MemberTarget) -> list[str]:
        """Delete our Deployment and Service from the member; returns what could not be done."""
        pending: list[str] = []
        key = f"{app.namespace}/{app.name}"
        for cache, res in ((target.deployments, DEPLOYMENTS), (target.services, SERVICES)):
            obj = cache.get(key)
            if ownership(obj, app) != "ours" or obj is None:
                continue
            try:
                await target.api.delete(
                    res, app.name, app.namespace, uid=(obj.get("metadata") or {}).get("uid")
                )
                cache.forget(key)
            except NotLeaderError:
                raise
            except KubeError as exc:
                if exc.conflict:  # uid precondition: a namesake replaced it; not ours to delete
                    cache.forget(key)
                    continue
                pending.append(f"member {target.name}: {exc.reason}")
        return pending
