"""Dividing an app's replicas among its regions: a pure function, no I/O, no clock, no globals.

Strategies
----------
``Spread``
    Every schedulable region has the same weight.
``Weighted``
    Regions share by their static ``weight``.
``Failover``
    All replicas go to the first active region of ``failover_order`` (regions not named there follow,
    in spec order); every other region holds its ``minReplicas``. If the first region's ``maxReplicas``
    caps it, the overflow goes to the next region of the order.

Rounding (Spread, Weighted) is Sainte-Laguë/Webster as a greedy divisor method: every region starts at
its ``minReplicas`` and each further replica goes to the region with the highest ``weight / (2·s + 1)``
(``s`` = what it already holds), skipping regions at their ``maxReplicas``. Ties go to the region with
the smaller ``sha256(app_uid + "/" + region)``, so one app always breaks ties the same way while
different apps do not all pile their odd replica onto the same region. A divisor method is
house-monotone (adding a replica never takes one from another region) and coherent (removing a region
only moves that region's replicas), which is why the changes between two inputs stay minimal without
having to diff against the previous assignment.

Health
------
Each region comes with a :class:`Schedulability`:

* ``SCHEDULABLE``: takes part.
* ``UNHEALTHY`` (unreachable, not ready, drained by the ``federation.io/health-override`` annotation):
  with ``reschedule_on_failure`` the region is *excluded* (0 replicas) and its share moves to the
  others; without it placement ignores health and the region keeps its share (with a note).
* ``UNAVAILABLE`` (no member cluster registered for it): always excluded, whatever the flags say.

If no region can take replicas at all, placement *fails static*: the previous assignment is kept as is
(scaling everything to zero because every region looks sick is the wrong reaction to a monitoring
outage) and a problem is reported.

Recovery without rebalancing (``rebalance_on_recovery = False``)
----------------------------------------------------------------
A region that is healthy again after having been excluded (its previous state is ``excluded`` or
``held``) is *held*: it gets only its ``minReplicas`` and the regions that took over keep the replicas.
The hold ends when

* the app's spec changes (``spec_changed``: a new generation; editing the app is the explicit
  "rebalance now"), or
* the other regions cannot hold the total (their ``maxReplicas`` sum is too small), or no other region
  is active: then held regions are released and take part normally.

Infeasible bounds
-----------------
Bounds win over the total: if the ``minReplicas`` of the placed regions sum to more than ``replicas``,
each still gets its minimum; if their ``maxReplicas`` sum to less, each gets its maximum. Either case is
reported in :attr:`PlacementResult.problems` (human-readable) and never raises.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

Strategy = Literal["Spread", "Weighted", "Failover"]
RegionState = Literal["active", "excluded", "held"]


HELD_REASON = "recovered; held at minReplicas until the app's spec changes (rebalanceOnRecovery=false)"


class Schedulability(enum.Enum):
    SCHEDULABLE = "Schedulable"
    UNHEALTHY = "Unhealthy"
    UNAVAILABLE = "Unavailable"


@dataclass(frozen=True)
class RegionInput:
    """One region of the app's placement, with what the controller knows about its health."""

    name: str
    weight: int = 1
    min_replicas: int = 0
    max_replicas: int | None = None
    schedulability: Schedulability = Schedulability.SCHEDULABLE
    reason: str = ""  # why it is unhealthy/unavailable, shown in status

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"region {self.name}: weight must be >= 0, got {self.weight}")
        if self.min_replicas < 0:
            raise ValueError(f"region {self.name}: minReplicas must be >= 0, got {self.min_replicas}")
        if self.max_replicas is not None and self.max_replicas < 0:
            raise ValueError(f"region {self.name}: maxReplicas must be >= 0, got {self.max_replicas}")


@dataclass(frozen=True)
class PreviousRegion:
    """What the last placement decided for a region (read back from the app's status)."""

    replicas: int
    state: RegionState = "active"


@dataclass(frozen=True)
class PlacementInput:
    replicas: int
    strategy: Strategy
    regions: Sequence[RegionInput]
    app_uid: str = ""
    failover_order: Sequence[str] = ()
    previous: Mapping[str, PreviousRegion] = field(default_factory=dict)
    reschedule_on_failure: bool = True
    rebalance_on_recovery: bool = True
    spec_changed: bool = False  # the app's generation moved since the previous placement


@dataclass(frozen=True)
class RegionAssignment:
    name: str
    replicas: int
    state: RegionState
    reason: str = ""  # why excluded/held, or a note (e.g. unhealthy but kept); "" when nothing to say


@dataclass(frozen=True)
class PlacementResult:
    regions: tuple[RegionAssignment, ...]  # in spec order
    problems: tuple[str, ...] = ()  # infeasibility and fail-static notes

    @property
    def replicas(self) -> dict[str, int]:
        return {r.name: r.replicas for r in self.regions}

    @property
    def excluded(self) -> dict[str, str]:
        return {r.name: r.reason for r in self.regions if r.state == "excluded"}

    @property
    def total(self) -> int:
        return sum(r.replicas for r in self.regions)

    @property
    def feasible(self) -> bool:
        return not self.problems

    def get(self, name: str) -> RegionAssignment | None:
        return next((r for r in self.regions if r.name == name), None)


def tie_key(app_uid: str, region: str) -> bytes:
    """The stable per-app tie-break: smaller wins."""
    return hashlib.sha256(f"{app_uid}/{region}".encode()).digest()


def _cap(r: RegionInput) -> int | None:
    if r.max_replicas is None:
        return None
    return max(r.max_replicas, r.min_replicas)  # a max below the min: the min wins (reported by validation)


def _minimums(total: int, regions: Sequence[RegionInput]) -> tuple[dict[str, int], list[str]]:
    """Every region's minReplicas, and a problem when they alone exceed ``total`` (each region keeps
    its minimum then, and nothing more is placed)."""
    counts = {r.name: r.min_replicas for r in regions}
    floor = sum(counts.values())
    if floor > total:
        return counts, [
            f"the minReplicas of the placed regions sum to {floor}, more than the "
            f"{total} replicas asked for; each region keeps its minimum"
        ]
    return counts, []


def webster(
    total: int, regions: Sequence[RegionInput], app_uid: str, equal_weights: bool = False
) -> tuple[dict[str, int], list[str]]:
    """Divide ``total`` among ``regions`` by the bounded Webster method; returns (counts, problems)."""
    counts, problems = _minimums(total, regions)
    if problems:
        return counts, problems
    remaining = total - sum(counts.values())
    weights = {r.name: (1 if equal_weights else r.weight) for r in regions}
    caps = {r.name: _cap(r) for r in regions}
    if remaining and regions and all(w == 0 for w in weights.values()):
        # Nobody asked for anything: treat as equal weights rather than dropping replicas.
        weights = dict.fromkeys(weights, 1)

    def key(name: str) -> tuple[Fraction, bytes]:
        return (-Fraction(weights[name], 2 * counts[name] + 1), tie_key(app_uid, name))

    heap = [(key(n), n) for n in counts if caps[n] is None or counts[n] < caps[n]]  # type: ignore[operator]
    heapq.heapify(heap)
    while remaining and heap:
        _, name = heapq.heappop(heap)
        counts[name] += 1
        remaining -= 1
        cap = caps[name]
        if cap is None or counts[name] < cap:
            heapq.heappush(heap, (key(name), name))
    if remaining:
        problems.append(
            f"the maxReplicas of the placed regions allow only {total - remaining} of the "
            f"{total} replicas asked for"
        )
    return counts, problems


Counts = tuple[dict[str, int], list[str]]


def _failover(total: int, regions: Sequence[RegionInput], order: Sequence[str]) -> Counts:
    counts, problems = _minimums(total, regions)
    if problems:
        return counts, problems
    by_name = {r.name: r for r in regions}
    ranked = [n for n in order if n in by_name] + [r.name for r in regions if r.name not in order]
    remaining = total - sum(counts.values())
    for name in ranked:
        if not remaining:
            break
        cap = _cap(by_name[name])
        room = remaining if cap is None else min(remaining, cap - counts[name])
        counts[name] += room
        remaining -= room
    if remaining:
        problems.append(
            f"the maxReplicas of the placed regions allow only {total - remaining} of the "
            f"{total} replicas asked for"
        )
    return counts, problems


def _divide(inp: PlacementInput, regions: Sequence[RegionInput], total: int) -> Counts:
    if inp.strategy == "Failover":
        return _failover(total, regions, inp.failover_order)
    return webster(total, regions, inp.app_uid, equal_weights=inp.strategy == "Spread")


def _capacity(regions: Iterable[RegionInput]) -> int | None:
    total = 0
    for r in regions:
        cap = _cap(r)
        if cap is None:
            return None
        total += cap
    return total


def place(inp: PlacementInput) -> PlacementResult:
    """Decide the replicas of every region of ``inp.regions``; see the module docstring for the rules."""
    if inp.replicas < 0:
        raise ValueError(f"replicas must be >= 0, got {inp.replicas}")
    seen: set[str] = set()
    for r in inp.regions:
        if r.name in seen:
            raise ValueError(f"region {r.name} is listed twice")
        seen.add(r.name)

    excluded: dict[str, str] = {}
    notes: dict[str, str] = {}
    candidates: list[RegionInput] = []
    for r in inp.regions:
        if r.schedulability is Schedulability.UNAVAILABLE:
            excluded[r.name] = r.reason or "no member cluster for this region"
        elif r.schedulability is Schedulability.UNHEALTHY:
            if inp.reschedule_on_failure:
                excluded[r.name] = r.reason or "unhealthy"
            else:
                notes[r.name] = f"{r.reason or 'unhealthy'}; replicas kept (rescheduleOnFailure=false)"
                candidates.append(r)
        else:
            candidates.append(r)

    problems: list[str] = []
    if not candidates:
        return _fail_static(inp, excluded)

    held: list[RegionInput] = []
    if not inp.rebalance_on_recovery and not inp.spec_changed:
        held = [
            r
            for r in candidates
            if r.schedulability is Schedulability.SCHEDULABLE
            and (prev := inp.previous.get(r.name)) is not None
            and prev.state in ("excluded", "held")
        ]
        active = [r for r in candidates if r not in held]
        held_floor = sum(r.min_replicas for r in held)
        cap = _capacity(active)
        if not active or (cap is not None and cap < inp.replicas - held_floor):
            held = []  # the others cannot carry the load: release the hold
    active = [r for r in candidates if r not in held]

    total = inp.replicas - sum(r.min_replicas for r in held)
    if total < 0:
        problems.append(f"the minReplicas of held regions sum to more than the {inp.replicas} replicas")
        total = 0
    counts, more = _divide(inp, active, total)
    problems.extend(more)
    for r in held:
        counts[r.name] = r.min_replicas
        notes[r.name] = HELD_REASON

    out: list[RegionAssignment] = []
    held_names = {r.name for r in held}
    for r in inp.regions:
        if r.name in excluded:
            out.append(RegionAssignment(r.name, 0, "excluded", excluded[r.name]))
        else:
            out.append(
                RegionAssignment(
                    r.name,
                    counts[r.name],
                    "held" if r.name in held_names else "active",
                    notes.get(r.name, ""),
                )
            )
    return PlacementResult(tuple(out), tuple(problems))


def _fail_static(inp: PlacementInput, excluded: dict[str, str]) -> PlacementResult:
    """No region can take replicas: keep what the previous placement decided."""
    if inp.previous:
        counts = {r.name: inp.previous[r.name].replicas if r.name in inp.previous else 0 for r in inp.regions}
        what = "keeping the previous assignment"
    else:
        # Nothing placed before: place as if every region that exists were healthy, so the app gets
        # created and comes up wherever a region recovers.
        existing = [r for r in inp.regions if r.schedulability is not Schedulability.UNAVAILABLE]
        counts, _ = _divide(inp, existing, inp.replicas) if existing else ({}, [])
        what = "placing as if the regions were healthy"
    problems = (
        f"no healthy region to place replicas in; {what}" if inp.regions else "the placement lists no region",
    )
    out = tuple(
        RegionAssignment(r.name, counts.get(r.name, 0), "excluded", excluded.get(r.name, ""))
        for r in inp.regions
    )
    return PlacementResult(out, problems)
