"""The FederatedApp reconciler: placement -> propagate -> optional steps (LB, DNS) -> status and Events.

One reconcile reads the app from the host cache, the members' health from the cluster reconciler and
the objects we own from the member caches, and writes only what differs:

* the finalizer, once;
* per chosen member: the Namespace (only when creating the app there), the Deployment with that
  region's override and replica count, and the Service; all labelled with the app's identity. A live
  object with our name but without our labels is never modified: it is a name clash, reported;
* in members the app no longer uses: our Deployment and Service are deleted (uid precondition);
* the status, when it changed; Events, when a decision changed.

On deletion every member that may hold our objects must be reachable and cleaned (and every step
cleaned up) before the finalizer goes; until then the reconcile fails (retried with backoff) and the
status says which member blocks it. Namespaces are left in place: other workloads may live there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from federation.api import constants as c
from federation.api.conditions import set_condition
from federation.api.federatedapp import FederatedApp, FederatedAppStatus, PlacementRegion
from federation.api.membercluster import MemberCluster
from federation.clusters.kubeapi import DEPLOYMENTS, NAMESPACES, SERVICES, KubeError, NotLeaderError, Resource
from federation.clusters.render import (
    merge_for_update,
    needs_update,
    ownership,
    render_deployment,
    render_namespace,
    render_service,
)
from federation.controller.appstatus import (
    AppReport,
    RegionObservation,
    build_status,
    previous_from_status,
)
from federation.controller.informer import Informer, Obj
from federation.controller.resources import FEDERATEDAPPS
from federation.controller.steps import StepContext
from federation.placement import (
    PlacementInput,
    PlacementResult,
    RegionAssignment,
    RegionInput,
    Schedulability,
    place,
)

if TYPE_CHECKING:
    from federation.controller.manager import Controller, MemberView

log = logging.getLogger(__name__)


WAITING_FOR_PROBE = "waiting for the first probe"


class RetryLater(Exception):
    """The reconcile did what it could; something remains (unreachable member, pending cleanup)."""


class AppReconciler:
    def __init__(self, ctrl: Controller) -> None:
        self.ctrl = ctrl

    # --- entry -----------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        ctrl = self.ctrl
        assert ctrl.apps_informer is not None
        raw = ctrl.apps_informer.get(key)
        if raw is None:
            return
        try:
            app = FederatedApp.model_validate(raw)
        except ValidationError as exc:
            await self._invalid(raw, exc)
            return
        if app.metadata.deletion_timestamp is not None:
            await self._delete(app, raw)
            return
        if c.FINALIZER not in (app.metadata.finalizers or []):
            raw = await self._set_finalizers(raw, [*(app.metadata.finalizers or []), c.FINALIZER])
            app = FederatedApp.model_validate(raw)
        await self._sync(app, raw)

    # --- the normal path -------------------------------------------------------------------------

    async def _sync(self, app: FederatedApp, raw: Obj) -> None:
        ctrl = self.ctrl
        clusters = self._clusters()
        resolved: dict[str, tuple[MemberCluster | None, Schedulability, str]] = {
            r.name: self._resolve(r, clusters) for r in app.spec.placement.regions
        }
        old_status = app.status
        generation = app.metadata.generation or 0
        inputs = []
        for r in app.spec.placement.regions:
            ov = app.spec.override_for(r.name)
            lo, hi = r.min_replicas, r.max_replicas
            if ov is not None and ov.replicas is not None:
                lo = hi = ov.replicas  # a fixed count for this region
            _, sched, reason = resolved[r.name]
            inputs.append(
                RegionInput(
                    r.name,
                    weight=r.weight,
                    min_replicas=lo,
                    max_replicas=hi,
                    schedulability=sched,
                    reason=reason,
                )
            )
        placement = place(
            PlacementInput(
                replicas=app.spec.replicas,
                strategy=app.spec.placement.strategy,
                regions=inputs,
                app_uid=app.metadata.uid or app.key,
                failover_order=app.spec.placement.failover_order or (),
                previous=previous_from_status(old_status),
                reschedule_on_failure=app.spec.placement.reschedule_on_failure,
                rebalance_on_recovery=app.spec.placement.rebalance_on_recovery,
                spec_changed=old_status is None or old_status.observed_generation != generation,
            )
        )

        report = AppReport(generation=generation, placement=placement, regions={})
        jobs = []
        for a in placement.regions:
            mc, sched, reason = resolved[a.name]
            obs = RegionObservation(
                a.name,
                cluster=mc.name if mc else None,
                health="Healthy" if sched is Schedulability.SCHEDULABLE else sched.value,
            )
            report.regions[a.name] = obs
            view = ctrl.member_for(mc.name) if mc else None
            if mc is None:
                continue
            if view is None or view.reachable is False or not view.synced:
                obs.reachable = False if view is None or view.reachable is False else None
                if a.state != "excluded":
                    obs.problem = reason or f"member {mc.name} is not reachable"
                continue
            obs.reachable = True
            jobs.append(self._propagate(app, a, mc, view, obs, report))
        await asyncio.gather(*jobs)

        chosen = {mc.name for mc, _, _ in resolved.values() if mc is not None}
        report.cleanup_pending.extend(await self._remove_from(app, exclude=chosen))

        ctx = StepContext(app=app, placement=placement, regions=report.regions, previous_status=old_status)
        retry = [o for o in report.regions.values() if o.problem and o.reachable is True]
        for step in ctrl.steps:
            try:
                await step.apply(ctx)
            except NotLeaderError:
                raise
            except Exception as exc:
                log.warning("app %s: step %s failed: %s", app.key, step.name, exc)
                ctx.conditions.append((f"{step.name}Failed", True, "StepFailed", str(exc)[:500]))
                retry.append(RegionObservation(step.name, problem=str(exc)))
        report.extra_conditions = ctx.conditions
        await self._write_status(app, raw, report, ctx)
        if any(WAITING_FOR_PROBE in reason for _, _, reason in resolved.values()):
            # a member this controller has not probed yet: look again shortly, not at the next resync
            ctrl.app_queue.add_after(app.key, max(0.5, ctrl.config.probe_interval / 2))
        if retry or report.cleanup_pending:
            raise RetryLater("; ".join(o.problem for o in retry) or "; ".join(report.cleanup_pending))

    def _clusters(self) -> list[MemberCluster]:
        assert self.ctrl.clusters_informer is not None
        out = []
        for obj in self.ctrl.clusters_informer.cache.values():
            try:
                out.append(MemberCluster.model_validate(obj))
            except ValidationError:
                continue
        return out

    def _resolve(
        self,
        region: PlacementRegion,
        clusters: list[MemberCluster],
    ) -> tuple[MemberCluster | None, Schedulability, str]:
        """The member cluster serving a region, and whether it can take replicas (with the reason)."""
        if region.cluster:
            mc = next((m for m in clusters if m.name == region.cluster), None)
            if mc is None:
                return None, Schedulability.UNAVAILABLE, f"MemberCluster {region.cluster} does not exist"
            if mc.spec.region != region.name:
                return (
                    None,
                    Schedulability.UNAVAILABLE,
                    (f"MemberCluster {mc.name} is in region {mc.spec.region}, not {region.name}"),
                )
        else:
            candidates = [m for m in clusters if m.spec.region == region.name]
            if not candidates:
                return None, Schedulability.UNAVAILABLE, f"no MemberCluster in region {region.name}"
            candidates.sort(key=lambda m: (self._health(m)[0] is not Schedulability.SCHEDULABLE, m.name))
            mc = candidates[0]
        sched, reason = self._health(mc)
        return mc, sched, reason

    def _health(self, mc: MemberCluster) -> tuple[Schedulability, str]:
        if mc.metadata.deletion_timestamp is not None:
            return Schedulability.UNHEALTHY, f"MemberCluster {mc.name} is being deleted"
        if mc.drained():
            return Schedulability.UNHEALTHY, (
                f"drained: {c.ANNOTATION_REGION_HEALTH}="
                f"{c.HEALTH_OVERRIDE_UNHEALTHY} on MemberCluster {mc.name}"
            )
        view = self.ctrl.member_for(mc.name)
        if view is None:
            health = self.ctrl.cluster_reconciler._health.get(mc.name)
            problem = health[3] if health else None
            if problem is None:
                return Schedulability.UNHEALTHY, f"{WAITING_FOR_PROBE} of member {mc.name}"
            return Schedulability.UNHEALTHY, f"member {mc.name}: {problem}"
        if view.reachable is False:
            return Schedulability.UNHEALTHY, f"member {mc.name} unreachable: {view.message}"
        if view.ready is False:
            return Schedulability.UNHEALTHY, f"member {mc.name} not ready: {view.message}"
        if view.reachable is None and not view.synced:
            return Schedulability.UNHEALTHY, f"{WAITING_FOR_PROBE} of member {mc.name}"
        return Schedulability.SCHEDULABLE, ""

    # --- propagation -----------------------------------------------------------------------------

    async def _propagate(
        self,
        app: FederatedApp,
        a: RegionAssignment,
        mc: MemberCluster,
        view: MemberView,
        obs: RegionObservation,
        report: AppReport,
    ) -> None:
        dep_desired = render_deployment(app, a.name, a.replicas)
        svc_desired = render_service(app, a.name, self.ctrl.config.service_type)
        key = f"{app.namespace}/{app.name}"
        try:
            if view.deployments.get(key) is None or view.services.get(key) is None:
                await self._ensure_namespace(view, app)
            dep, _ = await asyncio.gather(
                self._apply(view, view.deployments, DEPLOYMENTS, dep_desired, app, obs, report),
                self._apply(view, view.services, SERVICES, svc_desired, app, obs, report),
            )
        except NotLeaderError:
            raise
        except KubeError as exc:
            if exc.status == 0:
                obs.reachable = False
                obs.problem = f"member {mc.name} unreachable: {exc.reason}"
                self.ctrl.cluster_queue.add(mc.name)
            else:
                obs.problem = f"writing to member {mc.name} failed: {exc.status} {exc.reason}"
            return
        if dep is not None:
            st = dep.get("status") or {}
            meta = dep.get("metadata") or {}
            obs.ready_replicas = int(st.get("readyReplicas") or 0)
            obs.rolled_out = (
                int(st.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
                and int(st.get("updatedReplicas") or 0) >= a.replicas
                and obs.ready_replicas >= a.replicas
            )

    async def _apply(
        self,
        view: MemberView,
        inf: Informer,
        res: Resource,
        desired: Obj,
        app: FederatedApp,
        obs: RegionObservation,
        report: AppReport,
    ) -> Obj | None:
        api = view.member.api
        ns, name = app.namespace, app.name
        key = f"{ns}/{name}"
        actual = inf.get(key)
        state = ownership(actual, app)
        if state == "absent":
            try:
                created = await api.create(res, desired, ns)
            except KubeError as exc:
                if exc.not_found:  # the namespace went away since we last saw it
                    view.namespaces.discard(ns)
                if not exc.conflict:
                    raise
                actual = await api.get(res, name, ns)  # a stale cache, or someone else's object
                state = ownership(actual, app)
            else:
                inf.remember(created)
                return created
        if state == "foreign" or actual is None:
            kind = desired["kind"]
            msg = f"{kind} {key} in member {view.member.name} exists and is not managed by this app"
            report.clashes.append(msg)
            obs.problem = msg
            return None
        if needs_update(desired, actual):
            updated = await api.replace(res, name, merge_for_update(desired, actual), ns)
            inf.remember(updated)
            return updated
        return actual

    async def _ensure_namespace(self, view: MemberView, app: FederatedApp) -> None:
        """Create the app's namespace in the member if needed; known namespaces cost no request."""
        if app.namespace in view.namespaces:
            return
        api = view.member.api
        if await api.get(NAMESPACES, app.namespace) is None:
            try:
                await api.create(NAMESPACES, render_namespace(app))
            except KubeError as exc:
                if not exc.conflict:
                    raise
        view.namespaces.add(app.namespace)

    async def _remove_from(self, app: FederatedApp, exclude: set[str]) -> list[str]:
        """Delete our objects from every member not in ``exclude``; returns what could not be done."""
        pending: list[str] = []
        key = f"{app.namespace}/{app.name}"
        for name, view in list(self.ctrl.members.items()):
            if name in exclude:
                continue
            for inf, res in ((view.deployments, DEPLOYMENTS), (view.services, SERVICES)):
                obj = inf.get(key)
                if ownership(obj, app) != "ours" or obj is None:
                    continue
                try:
                    await view.member.api.delete(
                        res, app.name, app.namespace, uid=(obj.get("metadata") or {}).get("uid")
                    )
                    inf.forget(key)
                except NotLeaderError:
                    raise
                except KubeError as exc:
                    if exc.conflict:  # uid precondition: a namesake replaced it; not ours to delete
                        inf.forget(key)
                        continue
                    pending.append(f"member {name}: {exc.reason}")
        return pending

    # --- deletion --------------------------------------------------------------------------------

    async def _delete(self, app: FederatedApp, raw: Obj) -> None:
        if c.FINALIZER not in (app.metadata.finalizers or []):
            return
        ctrl = self.ctrl
        observations: dict[str, RegionObservation] = {}
        blocked: list[str] = []
        for mc in self._clusters():
            view = ctrl.member_for(mc.name)
            obs = RegionObservation(mc.spec.region, cluster=mc.name, health="Unknown")
            if view is None or view.reachable is False or not view.synced:
                obs.reachable = False
                obs.problem = (
                    f"member {mc.name} unreachable: the app's objects there cannot be removed yet; retrying"
                )
                observations[mc.spec.region] = obs
                blocked.append(obs.problem)
        unreachable = {o.cluster for o in observations.values() if o.cluster}
        blocked.extend(await self._remove_from(app, exclude=unreachable))
        placement = PlacementResult(tuple(RegionAssignment(r, 0, "active") for r in observations))
        ctx = StepContext(app=app, placement=placement, regions=observations, previous_status=app.status)
        for step in ctrl.steps:
            try:
                await step.cleanup(ctx)
            except NotLeaderError:
                raise
            except Exception as exc:
                blocked.append(f"{step.name}: {exc}")
        if blocked:
            report = AppReport(
                generation=app.metadata.generation or 0,
                placement=placement,
                regions=observations,
                deleting=True,
            )
            await self._write_status(app, raw, report, ctx, events=False)
            raise RetryLater("; ".join(blocked))
        await self._set_finalizers(raw, [f for f in app.metadata.finalizers or [] if f != c.FINALIZER])
        log.info("app %s: removed from every member; finalizer released", app.key)

    async def _set_finalizers(self, raw: Obj, finalizers: list[str]) -> Obj:
        meta = raw.get("metadata") or {}
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}}
        updated = await self.ctrl.host.merge_patch(
            FEDERATEDAPPS, str(meta.get("name")), body, str(meta.get("namespace"))
        )
        if self.ctrl.apps_informer is not None:
            self.ctrl.apps_informer.remember(updated)
        return updated

    # --- status and events -----------------------------------------------------------------------

    async def _write_status(
        self, app: FederatedApp, raw: Obj, report: AppReport, ctx: StepContext, events: bool = True
    ) -> None:
        ctrl = self.ctrl
        new = build_status(app.status, report, ctrl.now(), extra=ctx.status_fields or None)
        if ctx.region_fields:
            regions = []
            for rs in new.regions:
                fields = ctx.region_fields.get(rs.region)
                regions.append(rs.model_copy(update=fields) if fields else rs)
            new = new.model_copy(update={"regions": regions})
        new_dict = new.model_dump(mode="json", by_alias=True, exclude_none=True)
        old_dict = _normalised_status(raw.get("status"))
        if events:
            await self._events(raw, app.status, new, report)
        if new_dict == old_dict:
            return
        body: dict[str, Any] = {"status": {**{k: None for k in old_dict if k not in new_dict}, **new_dict}}
        try:
            updated = await ctrl.host.merge_patch(FEDERATEDAPPS, app.name, body, app.namespace, sub="status")
        except KubeError as exc:
            if exc.not_found:
                return
            raise
        if ctrl.apps_informer is not None:
            ctrl.apps_informer.remember(updated)

    async def _events(
        self, raw: Obj, old: FederatedAppStatus | None, new: FederatedAppStatus, report: AppReport
    ) -> None:
        rec = self.ctrl.events
        before = {r.region: r for r in (old.regions if old else [])}
        moved = []
        for r in new.regions:
            prev = before.get(r.region)
            if r.excluded_reason and (prev is None or prev.excluded_reason != r.excluded_reason):
                await rec.record(raw, "Warning", "RegionExcluded", f"{r.region}: {r.excluded_reason}")
            if prev is not None and prev.excluded_reason and not r.excluded_reason:
                await rec.record(raw, "Normal", "RegionRecovered", f"{r.region} takes replicas again")
            if r.reachable is False and (prev is None or prev.reachable is not False):
                await rec.record(
                    raw,
                    "Warning",
                    "MemberUnreachable",
                    f"{r.region}: member {r.cluster or '?'} cannot be reached",
                )
            if prev is not None and prev.desired_replicas != r.desired_replicas:
                moved.append(f"{r.region} {prev.desired_replicas}->{r.desired_replicas}")
            elif prev is None and r.desired_replicas:
                moved.append(f"{r.region} {r.desired_replicas}")
        if moved:
            await rec.record(raw, "Normal", "ReplicasPlaced", "replicas per region: " + ", ".join(moved))
        old_clash = {cd.message for cd in (old.conditions if old else []) if cd.reason == "NameClash"}
        for clash in report.clashes:
            if not any(clash in m for m in old_clash):
                await rec.record(raw, "Warning", "NameClash", clash)
        for problem in report.placement.problems:
            if old is None or not any(problem in cd.message for cd in old.conditions):
                await rec.record(raw, "Warning", "PlacementInfeasible", problem)

    async def _invalid(self, raw: Obj, exc: ValidationError) -> None:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = f"{where}: {err.get('msg')}" if where else str(err.get("msg"))
        meta = raw.get("metadata") or {}
        try:
            old = FederatedAppStatus.model_validate(raw.get("status") or {})
        except ValidationError:
            old = FederatedAppStatus()
        conds = set_condition(
            old.conditions,
            c.COND_READY,
            False,
            "InvalidSpec",
            message,
            meta.get("generation"),
            self.ctrl.now(),
        )
        new = old.model_copy(update={"conditions": conds, "observed_generation": meta.get("generation")})
        new_dict = new.model_dump(mode="json", by_alias=True, exclude_none=True)
        if new_dict != _normalised_status(raw.get("status")):
            await self.ctrl.host.merge_patch(
                FEDERATEDAPPS,
                str(meta.get("name")),
                {"status": new_dict},
                str(meta.get("namespace")),
                sub="status",
            )
            await self.ctrl.events.record(raw, "Warning", "InvalidSpec", message)


def _normalised_status(status: Any) -> dict[str, Any]:
    if not status:
        return {}
    try:
        parsed = FederatedAppStatus.model_validate(status)
        return parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    except ValidationError:
        return dict(status)
