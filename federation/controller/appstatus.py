"""What the app's status says, computed from what one reconcile saw: pure (the clock comes in as ``now``).

Per region: desired and ready replicas, reachability, health, and why it is excluded (or held).
Conditions:

* ``Ready``: every placed region runs its desired replicas, ready and up to date, and the total is met.
* ``Progressing``: some region's rollout has not finished yet (True while work is under way).
* ``Degraded``: something is wrong that the controller cannot fix alone: a region excluded or
  unreachable, a name clash with an object we do not own, an infeasible placement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from federation.api import constants as c
from federation.api.conditions import Condition, set_condition
from federation.api.federatedapp import FederatedAppStatus, RegionStatus
from federation.placement import HELD_REASON, PlacementResult, PreviousRegion, RegionState


@dataclass
class RegionObservation:
    """What propagation found in one region."""

    region: str
    cluster: str | None = None
    reachable: bool | None = None
    health: str = "Unknown"  # Healthy | Unhealthy | Unavailable | Unknown
    health_reason: str = ""  # why it is not Healthy (each failing signal's reason, or the drain)
    ready_replicas: int | None = None
    rolled_out: bool = False  # the Deployment's controller has observed and finished our last write
    problem: str = ""  # an error to surface (unreachable, name clash, write failure)


@dataclass
class AppReport:
    """Everything a reconcile learnt, handed to :func:`build_status`."""

    generation: int
    placement: PlacementResult
    regions: dict[str, RegionObservation]
    clashes: list[str] = field(default_factory=list)
    cleanup_pending: list[str] = field(default_factory=list)  # dropped regions we could not clean yet
    deleting: bool = False
    extra_conditions: list[tuple[str, bool, str, str]] = field(default_factory=list)  # from later steps


def previous_from_status(status: FederatedAppStatus | None) -> dict[str, PreviousRegion]:
    """Read back what the last placement decided, for :func:`federation.placement.place`."""
    out: dict[str, PreviousRegion] = {}
    for r in status.regions if status else []:
        if r.desired_replicas is None:
            continue
        state: RegionState = "active"
        if r.excluded_reason == HELD_REASON:
            state = "held"
        elif r.excluded_reason:
            state = "excluded"
        out[r.region] = PreviousRegion(r.desired_replicas, state)
    return out


def build_status(
    old: FederatedAppStatus | None, report: AppReport, now: datetime, extra: dict[str, Any] | None = None
) -> FederatedAppStatus:
    conds: list[Condition] = list(old.conditions) if old else []
    gen = report.generation
    regions: list[RegionStatus] = []
    progressing: list[str] = []
    degraded: list[str] = []
    ready_total = 0
    old_by_region = {r.region: r for r in (old.regions if old else [])}
    for a in report.placement.regions:
        obs = report.regions.get(a.name, RegionObservation(a.name))
        excluded = a.reason if a.state in ("excluded", "held") else None
        prev = old_by_region.get(a.name)
        rs = RegionStatus(
            region=a.name,
            cluster=obs.cluster,
            desired_replicas=a.replicas,
            ready_replicas=obs.ready_replicas,
            reachable=obs.reachable,
            health=obs.health,
            health_reason=obs.health_reason[:1024] or None,
            excluded_reason=excluded or None,
        )
        # keep what later steps (load balancer, DNS) wrote into the region's entry
        if prev is not None:
            rs.load_balancer_id, rs.address = prev.load_balancer_id, prev.address
            rs.serving_dns, rs.dns_reason = prev.serving_dns, prev.dns_reason
            rs.dns_removed_at = prev.dns_removed_at
        regions.append(rs)
        ready_total += obs.ready_replicas or 0
        if a.state == "excluded":
            degraded.append(f"{a.name}: {a.reason}")
        elif obs.problem:
            degraded.append(f"{a.name}: {obs.problem}")
        elif not obs.rolled_out or (obs.ready_replicas or 0) < a.replicas:
            progressing.append(a.name)
    regions_degraded = bool(degraded)
    # a step may add to Degraded (the network step's unreachable region pairs); the condition stays one
    step_degraded = [(r, m) for t, ok, r, m in report.extra_conditions if t == c.COND_DEGRADED and ok]
    degraded.extend(f"name clash: {x}" for x in report.clashes)
    degraded.extend(f"cleanup pending: {x}" for x in report.cleanup_pending)
    degraded.extend(report.placement.problems)
    degraded.extend(m for _, m in step_degraded)

    if report.deleting:
        conds = set_condition(
            conds, c.COND_READY, False, "Deleting", "removing the app from its member clusters", gen, now
        )
        pending = [f"{o.region}: {o.problem}" for o in report.regions.values() if o.problem]
        conds = set_condition(
            conds,
            c.COND_DEGRADED,
            bool(pending),
            "CleanupBlocked" if pending else "AsExpected",
            "; ".join(pending),
            gen,
            now,
        )
    else:
        ready = (
            not progressing
            and not any(o.problem for o in report.regions.values())
            and ready_total >= report.placement.total
        )
        conds = set_condition(
            conds,
            c.COND_READY,
            ready,
            "AllRegionsReady" if ready else "NotReady",
            "" if ready else _not_ready_message(progressing, degraded),
            gen,
            now,
        )
        conds = set_condition(
            conds,
            c.COND_PROGRESSING,
            bool(progressing),
            "RollingOut" if progressing else "Complete",
            ("waiting for " + ", ".join(progressing)) if progressing else "",
            gen,
            now,
        )
        conds = set_condition(
            conds,
            c.COND_DEGRADED,
            bool(degraded),
            _degraded_reason(report, degraded, regions_degraded, [r for r, _ in step_degraded]),
            "; ".join(degraded),
            gen,
            now,
        )
    for ctype, status, reason, message in report.extra_conditions:
        if ctype == c.COND_DEGRADED:
            continue  # folded into Degraded above
        conds = set_condition(conds, ctype, status, reason, message, gen, now)

    placed = [a for a in report.placement.regions if a.state == "active" and a.replicas > 0]
    placed_ready = [
        a
        for a in placed
        if (report.regions.get(a.name) or RegionObservation(a.name)).ready_replicas == a.replicas
    ]
    result = FederatedAppStatus(
        observed_generation=gen,
        conditions=conds,
        replicas=report.placement.total,
        ready_replicas=ready_total,
        # over every region the spec asks for: a drained region, or one without a MemberCluster, is
        # a region missing, not one fewer region wanted
        regions_ready=f"{len(placed_ready)}/{len(report.placement.regions)}",
        regions=regions,
        dns=old.dns if old else None,
    )
    if extra:
        result = result.model_copy(update=extra)
    return result


def _not_ready_message(progressing: list[str], degraded: list[str]) -> str:
    parts = []
    if progressing:
        parts.append("rolling out in " + ", ".join(progressing))
    if degraded:
        parts.append("; ".join(degraded))
    return "; ".join(parts) or "not all replicas are ready"


def _degraded_reason(
    report: AppReport, degraded: list[str], regions_degraded: bool, step_reasons: list[str]
) -> str:
    if not degraded:
        return "AsExpected"
    if report.clashes:
        return "NameClash"
    if report.placement.problems:
        return "PlacementInfeasible"
    if any(o.reachable is False for o in report.regions.values()):
        return "MemberUnreachable"
    if not regions_degraded and step_reasons:
        return step_reasons[0]
    return "RegionExcluded"
