"""Every replica answers DNS: an embedded server that is not the leader's serves what the leader published.

With the embedded provider each controller replica runs its own authoritative server, but only the
leader publishes. The publisher writes every app's records to the store (``dns_published_records``)
and, in the same unit of work, bumps the zone's serial (``dns_zone_serials``). :class:`StoreFollower`
polls those serials every ``interval`` seconds (one small query) and loads a zone whose serial moved
into the embedded provider, which swaps it into the server in one step: a standby answers what the
leader answers, at most about one interval later.

Leadership: :meth:`StoreFollower.lead` when this replica becomes the leader (a last catch-up from the
store, then the provider's state, equal to what was published, is what the publisher plans against:
a new leader serves the published records from its first instant and publishes only real changes);
:meth:`StoreFollower.follow` when it stops leading.

Before the first successful load the server answers SERVFAIL (``DnsServer.loaded``), so resolvers ask
the other replicas instead of caching a wrong negative answer; a store that becomes unreachable later
leaves the last loaded records in service (stale rather than empty) and is logged once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from federation.dns.plan import claimants, owner_name
from federation.dns.providers.embedded import EmbeddedProvider

if TYPE_CHECKING:
    from federation.dns.records import Record
    from federation.dns.server import DnsServer
    from federation.dns.store import DnsStore

log = logging.getLogger(__name__)

FOLLOW_INTERVAL = 1.0  # seconds between polls of the zone serials


class StoreFollower:
    """Keeps an embedded provider (and its server) equal to the published records in the store."""

    def __init__(
        self, provider: EmbeddedProvider, store: DnsStore, *, interval: float = FOLLOW_INTERVAL
    ) -> None:
        self.provider = provider
        self.store = store
        self.interval = interval
        self.following = True
        # sharded replicas: every one publishes the apps of its shards (``keep(app)`` True) and
        # follows the store for the rest, all the time
        self.keep: Callable[[str], bool] | None = None
        self.loads = 0  # zone loads so far (tests, diagnostics)
        self._serials: dict[str, int] = {}  # zone -> the serial of the records this replica holds
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        if provider.server is not None:
            provider.server.loaded = False

    def _own_names(self, zone: str, stored: Iterable[Record]) -> set[str]:
        """The names (and their ownership markers) of the apps this replica publishes itself. Not a name
        that the store shows claimed by another replica's app as well (two claims that raced): that
        one is loaded, both markers with it, so the publisher reports it to both apps."""
        assert self.keep is not None
        keep = self.keep
        out: set[str] = set()
        mine = claimants(self.provider.snapshot(zone))
        theirs = claimants(stored)
        for hostname, owners in mine.items():
            if all(keep(o) for o in owners | theirs.get(hostname, frozenset())):
                out.update((hostname, owner_name(hostname)))
        return out

    @property
    def server(self) -> DnsServer | None:
        return self.provider.server

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dns follower")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sync(self) -> int:
        """Load every zone whose serial moved since this replica last loaded it; returns how many.
        Raises what the store raises (the caller decides whether that is worth a log line)."""
        async with self._lock:
            serials = await self.store.zone_serials()
            loaded = 0
            for zone, serial in sorted(serials.items()):
                if self._serials.get(zone) == serial:
                    continue
                got, records = await self.store.published_zone(zone)
                if self.keep is not None:
                    # sharded: this replica publishes too, so the merge runs on the loop, between its
                    # own publishes (only the names that changed are rebuilt)
                    self.provider.load(zone, records, self._own_names(zone, records))
                else:
                    # off the event loop: building a big zone's answers takes seconds, and this server
                    # keeps answering meanwhile (each query sees the zone before or after, never a mix)
                    await asyncio.to_thread(self.provider.load, zone, records)
                self._serials[zone] = got
                loaded += 1
            self.loads += loaded
            if self.server is not None:
                self.server.loaded = True
            return loaded

    async def lead(self) -> None:
        """This replica became the leader: catch up once more, then stop following."""
        self.following = False
        try:
            await self.sync()
        except Exception as exc:  # lead anyway: the first reconciles publish what is missing
            log.warning("dns: catching up with the published records before leading failed: %s", exc)
        if self.server is not None:
            self.server.loaded = True  # the leader serves what it publishes

    def follow(self) -> None:
        """This replica stopped leading: serve the store's records again (the next poll loads every
        zone the leader changes)."""
        self.following = True

    async def _run(self) -> None:
        while True:
            if self.following:
                try:
                    n = await self.sync()
                except Exception as exc:  # keep serving the last records loaded; retry next interval
                    if not self._failing:
                        log.warning("dns: reading the published records from the store failed: %s", exc)
                    self._failing = True
                else:
                    if self._failing:
                        log.info("dns: reading the published records from the store again")
                    self._failing = False
                    if n:
                        log.debug("dns: loaded %d zone(s) published by the leader", n)
            await asyncio.sleep(self.interval)
