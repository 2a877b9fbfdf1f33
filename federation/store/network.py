"""The CEN verdicts of region pairs, shared through the store by the replica that checks CEN.

With several replicas the CEN check is cluster-level work: only the elected replica reads CEN. The
apps are sharded, though, and an app held by another replica must still be ``Degraded`` when two of
its regions cannot reach each other. The elected replica therefore writes each pair's verdict here
(one row per pair in ``health_states``, kind ``cen``, id ``a<->b``; written only when it changes) and
the other replicas read them back. The rows are current state, not history: a pair no longer used by
any app is deleted. ``fedctl health`` lists them beside the other signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.store.models import DETAIL_LEN, HealthState, HealthStateName, TargetKind
from federation.store.upsert import upsert
from federation.store.values import clip, utcnow

_KIND = TargetKind.CEN.value


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """Whether two regions reach each other over CEN (``ok`` None: not known), and why not."""

    region_a: str
    region_b: str
    ok: bool | None
    reason: str
    message: str


def _pair_id(region_a: str, region_b: str) -> str:
    return f"{region_a}<->{region_b}"


def _state(ok: bool | None) -> str:
    if ok is None:
        return HealthStateName.UNKNOWN.value
    return (HealthStateName.HEALTHY if ok else HealthStateName.UNHEALTHY).value


def replace_pair_verdicts(
    session: Session, pairs: Sequence[PairVerdict], *, now: datetime | None = None
) -> int:
    """Make the stored pairs exactly ``pairs``; returns the rows written or deleted (0 when nothing
    changed, so a steady fleet writes nothing)."""
    at = now or utcnow()
    existing = {
        r.target_id: r for r in session.scalars(select(HealthState).where(HealthState.target_kind == _KIND))
    }
    changed = 0
    wanted: set[str] = set()
    for p in pairs:
        pid = _pair_id(p.region_a, p.region_b)
        wanted.add(pid)
        state = _state(p.ok)
        # the reason code first, then the message: split again on the first ": " when read
        reason = clip(f"{p.reason}: {p.message}" if p.message else p.reason, DETAIL_LEN)
        old = existing.get(pid)
        if old is not None and old.state == state and old.reason == reason:
            continue
        upsert(
            session,
            HealthState,
            {
                "target_kind": _KIND,
                "target_id": pid,
                "region": p.region_a,
                "app": None,
                "state": state,
                "consecutive_failures": 0,
                "consecutive_successes": 0,
                "since": at if old is None or old.state != state else old.since,
                "last_sample_at": at,
                "reason": reason,
                "updated_at": at,
            },
            key=["target_kind", "target_id"],
        )
        changed += 1
    for pid, row in existing.items():
        if pid not in wanted:
            session.delete(row)
            changed += 1
    return changed


def pair_verdicts(session: Session) -> list[PairVerdict]:
    """The stored pairs, as the elected replica last judged them."""
    rows = session.scalars(
        select(HealthState).where(HealthState.target_kind == _KIND).order_by(HealthState.target_id)
    )
    out: list[PairVerdict] = []
    for r in rows:
        region_a, sep, region_b = r.target_id.partition("<->")
        if not sep:
            continue
        reason, _, message = (r.reason or "").partition(": ")
        ok = None if r.state == HealthStateName.UNKNOWN.value else r.state == HealthStateName.HEALTHY.value
        out.append(PairVerdict(region_a, region_b, ok, reason, message))
    return out
