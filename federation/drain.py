"""Make-before-break: the order in which a region's traffic and capacity leave, and come back.

A pure function of the placement's targets, what each region runs and how much of it is ready, whether
DNS answers with it (and when the provider confirmed it stopped), and ``now``. No I/O, no clock.

A region *leaves* (drained by the health override, unhealthy, removed from the spec) in this order:

1. the regions that stay get their new replicas at once (make);
2. the leaving region stays in DNS until those are ready (every staying region's ready replicas reach
   its target), then it is taken out of DNS;
3. it keeps its replicas until ``grace`` (by default the record's TTL: resolvers may keep the old answer
   that long) has passed since the provider *confirmed* the DNS change; if DNS cannot be changed it
   keeps them, however long that takes;
4. then it is scaled to its target (break).

A region that cannot be reached is dead already: it leaves DNS at once and nothing waits for it, so
the order costs it nothing. A region that *joins* (recovers, or is added) gets its replicas first and
is answered in DNS only once they are ready. A staying region that gives up replicas (a rebalance)
keeps them until the regions that gain are ready.

Phases, shown in ``status.regions[].phase``: ``Serving`` (answered), ``Joining`` (replicas coming up,
not answered yet), ``Draining`` (leaving, replicas kept; ``until`` when the grace period ends),
``Drained`` (out of DNS, at its target).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Phase = Literal["Serving", "Joining", "Draining", "Drained"]


@dataclass(frozen=True)
class RegionState:
    name: str
    target: int  # replicas placement wants it to run
    wanted: bool  # placement wants it answered in DNS (placed, active, replicas > 0, no problem)
    applied: int  # replicas it runs now (what the controller last set)
    ready: int  # ready replicas observed
    reachable: bool = True
    in_dns: bool = False  # DNS answers with it (as last published)
    dns_out_at: datetime | None = None  # when the provider confirmed it no longer answers with it


@dataclass(frozen=True)
class RegionMove:
    replicas: int  # what to run now
    serve_dns: bool  # whether DNS should answer with it now
    phase: Phase
    until: datetime | None = None  # Draining: when its replicas may go
    reason: str = ""


def _capacity_wait(regions: Sequence[RegionState]) -> tuple[bool, int, int]:
    """(are the staying regions' replicas ready, ready, wanted) over the regions DNS will keep."""
    staying = [r for r in regions if r.wanted and r.reachable and r.target > 0]
    ready = sum(min(r.ready, r.target) for r in staying)
    wanted = sum(r.target for r in staying)
    return bool(staying) and ready >= wanted, ready, wanted


def transition(
    regions: Iterable[RegionState], *, now: datetime, grace: timedelta, dns: bool = True
) -> dict[str, RegionMove]:
    """What each region runs and whether DNS answers with it, now. ``dns=False``: no DNS is managed,
    so a leaving region has no answer to wait out and goes as soon as the others are ready."""
    regions = list(regions)
    capacity_ready, ready, wanted = _capacity_wait(regions)
    waiting = f"waiting for {wanted - ready} more ready replica(s) in the other regions"
    moves: dict[str, RegionMove] = {}
    for r in regions:
        in_dns = r.in_dns and dns
        out_at = r.dns_out_at if dns else None
        if r.wanted:
            serve = in_dns or (r.reachable and r.ready >= r.target > 0)
            if r.target < r.applied and not capacity_ready:
                replicas, why = r.applied, f"keeps {r.applied - r.target} replica(s) while {waiting}"
            else:
                replicas, why = r.target, ""
            if serve or not r.reachable:
                moves[r.name] = RegionMove(replicas, serve and r.reachable, "Serving", reason=why)
            else:
                moves[r.name] = RegionMove(
                    replicas,
                    False,
                    "Joining",
                    reason=f"answered in DNS once ready ({min(r.ready, r.target)}/{r.target})",
                )
            continue
        leaving = in_dns or r.applied > r.target
        if not leaving:
            moves[r.name] = RegionMove(r.target, False, "Drained")
        elif not r.reachable:
            moves[r.name] = RegionMove(r.target, False, "Drained", reason="unreachable: out of DNS at once")
        elif in_dns:
            if capacity_ready:
                moves[r.name] = RegionMove(r.applied, False, "Draining", reason="leaving DNS")
            else:
                moves[r.name] = RegionMove(r.applied, True, "Draining", reason=f"in DNS while {waiting}")
        elif out_at is not None:
            until = out_at + grace
            if now < until:
                moves[r.name] = RegionMove(
                    r.applied,
                    False,
                    "Draining",
                    until,
                    "out of DNS; replicas kept while resolvers may hold it",
                )
            else:
                moves[r.name] = RegionMove(r.target, False, "Drained")
        elif capacity_ready:
            moves[r.name] = RegionMove(r.target, False, "Drained")
        else:
            moves[r.name] = RegionMove(r.applied, False, "Draining", reason=f"replicas kept while {waiting}")
    return moves


def next_look(moves: Mapping[str, RegionMove], now: datetime) -> timedelta | None:
    """How long until the earliest grace period ends (when the app must be looked at again)."""
    ends = [m.until for m in moves.values() if m.until is not None]
    return max(min(ends) - now, timedelta(0)) if ends else None


__all__ = ["Phase", "RegionMove", "RegionState", "next_look", "transition"]
