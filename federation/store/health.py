"""Health history: probe samples, the current state of each target, and its transitions.

The hysteresis itself (thresholds, counting) is pure logic in ``federation/health``; this module only
persists its inputs and outputs so that a restarted controller resumes with the same counters.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ARRAY, Connection, String, Table, any_, bindparam, func, select
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


_SAMPLES = cast(Table, HealthSample.__table__)
_STATES_TABLE = cast(Table, HealthState.__table__)
_TRANSITIONS = cast(Table, HealthTransition.__table__)
_KINDS = frozenset(k.value for k in TargetKind)
_STATES = frozenset(k.value for k in HealthStateName)


class _Times:
    """``aware`` once per distinct timestamp: a sweep's rows share a handful of them."""

    def __init__(self) -> None:
        self._last: tuple[datetime, datetime] | None = None
        self._seen: dict[datetime, datetime] = {}

    def __call__(self, field: str, value: datetime) -> datetime:
        last = self._last
        if last is not None and last[0] is value:
            return last[1]
        got = self._seen.get(value)
        if got is None:
            got = self._seen[value] = aware(field, value)
        self._last = (value, got)
        return got


def _sample_values(s: HealthSampleData, times: _Times | None = None) -> dict[str, object]:
    kind = s.target_kind if s.target_kind in _KINDS else one_of("target_kind", s.target_kind, TargetKind)
    detail = s.detail
    if detail is not None and len(detail) > DETAIL_LEN:
        detail = clip(detail, DETAIL_LEN)
    return {
        "target_kind": str(kind),
        "target_id": s.target_id,
        "region": s.region,
        "app": s.app,
        "ok": s.ok,
        "latency_ms": s.latency_ms,
        "detail": detail,
        "at": (times or aware)("at", s.at),
    }


def _transition_values(t: TransitionData, times: _Times | None = None) -> dict[str, object]:
    kind = t.target_kind if t.target_kind in _KINDS else one_of("target_kind", t.target_kind, TargetKind)
    old = t.from_state if t.from_state in _STATES else one_of("from_state", t.from_state, HealthStateName)
    new = t.to_state if t.to_state in _STATES else one_of("to_state", t.to_state, HealthStateName)
    return {
        "target_kind": str(kind),
        "target_id": t.target_id,
        "region": t.region,
        "app": t.app,
        "from_state": str(old),
        "to_state": str(new),
        "reason": clip(t.reason, DETAIL_LEN) or "",
        "at": (times or aware)("at", t.at),
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
    """What one sweep learnt, in one unit of work: its samples, the states that changed (upserted) and
    the transitions.

    A sweep writes thousands of rows every few seconds, so these are Core-level executemany
    statements (no ORM objects, no unit-of-work bookkeeping), with the per-row checks reduced to a
    set lookup and one time-zone conversion per distinct timestamp. A state given twice (a target
    that moved twice in the sweep) is written once, as last given.
    """
    conn = session.connection()
    times = _Times()
    values = [_sample_values(s, times) for s in samples]
    _insert_many(conn, _SAMPLES, values)
    latest: dict[tuple[str, str], HealthStateData] = {}
    for st in states:
        latest[(st.target_kind, st.target_id)] = st
    written = utcnow() if now is None else aware("now", now)
    rows = [_state_values(st, written, times) for st in latest.values()]
    _upsert_states(conn, rows)
    tr_rows = [_transition_values(t, times) for t in transitions]
    if tr_rows:
        _insert_many(conn, _TRANSITIONS, tr_rows)
        counts: dict[tuple[str, str], int] = {}
        for r in tr_rows:
            k = (str(r["target_kind"]), str(r["to_state"]))
            counts[k] = counts.get(k, 0) + 1
        for (kind, to_state), n in counts.items():
            metrics.health_transition(kind, to_state, n)
    return SweepWrite(len(values), len(rows), len(tr_rows))


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, object]]) -> None:
    """Append ``rows`` (already checked and converted: aware UTC times, clipped text) to ``table``.

    PostgreSQL: one ``COPY ... FROM STDIN`` on the unit of work's connection, several times faster
    than an executemany of INSERTs for a sweep's thousands of rows. SQLite: one executemany.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    from psycopg import sql

    columns = list(rows[0])
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(copy) as out:
        for r in rows:
            out.write_row([r[c] for c in columns])


_STATE_KEY = ("target_kind", "target_id")


def _upsert_states(conn: Connection, rows: list[dict[str, object]]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of every row. SQLite: one executemany. PostgreSQL, from a
    few hundred rows on (a sweep that learnt every target): COPY into a temporary table emptied at
    commit, then one INSERT ... SELECT ... ON CONFLICT."""
    if not rows:
        return
    table = _STATES_TABLE
    postgres = conn.dialect.name == "postgresql"
    if not postgres or len(rows) < 200:
        ins = pg_insert if postgres else sqlite_insert
        stmt = ins(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_STATE_KEY),
            set_={k: stmt.excluded[k] for k in rows[0] if k not in _STATE_KEY},
        )
        conn.execute(stmt, rows)
        return
    from psycopg import sql

    columns = list(rows[0])
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    staging = sql.Identifier("health_states_incoming")
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(staging, sql.Identifier(table.name))
        )
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, cols)) as out:
            for r in rows:
                out.write_row([r[c] for c in columns])
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns if c not in _STATE_KEY
        )
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {}").format(
                sql.Identifier(table.name),
                cols,
                cols,
                staging,
                sql.SQL(", ").join(map(sql.Identifier, _STATE_KEY)),
                updates,
            )
        )


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


def _state_values(
    state: HealthStateData, now: datetime | None, times: _Times | None = None
) -> dict[str, object]:
    t = times or aware
    kind = (
        state.target_kind
        if state.target_kind in _KINDS
        else one_of("target_kind", state.target_kind, TargetKind)
    )
    name = state.state if state.state in _STATES else one_of("state", state.state, HealthStateName)
    if state.consecutive_failures < 0 or state.consecutive_successes < 0:
        for field in ("consecutive_failures", "consecutive_successes"):
            if getattr(state, field) < 0:
                raise ValueError(f"{field}: must be >= 0, got {getattr(state, field)}")
    return {
        "target_kind": str(kind),
        "target_id": state.target_id,
        "region": state.region,
        "app": state.app,
        "state": str(name),
        "consecutive_failures": state.consecutive_failures,
        "consecutive_successes": state.consecutive_successes,
        "since": t("since", state.since),
        "last_sample_at": t("last_sample_at", state.last_sample_at) if state.last_sample_at else None,
        "reason": clip(state.reason, DETAIL_LEN),
        "updated_at": t("now", now) if now is not None else utcnow(),
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


def app_health_states(
    session: Session, apps: Collection[str], *, since: datetime | None = None
) -> list[HealthStateData]:
    """The stored states of the targets of ``apps`` (``namespace/name``) written since ``since``, in one
    query whatever the number of apps: what a replica that takes over a shard resumes them from.

    PostgreSQL gets the apps as one array parameter (``= ANY``), so a takeover of thousands of apps
    stays one statement under the protocol's parameter limit; SQLite, one ``IN`` list.
    """
    names = sorted(set(apps))
    if not names:
        return []
    stmt = select(HealthState).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.where(HealthState.app == any_(bindparam("apps", names, type_=ARRAY(String))))
    else:
        stmt = stmt.where(HealthState.app.in_(names))
    if since is not None:
        stmt = stmt.where(HealthState.updated_at >= aware("since", since))
    return [_state(r) for r in session.scalars(stmt.order_by(HealthState.target_kind, HealthState.target_id))]


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
    values = _transition_values(t)
    metrics.health_transition(str(values["target_kind"]), str(values["to_state"]))
    session.add(HealthTransition(**values))


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
