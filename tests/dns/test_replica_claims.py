"""Hostname claims between sharded replicas on the embedded provider: each publishes its own apps into
its own server and the store, and sees the other's records only when its follower next loads the
store. A claim is checked against the store itself, so a name the other replica claimed a moment ago
is a conflict at once; two claims that raced are loaded from the store on both replicas, so both apps
are told, naming both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection

import pytest

from federation.dns.lines import LineClassifier
from federation.dns.plan import owner_name, owner_record
from federation.dns.providers.embedded import EmbeddedProvider
from federation.dns.publisher import AppIdentity, DnsPublisher
from federation.dns.records import Record
from federation.dns.replica import StoreFollower
from federation.dns.server import DnsServer
from federation.dns.steering import RegionEndpoint
from federation.store.db import Database
from federation.store.dnslog import list_published_records
from federation.store.dnsstore import DatabaseDnsStore
from tests.dns.conftest import spec

ZONE = "example.com"
WWW = f"www.{ZONE}"
APP_A = AppIdentity("default", "a", "uid-a")
APP_B = AppIdentity("default", "b", "uid-b")
REGIONS_A = [RegionEndpoint("cn-hangzhou", "10.0.0.1", True)]
REGIONS_B = [RegionEndpoint("us-west-1", "10.0.9.9", True)]


class Replica:
    """One sharded replica's DNS side, publishing only ``app`` and loading the rest from the store."""

    def __init__(self, server: DnsServer, store: DatabaseDnsStore, app: AppIdentity) -> None:
        self.server = server
        self.provider = EmbeddedProvider(server, zones=[ZONE])
        self.follower = StoreFollower(self.provider, store, interval=0.05)
        self.follower.keep = lambda owner: owner == app.key
        self.provider.fresh = store.published_names  # what federation.runtime wires when sharded
        self.publisher = DnsPublisher(self.provider, store=store)

    def names(self, name: str) -> set[Record]:
        return {r for r in self.provider.snapshot(ZONE) if r.name in (name, owner_name(name))}


class HeldStore(DatabaseDnsStore):
    """The store, except that a claim check's read answers only once both replicas have made theirs:
    two claims within the same instant."""

    def __init__(self, db: Database, barrier: asyncio.Barrier) -> None:
        super().__init__(db)
        self.barrier = barrier

    async def published_names(self, zone: str, names: Collection[str]) -> list[Record]:
        found = await super().published_names(zone, names)
        await self.barrier.wait()
        return found


@pytest.fixture
async def servers(classifier: LineClassifier) -> AsyncIterator[tuple[DnsServer, DnsServer]]:
    pair = (DnsServer(classifier), DnsServer(classifier))
    for s in pair:
        await s.start()
    yield pair
    for s in pair:
        await s.stop()


def _stored(db: Database, app: AppIdentity) -> set[Record]:
    return {row.record for row in db.call(list_published_records, ZONE, owner_app=app.key)}


async def test_a_replica_finds_the_other_replicas_claim_in_the_store_before_its_follower_does(
    servers: tuple[DnsServer, DnsServer], db: Database
) -> None:
    store = DatabaseDnsStore(db)
    ra, rb = Replica(servers[0], store, APP_A), Replica(servers[1], store, APP_B)
    await ra.follower.sync()
    await rb.follower.sync()
    first = await ra.publisher.publish(APP_A, spec("Weighted"), REGIONS_A)
    assert first.ok, first.message
    assert rb.names(WWW) == set()  # B's follower has not loaded A's publish yet

    claim = await rb.publisher.publish(APP_B, spec("Weighted"), REGIONS_B)
    assert not claim.ok
    assert claim.reason == "HostnameConflict"
    assert claim.message == f"{WWW}: owned by default/a"
    assert claim.changes == []
    assert _stored(db, APP_B) == set()  # nothing of b's published anywhere
    assert rb.names(WWW) == {owner_record(WWW, APP_A.key)}  # what the check read is in B's view
    assert _stored(db, APP_A) == {
        Record(WWW, "A", "default", "10.0.0.1", 60),
        owner_record(WWW, APP_A.key),
    }


async def test_a_replica_without_the_store_check_claims_the_name_too(
    servers: tuple[DnsServer, DnsServer], db: Database
) -> None:
    """What the check prevents: B's own view, one poll behind the store, shows the name free."""
    store = DatabaseDnsStore(db)
    ra, rb = Replica(servers[0], store, APP_A), Replica(servers[1], store, APP_B)
    rb.provider.fresh = None
    await ra.publisher.publish(APP_A, spec("Weighted"), REGIONS_A)
    claim = await rb.publisher.publish(APP_B, spec("Weighted"), REGIONS_B)
    assert claim.ok
    assert owner_record(WWW, APP_B.key) in _stored(db, APP_B)


async def test_claims_that_raced_are_reported_by_both_replicas_until_one_app_gives_the_name_up(
    servers: tuple[DnsServer, DnsServer], db: Database
) -> None:
    barrier = asyncio.Barrier(2)
    ra = Replica(servers[0], HeldStore(db, barrier), APP_A)
    rb = Replica(servers[1], HeldStore(db, barrier), APP_B)
    a, b = await asyncio.gather(
        ra.publisher.publish(APP_A, spec("Weighted"), REGIONS_A),
        rb.publisher.publish(APP_B, spec("Weighted"), REGIONS_B),
    )
    assert a.ok, a.message  # neither could tell at the time
    assert b.ok, b.message

    # Each follower loads the name from the store although its own app publishes it: another app
    # claims it there too. Both apps are told, naming both, and neither touches the name.
    await ra.follower.sync()
    await rb.follower.sync()
    expected = (
        f"{WWW}: claimed by both default/a and default/b (their claims raced); its records are left as "
        "they are until one of the apps gives the name up"
    )
    both = _stored(db, APP_A) | _stored(db, APP_B)
    for replica, app, regions in ((ra, APP_A, REGIONS_A), (rb, APP_B, REGIONS_B)):
        assert replica.names(WWW) == both
        result = await replica.publisher.publish(app, spec("Weighted"), regions)
        assert not result.ok
        assert result.reason == "HostnameConflict"
        assert result.message == expected
        assert result.changes == []
    assert _stored(db, APP_A) | _stored(db, APP_B) == both

    # App a is deleted: only its marker goes (its rows leave the store), and b is the sole owner.
    gone = await ra.publisher.delete(APP_A, ZONE, [WWW])
    assert gone.ok
    assert [(c.action, c.record) for c in gone.changes] == [("delete", owner_record(WWW, APP_A.key))]
    await rb.follower.sync()
    settled = await rb.publisher.publish(APP_B, spec("Weighted"), REGIONS_B)
    assert settled.ok, settled.message
    mine = {Record(WWW, "A", "default", "10.0.9.9", 60), owner_record(WWW, APP_B.key)}
    assert rb.names(WWW) == mine
    assert _stored(db, APP_A) == set()
    assert _stored(db, APP_B) == mine
    await ra.follower.sync()
    assert ra.names(WWW) == mine
