"""Regions and member clusters as the controller last saw them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from federation.store.models import MemberClusterSeen, Region
from federation.store.upsert import upsert
from federation.store.values import aware, utcnow


@dataclass(frozen=True, slots=True)
class RegionData:
    name: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class MemberClusterData:
    name: str
    region: str
    reachable: bool
    last_seen: datetime
    kubernetes_version: str | None = None
    node_count: int | None = None
    ready_node_count: int | None = None
    api_latency_ms: float | None = None


def ensure_region(session: Session, name: str, *, at: datetime | None = None) -> RegionData:
    """Record that ``name`` exists (seen ``at``); idempotent."""
    when = aware("at", at) if at is not None else utcnow()
    upsert(
        session,
        Region,
        {"name": name, "first_seen": when, "last_seen": when},
        key=["name"],
        update=lambda new: {
            "last_seen": case((new.last_seen > Region.last_seen, new.last_seen), else_=Region.last_seen)
        },
    )
    row = session.get_one(Region, name, populate_existing=True)
    return RegionData(row.name, row.first_seen, row.last_seen)


def list_regions(session: Session) -> list[RegionData]:
    rows = session.scalars(select(Region).order_by(Region.name))
    return [RegionData(r.name, r.first_seen, r.last_seen) for r in rows]


def upsert_member_cluster(session: Session, cluster: MemberClusterData) -> None:
    """Store what we observed of a member cluster (its region is recorded too)."""
    c = cluster
    ensure_region(session, c.region, at=c.last_seen)
    upsert(
        session,
        MemberClusterSeen,
        {
            "name": c.name,
            "region": c.region,
            "reachable": c.reachable,
            "last_seen": aware("last_seen", c.last_seen),
            "kubernetes_version": c.kubernetes_version,
            "node_count": c.node_count,
            "ready_node_count": c.ready_node_count,
            "api_latency_ms": c.api_latency_ms,
        },
        key=["name"],
    )


def list_member_clusters(session: Session, *, region: str | None = None) -> list[MemberClusterData]:
    m = MemberClusterSeen
    stmt = select(m).execution_options(populate_existing=True).order_by(m.region, m.name)
    if region is not None:
        stmt = stmt.where(m.region == region)
    return [_cluster(r) for r in session.scalars(stmt)]


def delete_member_cluster(session: Session, name: str) -> bool:
    """Forget a member cluster (its MemberCluster was deleted); True if it was known."""
    row = session.get(MemberClusterSeen, name)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def _cluster(r: MemberClusterSeen) -> MemberClusterData:
    return MemberClusterData(
        name=r.name,
        region=r.region,
        reachable=r.reachable,
        last_seen=r.last_seen,
        kubernetes_version=r.kubernetes_version,
        node_count=r.node_count,
        ready_node_count=r.ready_node_count,
        api_latency_ms=r.api_latency_ms,
    )
