"""The FederatedApp reconciler: placement -> propagate -> optional steps (LB, DNS) -> status and Events.

One reconcile reads the app from the host cache, each member cluster's health from a
:class:`~federation.health.source.RegionHealthSource` and the objects we own from the member caches,
and writes only what differs:

* the finalizer, once;
* per chosen member: propagation (:mod:`federation.clusters.propagate`) of the Namespace, the
  Deployment with that region's override and replica count, and the Service;
* in members the app no longer uses: our Deployment and Service are removed;
* the status, when it changed; Events, when a decision changed.

On deletion every member that may hold our objects must be reachable and cleaned (and every step
cleaned up) before the finalizer goes; until then the reconcile fails (retried with backoff) and the
status says which member blocks it. Namespaces are left in place: other workloads may live there.

Everything it touches comes in as :class:`~federation.controller.collaborators.AppCollaborators`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from federation.api import constants as c
from federation.api.conditions import set_condition
from federation.api.federatedapp import FederatedApp, FederatedAppStatus, PlacementRegion, RegionStatus
from federation.api.membercluster import MemberCluster
from federation.clusters.kubeapi import KubeError, NotLeaderError
from federation.clusters.resources import FEDERATEDAPPS
from federation.controller.appstatus import (
    AppReport,
    RegionObservation,
    build_status,
    previous_from_status,
)
from federation.controller.collaborators import AppCollaborators, MemberHandle
from federation.controller.informer import Obj
from federation.controller.steps import StepContext, StepFailed
from federation.drain import RegionState, next_look, transition
from federation.health.source import MemberHealth
from federation.placement import (
    PlacementInput,
    PlacementResult,
    RegionAssignment,
    RegionInput,
    Schedulability,
    place,
)

log = logging.getLogger(__name__)


REMOVED_REASON = "removed from spec.placement.regions"


class RetryLater(Exception):
    """The reconcile did what it could; something remains (unreachable member, pending cleanup).
    ``retry_after``: no retry can succeed sooner (the work queue waits at least that long)."""

    def __init__(self, message: str, retry_after: float = 0.0, *, deferred: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.deferred = deferred  # only steps that did not try (paused) remain: no backoff growth


Resolved = tuple[MemberCluster | None, MemberHealth]


class AppReconciler:
    def __init__(self, deps: AppCollaborators) -> None:
        self.deps = deps

    # --- entry -----------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        raw = self.deps.apps.get(key)
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
        deps = self.deps
        clusters = deps.clusters.member_clusters()
        resolved: dict[str, Resolved] = {
            r.name: self._with_app_health(app.key, r.name, self._resolve(r, clusters))
            for r in app.spec.placement.regions
        }
        old_status = app.status
        generation = app.metadata.generation or 0
        inputs = []
        for r in app.spec.placement.regions:
            ov = app.spec.override_for(r.name)
            lo, hi = r.min_replicas, r.max_replicas
            if ov is not None and ov.replicas is not None:
                lo = hi = ov.replicas  # a fixed count for this region
            health = resolved[r.name][1]
            inputs.append(
                RegionInput(
                    r.name,
                    weight=r.weight,
                    min_replicas=lo,
                    max_replicas=hi,
                    schedulability=health.schedulability,
                    reason=health.reason,
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

        # A region removed from the spec leaves like a drained one: its traffic first, then its replicas.
        listed = {r.name for r in app.spec.placement.regions}
        removed = [
            gone
            for gone in (old_status.regions if old_status else [])
            if gone.region not in listed
            and (gone.desired_replicas or gone.serving_dns)
            and gone.phase != "Drained"
        ]
        for gone in removed:
            pinned = PlacementRegion(name=gone.region, cluster=gone.cluster)
            resolved[gone.region] = self._resolve(pinned, clusters)
        if removed:
            placement = PlacementResult(
                (
                    *placement.regions,
                    *(RegionAssignment(gone.region, 0, "excluded", REMOVED_REASON) for gone in removed),
                ),
                placement.problems,
            )
        report = AppReport(generation=generation, placement=placement, regions={})
        views: dict[str, MemberHandle] = {}
        canaries: set[str] = set()  # excluded regions running one replica while their rollout fails
        for a in placement.regions:
            mc, health = resolved[a.name]
            obs = RegionObservation(
                a.name,
                cluster=mc.name if mc else None,
                health="Healthy" if health.schedulable else health.schedulability.value,
                health_reason="" if health.schedulable else health.reason,
            )
            report.regions[a.name] = obs
            view = deps.members.view(mc.name) if mc else None
            if mc is None:
                continue
            if view is None or view.reachable is False or not view.synced:
                obs.reachable = False if view is None or view.reachable is False else None
                if a.state != "excluded":
                    obs.problem = health.reason or f"member {mc.name} is not reachable"
                continue
            obs.reachable = True
            views[a.name] = view
            if health.canary and a.state == "excluded" and a.replicas == 0:
                canaries.add(a.name)

        # Make before break (federation.drain): the regions that keep or gain replicas get them first;
        # knowing how ready those are, the order decides what the others keep and what DNS answers.
        before = {r.region: r for r in (old_status.regions if old_status else [])}
        applied = {
            n: before[n].desired_replicas or 0 for n in before if before[n].desired_replicas is not None
        }
        making = [a for a in placement.regions if a.name in views and a.replicas >= applied.get(a.name, 0)]
        await asyncio.gather(
            *(
                self._propagate(
                    app,
                    a,
                    a.replicas,
                    views[a.name],
                    report.regions[a.name],
                    report,
                    canary=a.name in canaries,
                )
                for a in making
            )
        )
        now = deps.clock()
        moves = transition(
            [
                self._region_state(a, resolved, report.regions[a.name], before.get(a.name))
                for a in placement.regions
            ],
            now=now,
            grace=timedelta(seconds=deps.drain_grace if deps.drain_grace is not None else app.spec.dns.ttl),
            dns=deps.manages_dns,
        )
        made = {a.name for a in making}
        breaking = [a for a in placement.regions if a.name in views and a.name not in made]
        await asyncio.gather(
            *(
                self._propagate(
                    app,
                    a,
                    moves[a.name].replicas,
                    views[a.name],
                    report.regions[a.name],
                    report,
                    canary=a.name in canaries,
                )
                for a in breaking
            )
        )
        report.placement = effective = PlacementResult(
            tuple(replace(a, replicas=moves[a.name].replicas) for a in placement.regions), placement.problems
        )
        wait = next_look(moves, now)
        if wait is not None:
            deps.requeue_after(app.key, max(wait.total_seconds(), 0.1))

        ctx = StepContext(
            app=app,
            placement=effective,
            regions=report.regions,
            previous_status=old_status,
            moves=moves,
            clock=deps.clock,
        )
        for name, m in moves.items():
            ctx.region_fields[name] = {
                "phase": m.phase,
                "phase_reason": m.reason or None,
                "draining_until": m.until,
            }
        retry = [o.problem for o in report.regions.values() if o.problem and o.reachable is True]
        retry_after = 0.0
        deferred = not retry  # stays True while every failure so far is a step that did not try
        steps_failed = False
        previous_types = {cd.type for cd in (old_status.conditions if old_status else [])}
        for step in deps.steps:
            failed = f"{step.name}Failed"
            try:
                await step.apply(ctx)
            except NotLeaderError:
                raise
            except StepFailed as exc:
                log.warning("app %s: step %s failed: %s", app.key, step.name, exc.message)
                if not exc.reported:
                    ctx.conditions.append((failed, True, exc.reason, exc.message))
                retry.append(f"{step.name}: {exc.message}")
                retry_after = max(retry_after, exc.retry_after)
                deferred = deferred and exc.deferred
                steps_failed = True
            except Exception as exc:
                # the exception's text may carry per-call detail (request ids): the log gets it, the
                # condition gets what stays the same from one attempt to the next
                log.warning("app %s: step %s failed: %s", app.key, step.name, exc, exc_info=True)
                message = f"the {step.name} step failed ({type(exc).__name__}); see the controller log"
                ctx.conditions.append((failed, True, "StepFailed", message))
                retry.append(f"{step.name}: {type(exc).__name__}")
                deferred = False
                steps_failed = True
            else:
                if failed in previous_types:
                    ctx.conditions.append((failed, False, "Succeeded", ""))
        # after the steps: a region the app left loses its SLB (and its DNS answer) before the Service
        # that SLB points at; when a step failed, the Services wait for its retry
        chosen = {mc.name for mc, _ in resolved.values() if mc is not None}
        if not steps_failed:
            report.cleanup_pending.extend(await self._remove_from(app, exclude=chosen))
        report.extra_conditions = ctx.conditions
        await self._write_status(app, raw, report, ctx)
        before_dns = {r.region: r.dns_removed_at for r in (old_status.regions if old_status else [])}
        if any(
            f.get("dns_removed_at") is not None and f.get("dns_removed_at") != before_dns.get(region)
            for region, f in ctx.region_fields.items()
        ):
            # DNS just stopped answering a region: the drain's grace period starts now, and our own
            # status write does not enqueue the app, so ask for the look that schedules its end
            deps.requeue_after(app.key, 0.1)
        if any(h.pending for _, h in resolved.values()):
            # a member this controller has not probed yet: look again shortly, not at the next resync
            deps.requeue_after(app.key, deps.pending_recheck)
        if not retry and any(
            m.phase == "Joining" or (m.phase == "Draining" and m.until is None) for m in moves.values()
        ):
            # waiting for replicas to become ready (a joining region, or the others before one leaves):
            # the member's Deployment event normally brings the next look, but a member client replaced
            # meanwhile (a new kubeconfig) may not have watched it yet; one look a second until it settles
            # (not while failing: then the backoff decides when to look again)
            deps.requeue_after(app.key, 1.0)
        if retry or report.cleanup_pending:
            raise RetryLater(
                "; ".join(retry) or "; ".join(report.cleanup_pending),
                retry_after,
                deferred=deferred and not report.cleanup_pending,
            )

    def _with_app_health(self, app: str, region: str, resolved: Resolved) -> Resolved:
        """A schedulable member may still fail this app there (its rollout, SLB, or VIP probe)."""
        mc, member = resolved
        judge = getattr(self.deps.health, "app_health", None)
        if mc is None or not member.schedulable or judge is None:
            return resolved
        answer: MemberHealth = judge(app, region, mc)
        return mc, answer

    def _resolve(self, region: PlacementRegion, clusters: list[MemberCluster]) -> Resolved:
        """The member cluster serving a region, and whether it can take replicas (with the reason)."""
        unavailable = Schedulability.UNAVAILABLE
        health = self.deps.health
        if region.cluster:
            mc = next((m for m in clusters if m.name == region.cluster), None)
            if mc is None:
                return None, MemberHealth(unavailable, f"MemberCluster {region.cluster} does not exist")
            if mc.spec.region != region.name:
                return None, MemberHealth(
                    unavailable, f"MemberCluster {mc.name} is in region {mc.spec.region}, not {region.name}"
                )
            return mc, health.member_health(mc)
        candidates = [(m, health.member_health(m)) for m in clusters if m.spec.region == region.name]
        if not candidates:
            return None, MemberHealth(unavailable, f"no MemberCluster in region {region.name}")
        candidates.sort(key=lambda mh: (not mh[1].schedulable, mh[0].name))
        return candidates[0]

    # --- propagation -----------------------------------------------------------------------------

    @staticmethod
    def _region_state(
        a: RegionAssignment, resolved: dict[str, Resolved], obs: RegionObservation, prev: RegionStatus | None
    ) -> RegionState:
        """A region as the make-before-break order sees it, from this reconcile and the last status."""
        reachable = resolved[a.name][0] is not None and obs.reachable is not False
        ready = obs.ready_replicas if obs.ready_replicas is not None else (prev.ready_replicas if prev else 0)
        return RegionState(
            a.name,
            target=a.replicas,
            # rescheduleOnFailure=false keeps an unhealthy region's replicas, not its DNS answer
            wanted=a.state == "active"
            and a.replicas > 0
            and not obs.problem
            and reachable
            and obs.health != "Unhealthy",
            applied=(prev.desired_replicas or 0) if prev is not None else 0,
            ready=ready or 0,
            reachable=reachable,
            in_dns=bool(prev is not None and prev.serving_dns),
            dns_out_at=prev.dns_removed_at if prev is not None else None,
        )

    async def _propagate(
        self,
        app: FederatedApp,
        a: RegionAssignment,
        replicas: int,
        view: MemberHandle,
        obs: RegionObservation,
        report: AppReport,
        canary: bool = False,
    ) -> None:
        got = await self.deps.propagation.propagate(app, a.name, 1 if canary else replicas, view)
        report.clashes.extend(got.clashes)
        obs.problem = got.problem
        obs.ready_replicas = got.ready_replicas
        obs.rolled_out = got.rolled_out
        if got.unreachable:
            obs.reachable = False
            self.deps.probe_member(view.name)

    async def _remove_from(self, app: FederatedApp, exclude: set[str]) -> list[str]:
        """Delete our objects from every member not in ``exclude``; returns what could not be done."""
        pending: list[str] = []
        for view in self.deps.members.all_views():
            if view.name not in exclude:
                pending.extend(await self.deps.propagation.remove(app, view))
        return pending

    # --- deletion --------------------------------------------------------------------------------

    async def _delete(self, app: FederatedApp, raw: Obj) -> None:
        if c.FINALIZER not in (app.metadata.finalizers or []):
            return
        deps = self.deps
        observations: dict[str, RegionObservation] = {}
        blocked: list[str] = []
        for mc in deps.clusters.member_clusters():
            view = deps.members.view(mc.name)
            obs = RegionObservation(mc.spec.region, cluster=mc.name, health="Unknown")
            if view is None or view.reachable is False or not view.synced:
                obs.reachable = False
                obs.problem = (
                    f"member {mc.name} unreachable: the app's objects there cannot be removed yet; retrying"
                )
                observations[mc.spec.region] = obs
                blocked.append(obs.problem)
        unreachable = {o.cluster for o in observations.values() if o.cluster}
        placement = PlacementResult(tuple(RegionAssignment(r, 0, "active") for r in observations))
        ctx = StepContext(app=app, placement=placement, regions=observations, previous_status=app.status)
        # the steps first (the regional SLBs, the DNS records): nothing may point at a Service we delete
        steps_blocked = []
        for step in deps.steps:
            try:
                await step.cleanup(ctx)
            except NotLeaderError:
                raise
            except Exception as exc:
                steps_blocked.append(f"{step.name}: {exc}")
                # shown as Degraded/CleanupBlocked with the step's reason (no region row of its own)
                observations[step.name] = RegionObservation(step.name, problem=f"cleanup blocked: {exc}")
        blocked.extend(steps_blocked)
        if not steps_blocked:
            blocked.extend(await self._remove_from(app, exclude=unreachable))
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
        updated = await self.deps.host.merge_patch(
            FEDERATEDAPPS, str(meta.get("name")), body, str(meta.get("namespace"))
        )
        self.deps.apps.remember(updated)
        return updated

    # --- status and events -----------------------------------------------------------------------

    async def _write_status(
        self, app: FederatedApp, raw: Obj, report: AppReport, ctx: StepContext, events: bool = True
    ) -> None:
        deps = self.deps
        new = build_status(app.status, report, deps.clock(), extra=ctx.status_fields or None)
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
            updated = await deps.host.merge_patch(FEDERATEDAPPS, app.name, body, app.namespace, sub="status")
        except KubeError as exc:
            if exc.not_found:
                return
            raise
        deps.apps.remember(updated)

    async def _events(
        self, raw: Obj, old: FederatedAppStatus | None, new: FederatedAppStatus, report: AppReport
    ) -> None:
        rec = self.deps.events
        before = {r.region: r for r in (old.regions if old else [])}
        moved = []
        for r in new.regions:
            prev = before.get(r.region)
            if r.excluded_reason and (prev is None or prev.excluded_reason != r.excluded_reason):
                await rec.record(raw, "Warning", "RegionExcluded", f"{r.region}: {r.excluded_reason}")
            if (
                r.health_reason
                and r.health_reason != r.excluded_reason
                and (prev is None or prev.health_reason != r.health_reason)
            ):
                # not Healthy without being excluded for it (rescheduleOnFailure: false keeps its
                # replicas; DNS still leaves it): the reason is told all the same
                await rec.record(raw, "Warning", "RegionUnhealthy", f"{r.region}: {r.health_reason}")
            if prev is not None and prev.excluded_reason and not r.excluded_reason:
                await rec.record(raw, "Normal", "RegionRecovered", f"{r.region} takes replicas again")
            if r.reachable is False and (prev is None or prev.reachable is not False):
                await rec.record(
                    raw,
                    "Warning",
                    "MemberUnreachable",
                    f"{r.region}: member {r.cluster or '?'} cannot be reached",
                )
            await self._phase_events(raw, prev, r)
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

    async def _phase_events(self, raw: Obj, prev: RegionStatus | None, r: RegionStatus) -> None:
        """The make-before-break timeline of a region, one Event per step."""
        rec = self.deps.events
        was = prev.phase if prev is not None else None
        if r.phase == "Draining" and was != "Draining":
            await rec.record(raw, "Normal", "RegionDraining", f"{r.region}: {r.phase_reason or 'leaving'}")
        if r.draining_until is not None and (prev is None or prev.draining_until is None):
            since = r.dns_removed_at.isoformat() if r.dns_removed_at else "now"
            await rec.record(
                raw,
                "Normal",
                "RegionLeftDNS",
                f"{r.region}: out of DNS since {since}; its {r.desired_replicas} replica(s) stay until "
                f"{r.draining_until.isoformat()}",
            )
        if r.phase == "Drained" and was == "Draining":
            await rec.record(raw, "Normal", "RegionDrained", f"{r.region}: scaled to {r.desired_replicas}")
        if r.phase == "Joining" and was not in (None, "Joining"):
            await rec.record(raw, "Normal", "RegionJoining", f"{r.region}: {r.phase_reason or 'joining'}")
        if r.phase == "Serving" and was == "Joining" and r.serving_dns:
            await rec.record(raw, "Normal", "RegionServing", f"{r.region}: ready, answered in DNS")

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
            self.deps.clock(),
        )
        new = old.model_copy(update={"conditions": conds, "observed_generation": meta.get("generation")})
        new_dict = new.model_dump(mode="json", by_alias=True, exclude_none=True)
        if new_dict != _normalised_status(raw.get("status")):
            await self.deps.host.merge_patch(
                FEDERATEDAPPS,
                str(meta.get("name")),
                {"status": new_dict},
                str(meta.get("namespace")),
                sub="status",
            )
            await self.deps.events.record(raw, "Warning", "InvalidSpec", message)


def _normalised_status(status: Any) -> dict[str, Any]:
    if not status:
        return {}
    try:
        parsed = FederatedAppStatus.model_validate(status)
        return parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    except ValidationError:
        return dict(status)
