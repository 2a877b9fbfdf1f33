"""What DNS publishing needs from the store, as a protocol: the change log, the records an app has
published (and, for the replicas that serve them, each zone's change counter), and the live latency
samples steering prefers over the shipped table.

:class:`federation.store.dnsstore.DatabaseDnsStore` implements it over the SQL store; a test can hand
the publisher an in-memory one. The publisher never fails a publish because of the store: history is
not correctness.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from federation.dns.plan import Change
from federation.dns.records import Record


class DnsStore(Protocol):
    async def append_changes(self, zone: str, app: str, changes: Sequence[Change], at: datetime) -> None:
        """Append applied changes (with their reasons) to the zone's change log."""
        ...

    async def replace_published(
        self,
        zone: str,
        records: Sequence[Record],
        *,
        owner_app: str,
        provider_ids: Mapping[tuple[str, str, str, str], str] | None = None,
    ) -> None:
        """Make the stored records of ``owner_app`` in ``zone`` equal ``records`` (markers included);
        ``provider_ids`` gives the provider's id of each record it knows (alidns RecordIds)."""
        ...

    async def zone_serials(self) -> Mapping[str, int]:
        """Per zone, a counter that moves with every change to its published records (any app's)."""
        ...

    async def published_zone(self, zone: str) -> tuple[int, list[Record]]:
        """(serial, every record published in ``zone``); the serial is read first, so a change
        committed in between shows up as a newer serial later rather than being missed."""
        ...

    async def published_names(self, zone: str, names: Collection[str]) -> list[Record]:
        """The records published now (by any replica's apps) on ``names`` of ``zone`` (a claim check:
        :meth:`federation.dns.providers.embedded.EmbeddedProvider.refresh_names`)."""
        ...

    async def latency_medians(self, since: datetime) -> Mapping[tuple[str, str], float]:
        """The median RTT in ms per (line or probe point, region) over the samples since ``since``."""
        ...
