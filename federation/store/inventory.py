"""The inventory of cloud resources we created, by owner: what a finalizer must clean up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.store.models import CloudResource
from federation.store.values import aware, utcnow


@dataclass(frozen=True, slots=True)
class ResourceData:
    provider: str  # "alibaba", "embedded"
    kind: str  # "slb", "listener", "dns-record", "cen-attachment", ...
    resource_id: str
    region: str
    owner_namespace: str
    owner_name: str
    owner_uid: str
    created_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)  # never a secret
    deleted_at: datetime | None = None


def _find(session: Session, provider: str, kind: str, region: str, resource_id: str) -> CloudResource | None:
    return session.scalars(
        select(CloudResource).where(
            CloudResource.provider == provider,
            CloudResource.kind == kind,
            CloudResource.region == region,
            CloudResource.resource_id == resource_id,
        )
    ).one_or_none()


def _data(r: CloudResource) -> ResourceData:
    return ResourceData(
        provider=r.provider,
        kind=r.kind,
        resource_id=r.resource_id,
        region=r.region,
        owner_namespace=r.owner_namespace,
        owner_name=r.owner_name,
        owner_uid=r.owner_uid,
        created_at=r.created_at,
        attributes=dict(r.attributes),
        deleted_at=r.deleted_at,
    )


def inventory_add(session: Session, resource: ResourceData) -> ResourceData:
    """Record a created (or adopted) resource; repeating it updates the row, and revives a deleted one.

    Idempotent like every create in this project: the key is (provider, kind, region, resource_id).
    """
    r = resource
    row = _find(session, r.provider, r.kind, r.region, r.resource_id)
    if row is None:
        row = CloudResource(
            provider=r.provider,
            kind=r.kind,
            region=r.region,
            resource_id=r.resource_id,
            created_at=aware("created_at", r.created_at),
        )
        session.add(row)
    row.owner_namespace = r.owner_namespace
    row.owner_name = r.owner_name
    row.owner_uid = r.owner_uid
    row.attributes = dict(r.attributes)
    row.deleted_at = aware("deleted_at", r.deleted_at) if r.deleted_at is not None else None
    session.flush()
    return _data(row)


def inventory_mark_deleted(
    session: Session, *, provider: str, kind: str, region: str, resource_id: str, at: datetime | None = None
) -> bool:
    """Mark a resource deleted (kept for history); False if it was never recorded."""
    row = _find(session, provider, kind, region, resource_id)
    if row is None:
        return False
    if row.deleted_at is None:
        row.deleted_at = aware("at", at) if at is not None else utcnow()
    return True


def inventory_list(
    session: Session,
    *,
    owner_uid: str | None = None,
    owner_namespace: str | None = None,
    owner_name: str | None = None,
    kind: str | None = None,
    region: str | None = None,
    provider: str | None = None,
    include_deleted: bool = False,
) -> list[ResourceData]:
    """Resources matching the filters, oldest first; live ones only unless ``include_deleted``."""
    stmt = select(CloudResource).order_by(CloudResource.created_at, CloudResource.id)
    if owner_uid is not None:
        stmt = stmt.where(CloudResource.owner_uid == owner_uid)
    if owner_namespace is not None:
        stmt = stmt.where(CloudResource.owner_namespace == owner_namespace)
    if owner_name is not None:
        stmt = stmt.where(CloudResource.owner_name == owner_name)
    if kind is not None:
        stmt = stmt.where(CloudResource.kind == kind)
    if region is not None:
        stmt = stmt.where(CloudResource.region == region)
    if provider is not None:
        stmt = stmt.where(CloudResource.provider == provider)
    if not include_deleted:
        stmt = stmt.where(CloudResource.deleted_at.is_(None))
    return [_data(r) for r in session.scalars(stmt)]
