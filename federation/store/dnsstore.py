"""The SQL store as DNS publishing's :class:`~federation.dns.store.DnsStore` (change log, published
records, latency medians), each call one unit of work on the store's thread pool."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from federation.dns.plan import Change
from federation.dns.records import Record
from federation.store.db import Database
from federation.store.dnslog import (
    DnsChangeData,
    append_dns_changes,
    describe,
    load_published_names,
    load_published_zone,
    replace_published_records,
    zone_serials,
)
from federation.store.latency import latency_matrix_samples


class DatabaseDnsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def append_changes(self, zone: str, app: str, changes: Sequence[Change], at: datetime) -> None:
        rows = [
            DnsChangeData(
                zone=zone,
                name=c.record.name,
                rtype=c.record.rtype,
                line=c.record.line,
                action=c.action,
                reason=c.reason or "changed",
                at=at,
                old=describe(c.old if c.action == "update" else (c.record if c.action == "delete" else None)),
                new=describe(c.record if c.action != "delete" else None),
                app=app,
            )
            for c in changes
        ]
        await self.db.run(append_dns_changes, rows)

    async def replace_published(
        self,
        zone: str,
        records: Sequence[Record],
        *,
        owner_app: str,
        provider_ids: Mapping[tuple[str, str, str, str], str] | None = None,
    ) -> None:
        await self.db.run(
            replace_published_records, zone, list(records), owner_app=owner_app, provider_ids=provider_ids
        )

    async def zone_serials(self) -> Mapping[str, int]:
        return await self.db.run(zone_serials)

    async def published_zone(self, zone: str) -> tuple[int, list[Record]]:
        return await self.db.run(load_published_zone, zone)

    async def published_names(self, zone: str, names: Collection[str]) -> list[Record]:
        return await self.db.run(load_published_names, zone, list(names))

    async def latency_medians(self, since: datetime) -> Mapping[tuple[str, str], float]:
        medians = await self.db.run(latency_matrix_samples, since)
        return {(m.source, m.region): m.median_ms for m in medians}
