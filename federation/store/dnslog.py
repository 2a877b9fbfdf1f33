"""DNS as we published it, and the log of every change we made to it with its reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.dns.records import Record
from federation.store.models import DETAIL_LEN, DnsAction, DnsChange, DnsZoneSerial, PublishedRecord
from federation.store.upsert import upsert
from federation.store.values import aware, clip, one_of, utcnow

RecordKey = tuple[str, str, str, str]  # Record.key: (name, rtype, line, value)


class RecordOwnershipError(ValueError):
    """A record to publish already exists in the zone under another owner."""


@dataclass(frozen=True, slots=True)
class PublishedRecordData:
    zone: str
    record: Record
    published_at: datetime
    owner_app: str | None = None
    provider_record_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    added: int
    removed: int
    updated: int  # same key, different TTL / weight / provider id
    unchanged: int


@dataclass(frozen=True, slots=True)
class DnsChangeData:
    zone: str
    name: str
    rtype: str
    line: str
    action: str  # a DnsAction value
    # created | fail-open | region-unhealthy | region-recovered | latency-shift | weight-change |
    # ttl-change | policy-change | released (see federation/dns/publisher.py)
    reason: str
    at: datetime
    old: str | None = None
    new: str | None = None
    app: str | None = None


def describe(record: Record | None) -> str | None:
    """A record's value as the change log shows it: ``1.2.3.4 ttl=60 weight=50``."""
    if record is None:
        return None
    weight = f" weight={record.weight}" if record.weight is not None else ""
    return f"{record.value} ttl={record.ttl}{weight}"


def _record(r: PublishedRecord) -> Record:
    return Record(name=r.name, rtype=r.rtype, line=r.line, value=r.value, ttl=r.ttl, weight=r.weight)


def replace_published_records(
    session: Session,
    zone: str,
    records: Iterable[Record],
    *,
    owner_app: str | None = None,
    provider_ids: Mapping[RecordKey, str] | None = None,
    at: datetime | None = None,
) -> ReplaceResult:
    """Make the stored records of ``zone`` (only those of ``owner_app`` when given) equal ``records``.

    Records of other owners in the zone are left alone; a new record whose key another owner holds
    raises :class:`RecordOwnershipError` (we never take over what we don't own).
    """
    when = aware("at", at) if at is not None else utcnow()
    ids = provider_ids or {}
    stmt = select(PublishedRecord).where(PublishedRecord.zone == zone)
    existing = {(r.name, r.rtype, r.line, r.value): r for r in session.scalars(stmt)}
    wanted: dict[RecordKey, Record] = {}
    for rec in records:
        wanted[rec.key] = rec
    if owner_app is not None:
        for key, rec in wanted.items():
            other = existing.get(key)
            if other is not None and other.owner_app != owner_app:
                raise RecordOwnershipError(
                    f"record {rec.name} {rec.rtype} line={rec.line} value={rec.value} in zone {zone} "
                    f"is owned by {other.owner_app or 'nobody we know'}, not {owner_app}"
                )
    added = removed = updated = unchanged = 0
    for key, old in existing.items():
        if (owner_app is None or old.owner_app == owner_app) and key not in wanted:
            session.delete(old)
            removed += 1
    for key, rec in wanted.items():
        row = existing.get(key)
        pid = ids.get(key)
        if row is None:
            session.add(
                PublishedRecord(
                    zone=zone,
                    name=rec.name,
                    rtype=rec.rtype,
                    line=rec.line,
                    value=rec.value,
                    ttl=rec.ttl,
                    weight=rec.weight,
                    provider_record_id=pid,
                    owner_app=owner_app,
                    published_at=when,
                )
            )
            added += 1
        elif (row.ttl, row.weight) != (rec.ttl, rec.weight) or pid not in (None, row.provider_record_id):
            row.ttl, row.weight, row.published_at = rec.ttl, rec.weight, when
            if pid is not None:
                row.provider_record_id = pid
            updated += 1
        else:
            unchanged += 1
    if added or removed or updated:
        bump_zone_serial(session, zone, at=when)
    session.flush()
    return ReplaceResult(added=added, removed=removed, updated=updated, unchanged=unchanged)


def bump_zone_serial(session: Session, zone: str, *, at: datetime | None = None) -> None:
    """Count one more change to ``zone``'s published records (atomic: concurrent writers each count)."""
    when = aware("at", at) if at is not None else utcnow()
    upsert(
        session,
        DnsZoneSerial,
        {"zone": zone, "serial": 1, "changed_at": when},
        ["zone"],
        update=lambda new: {"serial": DnsZoneSerial.serial + 1, "changed_at": new.changed_at},
    )


def zone_serials(session: Session) -> dict[str, int]:
    """Every zone that ever had published records, with its change counter: a replica reloads a
    zone's records when its counter moved."""
    rows = session.execute(select(DnsZoneSerial.zone, DnsZoneSerial.serial))
    return {row[0]: row[1] for row in rows}


def load_published_zone(session: Session, zone: str) -> tuple[int, list[Record]]:
    """(serial, records) of ``zone``. The serial is read first: a change committed in between shows
    up as a newer serial at the next poll (read the other way round, it could be missed)."""
    serial = session.scalar(select(DnsZoneSerial.serial).where(DnsZoneSerial.zone == zone)) or 0
    p = PublishedRecord
    rows = session.scalars(select(p).where(p.zone == zone).order_by(p.name, p.rtype, p.line, p.value))
    return serial, [_record(r) for r in rows]


def load_published_names(session: Session, zone: str, names: Iterable[str]) -> list[Record]:
    """The records published now (by any app) on ``names`` of ``zone``: one indexed query."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    p = PublishedRecord
    stmt = select(p).where(p.zone == zone, p.name.in_(wanted)).order_by(p.name, p.rtype, p.line, p.value)
    return [_record(r) for r in session.scalars(stmt)]


def list_published_records(
    session: Session, zone: str, *, owner_app: str | None = None, name: str | None = None
) -> list[PublishedRecordData]:
    """Records of a zone as last published, ordered by name, type, line and value."""
    p = PublishedRecord
    stmt = select(p).where(p.zone == zone).order_by(p.name, p.rtype, p.line, p.value)
    if owner_app is not None:
        stmt = stmt.where(PublishedRecord.owner_app == owner_app)
    if name is not None:
        stmt = stmt.where(PublishedRecord.name == name)
    return [
        PublishedRecordData(
            zone=r.zone,
            record=_record(r),
            published_at=r.published_at,
            owner_app=r.owner_app,
            provider_record_id=r.provider_record_id,
        )
        for r in session.scalars(stmt)
    ]


def append_dns_changes(session: Session, changes: Iterable[DnsChangeData]) -> int:
    """Append changes to the log (one publish = one call); returns how many."""
    rows = [
        DnsChange(
            zone=c.zone,
            name=c.name,
            rtype=c.rtype,
            line=c.line,
            action=one_of("action", c.action, DnsAction).value,
            old=clip(c.old, DETAIL_LEN),
            new=clip(c.new, DETAIL_LEN),
            reason=clip(c.reason, DETAIL_LEN) or "",
            app=c.app,
            at=aware("at", c.at),
        )
        for c in changes
    ]
    session.add_all(rows)
    return len(rows)


def list_dns_changes(
    session: Session,
    *,
    app: str | None = None,
    zone: str | None = None,
    name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[DnsChangeData]:
    """The change log matching the filters, newest first (``offset`` rows skipped: paging)."""
    stmt = select(DnsChange).order_by(DnsChange.at.desc(), DnsChange.id.desc())
    if app is not None:
        stmt = stmt.where(DnsChange.app == app)
    if zone is not None:
        stmt = stmt.where(DnsChange.zone == zone)
    if name is not None:
        stmt = stmt.where(DnsChange.name == name)
    if since is not None:
        stmt = stmt.where(DnsChange.at >= aware("since", since))
    if until is not None:
        stmt = stmt.where(DnsChange.at < aware("until", until))
    return [
        DnsChangeData(
            zone=r.zone,
            name=r.name,
            rtype=r.rtype,
            line=r.line,
            action=r.action,
            reason=r.reason,
            at=r.at,
            old=r.old,
            new=r.new,
            app=r.app,
        )
        for r in session.scalars(stmt.limit(limit).offset(offset))
    ]
