"""Two replicas' embedded servers over one store: the standby answers what the leader published,
SERVFAIL before it has read anything, and takes over without an empty answer or a re-publish."""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from federation.dns.lines import LineClassifier
from federation.dns.providers.embedded import EmbeddedProvider
from federation.dns.publisher import DnsPublisher
from federation.dns.replica import StoreFollower
from federation.dns.server import DnsServer
from federation.store.db import Database
from federation.store.dnslog import list_dns_changes
from federation.store.dnsstore import DatabaseDnsStore
from tests.dns.conftest import SUBNETS, spec
from tests.dns.test_publisher import APP, regions
from tests.waiting import wait_for


class Replica:
    def __init__(self, server: DnsServer, db: Database) -> None:
        self.server = server
        self.provider = EmbeddedProvider(server, zones=["example.com"])
        self.follower = StoreFollower(self.provider, DatabaseDnsStore(db), interval=0.05)
        self.publisher = DnsPublisher(self.provider, store=DatabaseDnsStore(db))

    async def ask(self, name: str = "www.example.com", line: str | None = None) -> tuple[str, bool, set[str]]:
        options = [dns.edns.ECSOption.from_text(SUBNETS[line])] if line else []
        q = dns.message.make_query(name, "A", use_edns=0, options=options)
        assert self.server.address is not None
        msg = await dns.asyncquery.udp(q, self.server.address[0], port=self.server.address[1], timeout=2)
        values = {rd.to_text() for rrset in msg.answer for rd in rrset}
        return dns.rcode.to_text(msg.rcode()), bool(msg.flags & dns.flags.AA), values


@pytest.fixture
async def pair(classifier: LineClassifier, db: Database) -> AsyncIterator[tuple[Replica, Replica]]:
    servers = [DnsServer(classifier), DnsServer(classifier)]
    for s in servers:
        await s.start()
    a, b = Replica(servers[0], db), Replica(servers[1], db)
    yield a, b
    for r in (a, b):
        await r.follower.stop()
        await r.server.stop()


async def test_a_replica_that_has_loaded_nothing_answers_servfail_not_a_negative_answer(
    pair: tuple[Replica, Replica],
) -> None:
    a, _b = pair
    assert await a.ask() == ("SERVFAIL", False, set())
    assert await a.ask("www.example.org") == ("SERVFAIL", False, set())
    assert await a.follower.sync() == 0  # an empty store: nothing published anywhere yet
    assert (await a.ask())[:2] == ("NXDOMAIN", True)  # now it knows: the zone has no such name
    assert (await a.ask("www.example.org"))[0] == "REFUSED"


async def test_the_standby_serves_what_the_leader_published_and_takes_over_without_a_change(
    pair: tuple[Replica, Replica], db: Database
) -> None:
    leader, standby = pair
    await leader.follower.lead()
    standby.follower.start()
    first = await leader.publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regions())
    assert first.ok
    assert first.changes

    async def standby_agrees() -> bool:
        return all([await standby.ask(line=line) == await leader.ask(line=line) for line in SUBNETS])

    await wait_for(standby_agrees, 5, "the standby answering the leader's records")
    assert (await standby.ask(line="cn_telecom_zhejiang"))[2] == {"10.0.0.1"}

    # a region fails: the leader moves its clients, the standby follows
    await leader.publisher.publish(APP, spec("Latency", latencyToleranceMs=5), regions(cn_hangzhou=False))
    await wait_for(standby_agrees, 5, "the standby following the leader's change")
    assert (await standby.ask(line="cn_telecom_zhejiang"))[2] != {"10.0.0.1"}

    # the leader dies; the standby leads: same answers, and its first publish has nothing to do
    logged = len(db.call(list_dns_changes, limit=10_000))
    await standby.follower.lead()
    standby.publisher.forget_owners()
    again = await standby.publisher.publish(
        APP, spec("Latency", latencyToleranceMs=5), regions(cn_hangzhou=False)
    )
    assert again.ok
    assert again.changes == []
    assert len(db.call(list_dns_changes, limit=10_000)) == logged

    # the old leader, back as a standby, follows the new leader's release of the name
    leader.follower.follow()
    leader.follower.start()
    released = await standby.publisher.delete(APP, "example.com", ["www.example.com"])
    assert released.ok
    assert released.changes

    async def gone_on_both() -> bool:
        return all([(await r.ask())[0] == "NXDOMAIN" for r in (leader, standby)])

    await wait_for(gone_on_both, 5, "the released name gone from both replicas")


async def test_loading_a_zone_again_rebuilds_only_the_names_that_changed(
    pair: tuple[Replica, Replica],
) -> None:
    from federation.dns.records import Record

    a, _b = pair

    def recs(www: str) -> list[Record]:
        return [
            Record("www.example.com", "A", "default", www, 60),
            Record("api.example.com", "A", "default", "192.0.2.2", 60),
            Record("old.example.com", "A", "default", "192.0.2.3", 60),
        ]

    assert a.provider.load("example.com", recs("192.0.2.1")) == 3
    assert a.provider.load("example.com", recs("192.0.2.1")) == 0
    assert a.provider.load("example.com", recs("192.0.2.9")[:2]) == 2  # www changed, old gone
    a.server.loaded = True  # what the follower does after a load
    assert (await a.ask())[2] == {"192.0.2.9"}
    assert (await a.ask("api.example.com"))[2] == {"192.0.2.2"}
    assert (await a.ask("old.example.com"))[0] == "NXDOMAIN"
    assert sorted(await a.provider.records("example.com")) == sorted(recs("192.0.2.9")[:2])
