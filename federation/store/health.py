"""Health history: probe samples, the current state of each target, and its transitions.

The hysteresis itself (thresholds, counting) is pure logic in ``federation/health``; this module only
persists its inputs and outputs so that a restarted controller resumes with the same counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from federation import metrics
from federation.store.models import (
    DETAIL_LEN,
    HealthSample,
    HealthState,
    HealthStateName,
    HealthTransition,
    TargetKind,
)
from federation.store.upsert import upsert
from federation.store.values import aware, clip, one_of, utcnow


@dataclass(frozen=True, slots=True)
class HealthSampleData:
    target_kind: str  # a TargetKind value
    target_id: str
    region: str
    ok: bool
    at: datetime
    app: str | None = None  # "namespace/name" for rollout/slb/endpoint targets
    latency_ms: float | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class HealthStateData:
    target_kind: str
    target_id: str
    region: str
    state: str  # a HealthStateName value
    consecutive_failures: int
    consecutive_successes: int
    since: datetime
    app: str | None = None
    last_sample_at: datetime | None = None
    reason: str | None = None
    updated_at: datetime | None = None  # set by the store on write


@dataclass(frozen=True, slots=True)
class TransitionData:
    target_kind: str
    target_id: str
    region: str
    from_state: str
    to_state: str
    reason: str
    at: datetime
    app: str | None = None


def _sample_row(s: HealthSampleData) -> HealthSample:
    return HealthSample(
        target_kind=one_of("target_kind", s.target_kind, TargetKind).value,
        target_id=s.target_id,
        region=s.region,
        app=s.app,
        ok=s.ok,
        latency_ms=s.latency_ms,
        detail=clip(s.detail, DETAIL_LEN),
        at=aware("at", s.at),
    )


def record_health_sample(session: Session, sample: HealthSampleData) -> None:
    session.add(_sample_row(sample))


def record_health_samples(session: Session, samples: Iterable[HealthSampleData]) -> int:
    """Store a sweep's samples in one unit of work; returns how many."""
    rows = [_sample_row(s) for s in samples]
    session.add_all(rows)
    return len(rows)


def _sample_values(s: HealthSampleData) -> dict[str, object]:
    return {
        "target_kind": one_of("target_kind", s.target_kind, TargetKind).value,
        "target_id": s.target_id,
        "region": s.region,
        "app": s.app,
        "ok": s.ok,
        "latency_ms": s.latency_ms,
        "detail": clip(s.detail, DETAIL_LEN),
        "at": aware("at", s.at),
    }


@dataclass(frozen=True, slots=True)
class SweepWrite:
    samples: int
    states: int
    transitions: int


def record_sweep(
    session: Session,
    samples: Iterable[HealthSampleData],
    states: Iterable[HealthStateData] = (),
    transitions: Iterable[TransitionData] = (),
    *,
    now: datetime | None = None,
) -> SweepWrite:
    """What one sweep learnt, in one unit of work: its samples (one multi-row INSERT), the states that
    changed (upserted) and the transitions."""
    values = [_sample_values(s) for s in samples]
    if values:
        session.execute(insert(HealthSample), values)
    rows = [_state_values(st, now) for st in states]
    if rows:
        # one multi-row upsert (executemany) instead of a statement per target
        dialect = session.get_bind().dialect.name
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = ins(HealthState)
        key = ("target_kind", "target_id")
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={k: stmt.excluded[k] for k in rows[0] if k not in key}
        )
        session.execute(stmt, rows)
    n_states = len(rows)
    n_tr = 0
    for tr in transitions:
        record_transition(session, tr)
        n_tr += 1
    return SweepWrite(len(values), n_states, n_tr)


def _sample(r: HealthSample) -> HealthSampleData:
    return HealthSampleData(
        target_kind=r.target_kind,
        target_id=r.target_id,
        region=r.region,
        ok=r.ok,
        at=r.at,
        app=r.app,
        latency_ms=r.latency_ms,
        detail=r.detail,
    )


def latest_samples(
    session: Session,
    *,
    target_kind: str | None = None,
    region: str | None = None,
    app: str | None = None,
    since: datetime | None = None,
) -> list[HealthSampleData]:
    """The most recent sample of every target (matching the filters), ordered by kind and id.

    ``since`` bounds the scan (targets with no sample since then are left out): the dashboard passes
    a few sweep intervals back.
    """
    ranked = select(
        HealthSample.id,
        func.row_number()
        .over(
            partition_by=(HealthSample.target_kind, HealthSample.target_id),
            order_by=(HealthSample.at.desc(), HealthSample.id.desc()),
        )
        .label("rank"),
    )
    if target_kind is not None:
        kind = one_of("target_kind", target_kind, TargetKind).value
        ranked = ranked.where(HealthSample.target_kind == kind)
    if region is not None:
        ranked = ranked.where(HealthSample.region == region)
    if app is not None:
        ranked = ranked.where(HealthSample.app == app)
    if since is not None:
        ranked = ranked.where(HealthSample.at >= aware("since", since))
    sub = ranked.subquery()
    stmt = (
        select(HealthSample)
        .join(sub, sub.c.id == HealthSample.id)
        .where(sub.c.rank == 1)
        .order_by(HealthSample.target_kind, HealthSample.target_id)
    )
    return [_sample(r) for r in session.scalars(stmt)]


def sample_history(
    session: Session, target_kind: str, target_id: str, *, since: datetime | None = None, limit: int = 500
) -> list[HealthSampleData]:
    """One target's samples, newest first."""
    stmt = (
        select(HealthSample)
        .where(HealthSample.target_kind == target_kind, HealthSample.target_id == target_id)
        .order_by(HealthSample.at.desc(), HealthSample.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(HealthSample.at >= aware("since", since))
    return [_sample(r) for r in session.scalars(stmt)]


def _state_values(state: HealthStateData, now: datetime | None) -> dict[str, object]:
    kind = one_of("target_kind", state.target_kind, TargetKind).value
    name = one_of("state", state.state, HealthStateName).value
    for field in ("consecutive_failures", "consecutive_successes"):
        if getattr(state, field) < 0:
            raise ValueError(f"{field}: must be >= 0, got {getattr(state, field)}")
    return {
        "target_kind": kind,
        "target_id": state.target_id,
        "region": state.region,
        "app": state.app,
        "state": name,
        "consecutive_failures": state.consecutive_failures,
        "consecutive_successes": state.consecutive_successes,
        "since": aware("since", state.since),
        "last_sample_at": aware("last_sample_at", state.last_sample_at) if state.last_sample_at else None,
        "reason": clip(state.reason, DETAIL_LEN),
        "updated_at": aware("now", now) if now is not None else utcnow(),
    }


def upsert_health_state(session: Session, state: HealthStateData, *, now: datetime | None = None) -> None:
    """Store the current state and counters of one target (insert or replace)."""
    upsert(session, HealthState, _state_values(state, now), key=["target_kind", "target_id"])


def _state(r: HealthState) -> HealthStateData:
    return HealthStateData(
        target_kind=r.target_kind,
        target_id=r.target_id,
        region=r.region,
        state=r.state,
        consecutive_failures=r.consecutive_failures,
        consecutive_successes=r.consecutive_successes,
        since=r.since,
        app=r.app,
        last_sample_at=r.last_sample_at,
        reason=r.reason,
        updated_at=r.updated_at,
    )


def get_health_state(session: Session, target_kind: str, target_id: str) -> HealthStateData | None:
    row = session.get(HealthState, (target_kind, target_id), populate_existing=True)
    return _state(row) if row is not None else None


def latest_health(
    session: Session, *, region: str | None = None, app: str | None = None, target_kind: str | None = None
) -> list[HealthStateData]:
    """Current state of every target matching the filters, ordered by region, kind and id."""
    stmt = (
        select(HealthState)
        .execution_options(populate_existing=True)
        .order_by(HealthState.region, HealthState.target_kind, HealthState.target_id)
    )
    if region is not None:
        stmt = stmt.where(HealthState.region == region)
    if app is not None:
        stmt = stmt.where(HealthState.app == app)
    if target_kind is not None:
        stmt = stmt.where(HealthState.target_kind == one_of("target_kind", target_kind, TargetKind).value)
    return [_state(r) for r in session.scalars(stmt)]


def delete_health_state(session: Session, target_kind: str, target_id: str) -> bool:
    """Forget a target that no longer exists (an app deleted, a cluster removed)."""
    row = session.get(HealthState, (target_kind, target_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def record_transition(session: Session, transition: TransitionData) -> None:
    t = transition
    metrics.health_transition(t.target_kind, t.to_state)
    session.add(
        HealthTransition(
            target_kind=one_of("target_kind", t.target_kind, TargetKind).value,
            target_id=t.target_id,
            region=t.region,
            app=t.app,
            from_state=one_of("from_state", t.from_state, HealthStateName).value,
            to_state=one_of("to_state", t.to_state, HealthStateName).value,
            reason=clip(t.reason, DETAIL_LEN) or "",
            at=aware("at", t.at),
        )
    )


def list_transitions(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    region: str | None = None,
    app: str | None = None,
    target_kind: str | None = None,
    target_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[TransitionData]:
    """Transitions matching the filters, newest first (``offset`` rows skipped: paging)."""
    stmt = select(HealthTransition).order_by(HealthTransition.at.desc(), HealthTransition.id.desc())
    if since is not None:
        stmt = stmt.where(HealthTransition.at >= aware("since", since))
    if until is not None:
        stmt = stmt.where(HealthTransition.at < aware("until", until))
    if region is not None:
        stmt = stmt.where(HealthTransition.region == region)
    if app is not None:
        stmt = stmt.where(HealthTransition.app == app)
    if target_kind is not None:
        stmt = stmt.where(HealthTransition.target_kind == target_kind)
    if target_id is not None:
        stmt = stmt.where(HealthTransition.target_id == target_id)
    return [
        TransitionData(
            target_kind=r.target_kind,
            target_id=r.target_id,
            region=r.region,
            from_state=r.from_state,
            to_state=r.to_state,
            reason=r.reason,
            at=r.at,
            app=r.app,
        )
        for r in session.scalars(stmt.limit(limit).offset(offset))
    ]
