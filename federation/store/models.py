"""The store's tables as SQLAlchemy 2 typed models.

The database holds what the cluster and the cloud cannot tell us again: health history (samples,
current state with its hysteresis counters, transitions), latency samples, the inventory of cloud
resources we created, the DNS records as we published them and the DNS change log. Losing it loses
history, never correctness (see ARCHITECTURE.md).

No secret is ever stored here: no AccessKey secret, token, password or kubeconfig. Member clusters
are recorded by name and what we observed of them; their credentials stay in Kubernetes Secrets.
``tests/store/test_no_secrets.py`` guards the column names.

Every timestamp is :class:`~federation.store.types.UTCDateTime`. Enumerated columns are short
strings with a named CHECK constraint (portable, and Alembic renders them the same on both engines).
Indexes follow the reads: latest sample per target, transitions by time, change log by app and time,
and the ``at`` indexes retention pruning deletes by.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from federation.store.types import UTCDateTime

# Deterministic constraint names: Alembic needs them to drop/alter constraints, SQLite batch mode too.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

REGION_LEN = 64
NAME_LEN = 253  # a Kubernetes object name
APP_LEN = 320  # "namespace/name"
UID_LEN = 64
DNS_NAME_LEN = 255
DETAIL_LEN = 1024

# BIGINT ids on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class TargetKind(StrEnum):
    """What a health sample or state is about."""

    CLUSTER = "cluster"  # a member cluster's API server
    NODES = "nodes"  # a member cluster's Ready nodes
    ROLLOUT = "rollout"  # an app's Deployment in one region
    SLB = "slb"  # an app's regional load balancer (backend health)
    ENDPOINT = "endpoint"  # a TCP/HTTP probe of an app's regional VIP
    CEN = "cen"  # a region's CEN attachment


class HealthStateName(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


class DnsAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


def _one_of(column: str, enum: type[StrEnum]) -> str:
    values = ", ".join(f"'{m.value}'" for m in enum)
    return f"{column} IN ({values})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Region(Base):
    """A region we have seen (a member cluster's or a placement's), e.g. ``cn-hangzhou``."""

    __tablename__ = "regions"

    name: Mapped[str] = mapped_column(String(REGION_LEN), primary_key=True)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class MemberClusterSeen(Base):
    """A member cluster as the controller last observed it (the CR holds the desired side)."""

    __tablename__ = "member_clusters"

    name: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    region: Mapped[str] = mapped_column(String(REGION_LEN), ForeignKey("regions.name"), index=True)
    kubernetes_version: Mapped[str | None] = mapped_column(String(64))
    node_count: Mapped[int | None]
    ready_node_count: Mapped[int | None]
    api_latency_ms: Mapped[float | None] = mapped_column(Float)
    reachable: Mapped[bool]
    last_seen: Mapped[datetime]


class HealthSample(Base):
    """One probe result. High volume: pruned after ``sample_retention_days``."""

    __tablename__ = "health_samples"
    __table_args__ = (
        CheckConstraint(_one_of("target_kind", TargetKind), name="target_kind"),
        # Latest sample(s) per target, and a target's history for the dashboard.
        Index(None, "target_kind", "target_id", "at"),
        Index(None, "region", "at"),
        Index(None, "app", "at"),
        Index(None, "at"),  # retention pruning
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(DNS_NAME_LEN))
    region: Mapped[str] = mapped_column(String(REGION_LEN))
    app: Mapped[str | None] = mapped_column(String(APP_LEN))
    ok: Mapped[bool]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(String(DETAIL_LEN))
    at: Mapped[datetime]


class HealthState(Base):
    """The current, hysteresis-filtered state of one target; one row per target."""

    __tablename__ = "health_states"
    __table_args__ = (
        CheckConstraint(_one_of("target_kind", TargetKind), name="target_kind"),
        CheckConstraint(_one_of("state", HealthStateName), name="state"),
        CheckConstraint("consecutive_failures >= 0 AND consecutive_successes >= 0", name="counters"),
        Index(None, "region"),
        Index(None, "app"),
    )

    target_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(DNS_NAME_LEN), primary_key=True)
    region: Mapped[str] = mapped_column(String(REGION_LEN))
    app: Mapped[str | None] = mapped_column(String(APP_LEN))
    state: Mapped[str] = mapped_column(String(16))
    consecutive_failures: Mapped[int]
    consecutive_successes: Mapped[int]
    since: Mapped[datetime]  # when ``state`` was entered
    last_sample_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(DETAIL_LEN))
    updated_at: Mapped[datetime]


class HealthTransition(Base):
    """A change of a target's state, kept for the dashboard's timeline and post-mortems."""

    __tablename__ = "health_transitions"
    __table_args__ = (
        CheckConstraint(_one_of("target_kind", TargetKind), name="target_kind"),
        CheckConstraint(_one_of("from_state", HealthStateName), name="from_state"),
        CheckConstraint(_one_of("to_state", HealthStateName), name="to_state"),
        Index(None, "at"),
        Index(None, "target_kind", "target_id", "at"),
        Index(None, "region", "at"),
        Index(None, "app", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(DNS_NAME_LEN))
    region: Mapped[str] = mapped_column(String(REGION_LEN))
    app: Mapped[str | None] = mapped_column(String(APP_LEN))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(DETAIL_LEN))
    at: Mapped[datetime]


class LatencySample(Base):
    """A round-trip time from a client population (a DNS line or a probe point) to a region."""

    __tablename__ = "latency_samples"
    __table_args__ = (
        Index(None, "source", "region", "at"),
        Index(None, "at"),  # the matrix reads "since", pruning deletes "before"
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(128))  # alidns line code or probe-point name
    region: Mapped[str] = mapped_column(String(REGION_LEN))
    rtt_ms: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime]


class CloudResource(Base):
    """A cloud resource we created, with the app that owns it; kept after deletion (``deleted_at``)."""

    __tablename__ = "cloud_resources"
    __table_args__ = (
        UniqueConstraint("provider", "kind", "region", "resource_id"),
        Index(None, "owner_uid"),
        Index(None, "owner_namespace", "owner_name"),
        Index(None, "kind", "region"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))  # "alibaba", "embedded"
    kind: Mapped[str] = mapped_column(String(32))  # "slb", "listener", "dns-record", "cen-attachment"
    resource_id: Mapped[str] = mapped_column(String(DNS_NAME_LEN))
    region: Mapped[str] = mapped_column(String(REGION_LEN))
    owner_namespace: Mapped[str] = mapped_column(String(NAME_LEN))
    owner_name: Mapped[str] = mapped_column(String(NAME_LEN))
    owner_uid: Mapped[str] = mapped_column(String(UID_LEN))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    attributes: Mapped[dict[str, Any]]


class PublishedRecord(Base):
    """One DNS record as we last published it (what the provider should hold)."""

    __tablename__ = "dns_published_records"
    __table_args__ = (
        UniqueConstraint("zone", "name", "rtype", "line", "value"),
        Index(None, "owner_app"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zone: Mapped[str] = mapped_column(String(DNS_NAME_LEN))
    name: Mapped[str] = mapped_column(String(DNS_NAME_LEN))
    rtype: Mapped[str] = mapped_column(String(16))
    line: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(DETAIL_LEN))
    ttl: Mapped[int]
    weight: Mapped[int | None]
    provider_record_id: Mapped[str | None] = mapped_column(String(128))
    owner_app: Mapped[str | None] = mapped_column(String(APP_LEN))
    published_at: Mapped[datetime]


class DnsZoneSerial(Base):
    """Per zone, a counter bumped in the same unit of work as every change to its published records:
    the change signal replicas poll to serve what the leader published (``federation.dns.replica``)."""

    __tablename__ = "dns_zone_serials"

    zone: Mapped[str] = mapped_column(String(DNS_NAME_LEN), primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


class DnsChange(Base):
    """One change we made to a DNS record, and why: the answer to 'why did traffic move?'."""

    __tablename__ = "dns_change_log"
    __table_args__ = (
        CheckConstraint(_one_of("action", DnsAction), name="action"),
        Index(None, "app", "at"),
        Index(None, "zone", "name", "at"),
        Index(None, "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zone: Mapped[str] = mapped_column(String(DNS_NAME_LEN))
    name: Mapped[str] = mapped_column(String(DNS_NAME_LEN))
    rtype: Mapped[str] = mapped_column(String(16))
    line: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    old: Mapped[str | None] = mapped_column(String(DETAIL_LEN))  # e.g. "1.2.3.4 ttl=60 weight=50"
    new: Mapped[str | None] = mapped_column(String(DETAIL_LEN))
    # created | fail-open | region-unhealthy | region-recovered | latency-shift | weight-change |
    # ttl-change | policy-change | released (see federation/dns/publisher.py), followed for
    # region-unhealthy by the health reason ("region-unhealthy: VIP 127.0.0.5:80 refused 3 times")
    reason: Mapped[str] = mapped_column(String(DETAIL_LEN))
    app: Mapped[str | None] = mapped_column(String(APP_LEN))
    at: Mapped[datetime]
