"""Regions and member clusters as the controller last saw them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.store.models import MemberClusterSeen, Region
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
    row = session.get(Region, name)
    if row is None:
        row = Region(name=name, first_seen=when, last_seen=when)
        session.add(row)
        session.flush()
    elif when > row.last_seen:
        row.last_seen = when
    return RegionData(row.name, row.first_seen, row.last_seen)


def list_regions(session: Session) -> list[RegionData]:
    rows = session.scalars(select(Region).order_by(Region.name))
    return [RegionData(r.name, r.first_seen, r.last_seen) for r in rows]


def upsert_member_cluster(session: Session, cluster: MemberClusterData) -> None:
    """Store what we observed of a member cluster (its region is recorded too)."""
    ensure_region(session, cluster.region, at=cluster.last_seen)
    row = session.get(MemberClusterSeen, cluster.name)
    if row is None:
        row = MemberClusterSeen(name=cluster.name)
        session.add(row)
    row.region = cluster.region
    row.reachable = cluster.reachable
    row.last_seen = aware("last_seen", cluster.last_seen)
    row.kubernetes_version = cluster.kubernetes_version
    row.node_count = cluster.node_count
    row.ready_node_count = cluster.ready_node_count
    row.api_latency_ms = cluster.api_latency_ms


def list_member_clusters(session: Session, *, region: str | None = None) -> list[MemberClusterData]:
    stmt = select(MemberClusterSeen).order_by(MemberClusterSeen.region, MemberClusterSeen.name)
    if region is not None:
        stmt = stmt.where(MemberClusterSeen.region == region)
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
        name=r.name, region=r.region, reachable=r.reachable, last_seen=r.last_seen,
        kubernetes_version=r.kubernetes_version, node_count=r.node_count,
        ready_node_count=r.ready_node_count, api_latency_ms=r.api_latency_ms)
