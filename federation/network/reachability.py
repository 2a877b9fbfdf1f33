"""Whether the regions of the fleet can reach each other over CEN: pure, from what the CEN API reported.

A member's VPC must be attached to the member's CEN (``Attached``; ``Attaching`` is progress, not a
failure), and every pair of regions that some app uses together must have an inter-region bandwidth
limit above zero on that CEN (CEN carries no traffic between two regions without one). Two members on
different CENs, or a CEN the API does not know, cannot reach each other at all.

Members without ``cenId``/``vpcId`` are not checked: their network is not ours to judge, so they get
no verdict rather than a failure. The verdicts become the MemberCluster condition ``NetworkReady``,
the rows of ``fedctl network check``, and the pairs named on an app's ``Degraded`` condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations

NOT_CONFIGURED = "NotConfigured"
CEN_NOT_FOUND = "CenNotFound"
NOT_ATTACHED = "NotAttached"
ATTACHING = "Attaching"
NO_BANDWIDTH = "NoBandwidth"
DIFFERENT_CEN = "DifferentCen"
READY = "Ready"


@dataclass(frozen=True)
class MemberNetwork:
    name: str
    region: str
    cen_id: str | None = None
    vpc_id: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.cen_id and self.vpc_id)


@dataclass(frozen=True)
class CenView:
    """One CEN as the API reported it: attached VPCs (id -> status) and bandwidth limits per region pair."""

    cen_id: str
    exists: bool = True
    children: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[frozenset[str], int] = field(default_factory=dict)

    def limit(self, a: str, b: str) -> int:
        return self.limits.get(frozenset((a, b)), 0)


def pair(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


def limits_from_api(rows: Iterable[Mapping[str, object]]) -> dict[frozenset[str], int]:
    """DescribeCenInterRegionBandwidthLimits rows -> {region pair: Mbps} (either direction counts once)."""
    out: dict[frozenset[str], int] = {}
    for row in rows:
        a, b = str(row.get("LocalRegionId") or ""), str(row.get("OppositeRegionId") or "")
        if a and b and a != b:
            value = row.get("BandwidthLimit") or 0
            out[pair(a, b)] = max(out.get(pair(a, b), 0), int(value) if isinstance(value, int | str) else 0)
    return out


@dataclass(frozen=True)
class Verdict:
    """A member's network: ``ready`` None means not checked (no cenId/vpcId)."""

    ready: bool | None
    reason: str
    message: str


@dataclass(frozen=True)
class PairRow:
    """One pair of regions in use together, as ``fedctl network check`` prints it."""

    region_a: str
    region_b: str
    attached_a: str
    attached_b: str
    limit_mbps: int | None
    ok: bool | None
    reason: str
    message: str


def attachment(member: MemberNetwork, cens: Mapping[str, CenView]) -> tuple[str, str]:
    """(reason, message) for the member's own attachment; reason READY when attached."""
    if not member.configured:
        return NOT_CONFIGURED, f"MemberCluster {member.name} names no cenId/vpcId: its network is not checked"
    assert member.cen_id is not None
    cen = cens.get(member.cen_id)
    if cen is None or not cen.exists:
        return CEN_NOT_FOUND, f"CEN {member.cen_id} of MemberCluster {member.name} does not exist"
    status = cen.children.get(member.vpc_id or "")
    if status is None or status == "Detaching":
        return NOT_ATTACHED, (
            f"VPC {member.vpc_id} of MemberCluster {member.name} is not attached to CEN {member.cen_id}"
            + (" (detaching)" if status == "Detaching" else "")
            + f": fedctl network attach {member.name}"
        )
    if status == "Attaching":
        return ATTACHING, f"VPC {member.vpc_id} is being attached to CEN {member.cen_id}"
    return READY, f"VPC {member.vpc_id} is attached to CEN {member.cen_id}"


def pair_row(a: MemberNetwork, b: MemberNetwork, cens: Mapping[str, CenView]) -> PairRow:
    reason_a, msg_a = attachment(a, cens)
    reason_b, msg_b = attachment(b, cens)

    def row(ok: bool | None, reason: str, message: str, limit: int | None = None) -> PairRow:
        return PairRow(a.region, b.region, reason_a, reason_b, limit, ok, reason, message)

    if reason_a == NOT_CONFIGURED or reason_b == NOT_CONFIGURED:
        return row(None, NOT_CONFIGURED, msg_a if reason_a == NOT_CONFIGURED else msg_b)
    for reason, msg in ((reason_a, msg_a), (reason_b, msg_b)):
        if reason in (CEN_NOT_FOUND, NOT_ATTACHED):
            return row(False, reason, msg)
    if a.cen_id != b.cen_id:
        return row(
            False,
            DIFFERENT_CEN,
            f"{a.region} is on CEN {a.cen_id} and {b.region} on CEN {b.cen_id}: they cannot reach each other",
        )
    if a.region == b.region:
        return row(True, READY, f"{a.region}: same region, no inter-region bandwidth needed")
    limit = cens[a.cen_id or ""].limit(a.region, b.region)
    if limit <= 0:
        return row(
            False,
            NO_BANDWIDTH,
            f"no inter-region bandwidth {a.region}<->{b.region} on CEN {a.cen_id} "
            "(a bandwidth plan and SetCenInterRegionBandwidthLimit)",
            limit,
        )
    for reason, msg in ((reason_a, msg_a), (reason_b, msg_b)):
        if reason == ATTACHING:
            return row(None, ATTACHING, msg, limit)
    return row(True, READY, f"{a.region}<->{b.region}: {limit} Mbps on CEN {a.cen_id}", limit)


def pairs_in_use(app_regions: Iterable[Iterable[str]]) -> set[frozenset[str]]:
    """Every pair of distinct regions that some app places together."""
    out: set[frozenset[str]] = set()
    for regions in app_regions:
        for a, b in combinations(sorted(set(regions)), 2):
            out.add(pair(a, b))
    return out


def matrix(
    members: Iterable[MemberNetwork], cens: Mapping[str, CenView], in_use: set[frozenset[str]]
) -> list[PairRow]:
    """One row per pair of regions in use, for the members serving them (first member of a region by name)."""
    by_region: dict[str, MemberNetwork] = {}
    for m in sorted(members, key=lambda m: m.name):
        by_region.setdefault(m.region, m)
    rows = []
    for p in sorted(in_use, key=sorted):
        a, b = sorted(p)
        if a in by_region and b in by_region:
            rows.append(pair_row(by_region[a], by_region[b], cens))
    return rows


def member_verdicts(
    members: Iterable[MemberNetwork], cens: Mapping[str, CenView], in_use: set[frozenset[str]]
) -> dict[str, Verdict]:
    """The ``NetworkReady`` verdict of each member: its attachment, then its pairs in use."""
    members = list(members)
    rows = matrix(members, cens, in_use)
    out: dict[str, Verdict] = {}
    for m in members:
        reason, message = attachment(m, cens)
        if reason == NOT_CONFIGURED:
            out[m.name] = Verdict(None, reason, message)
            continue
        if reason != READY:
            out[m.name] = Verdict(False if reason != ATTACHING else None, reason, message)
            continue
        broken = [r for r in rows if m.region in (r.region_a, r.region_b) and r.ok is False]
        if broken:
            first = broken[0]
            extra = f" (and {len(broken) - 1} more pairs)" if len(broken) > 1 else ""
            out[m.name] = Verdict(False, first.reason, first.message + extra)
        else:
            out[m.name] = Verdict(True, READY, message)
    return out


def app_problems(regions: Iterable[str], rows: Iterable[PairRow]) -> list[PairRow]:
    """The pairs among an app's regions that cannot reach each other (the app's ``Degraded`` reason)."""
    mine = set(regions)
    return [r for r in rows if r.ok is False and {r.region_a, r.region_b} <= mine]
