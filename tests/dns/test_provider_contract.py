"""One contract, two providers: the embedded server and alidns (against the Alibaba Cloud emulator).

Each test publishes through ``DnsProvider.apply`` and checks both what ``records(zone)`` reads back
and what real DNS queries (dnspython, with EDNS Client Subnet) are answered from each client line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import dns.asyncquery
import dns.edns
import dns.message
import pytest

from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.dns.lines import LineClassifier
from federation.dns.plan import Change, Plan, make_plan, owner_record
from federation.dns.providers import DnsProvider, DnsProviderError
from federation.dns.providers.alidns import AlidnsProvider
from federation.dns.providers.embedded import EmbeddedProvider
from federation.dns.records import DEFAULT_LINE, Record
from federation.dns.server import DnsServer
from federation.sandbox.aliyun import AliyunEmulator

ZONE = "example.com"
ME = "default/shop"
# Real networks of the shipped table: CERNET (edu), China Unicom Beijing, a US network.
EDU, UNICOM_BJ, US = "202.112.0.0/24", "61.135.169.0/24", "8.8.8.0/24"


@dataclass
class Target:
    provider: DnsProvider
    dns: tuple[str, int]
    emu: AliyunEmulator | None = None

    def writes(self) -> int:
        if self.emu is None:
            return 0
        counts = self.emu.call_counts().items()
        return sum(n for action, n in counts if not action.startswith("Alidns.Describe"))

    def reads(self) -> int:
        if self.emu is None:
            return 0
        return sum(n for action, n in self.emu.call_counts().items() if action.startswith("Alidns.Describe"))


@pytest.fixture(params=["embedded", "alidns"])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == "embedded":
        server = DnsServer(LineClassifier.default())
        address = await server.start()
        yield Target(EmbeddedProvider(server, zones=[ZONE]), address)
        await server.stop()
        return
    emu = AliyunEmulator(domains=[ZONE], edition="enterprise_standard", seed=3)
    await emu.start("127.0.0.1", 0)
    client = AlibabaClient(emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint)
    assert emu.dns_address is not None
    yield Target(AlidnsProvider(AlidnsApi(client), zones=[ZONE]), emu.dns_address, emu)
    await client.close()
    await emu.stop()


async def resolve(t: Target, name: str, subnet: str) -> set[str]:
    q = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.ECSOption.from_text(subnet)])
    msg = await dns.asyncquery.udp(q, t.dns[0], port=t.dns[1], timeout=2)
    return {rd.to_text() for rrset in msg.answer for rd in rrset if rrset.rdtype == 1}


def www(line: str, value: str, weight: int | None = None, ttl: int = 60) -> Record:
    return Record("www.example.com", "A", line, value, ttl, weight)


DESIRED = [
    www(DEFAULT_LINE, "10.0.0.1"),
    www(DEFAULT_LINE, "10.0.0.2"),
    www("edu", "10.0.1.1", 3),
    www("edu", "10.0.1.2", 1),
    www("unicom", "10.0.2.1"),
]


async def publish(t: Target, desired: list[Record]) -> Plan:
    plan = make_plan(ZONE, ME, desired, await t.provider.records(ZONE))
    await t.provider.apply(plan)
    return plan


async def test_publish_reads_back_and_answers_per_line(target: Target) -> None:
    await publish(target, DESIRED)
    got = {r for r in await target.provider.records(ZONE) if r.name == "www.example.com"}
    assert got == set(DESIRED)
    assert owner_record("www.example.com", ME) in await target.provider.records(ZONE)
    assert await resolve(target, "www.example.com", EDU) <= {"10.0.1.1", "10.0.1.2"}
    assert await resolve(target, "www.example.com", UNICOM_BJ) == {"10.0.2.1"}  # carrier-province -> unicom
    assert await resolve(target, "www.example.com", US) == {"10.0.0.1", "10.0.0.2"}  # default


async def test_steady_state_makes_no_writes_and_at_most_one_read(target: Target) -> None:
    await publish(target, DESIRED)
    writes, reads = target.writes(), target.reads()
    for _ in range(5):
        plan = make_plan(ZONE, ME, DESIRED, await target.provider.records(ZONE))
        assert plan.empty
        await target.provider.apply(plan)
    assert target.writes() == writes
    assert target.reads() - reads <= 1


async def test_changes_values_weights_and_lines_in_place(target: Target) -> None:
    await publish(target, DESIRED)
    changed = [
        www(DEFAULT_LINE, "10.0.0.1"),
        www(DEFAULT_LINE, "10.0.0.3"),
        www("edu", "10.0.1.1", 1),
        www("edu", "10.0.1.2", 4),
        www("os_namerica", "10.0.3.1"),
    ]
    plan = await publish(target, changed)
    assert {c.action for c in plan.changes} >= {"update", "create", "delete"}
    got = {r for r in await target.provider.records(ZONE) if r.name == "www.example.com"}
    assert got == set(changed)
    assert await resolve(target, "www.example.com", US) == {"10.0.3.1"}
    assert await resolve(target, "www.example.com", UNICOM_BJ) == {"10.0.0.1", "10.0.0.3"}
    if isinstance(target.provider, AlidnsProvider):  # a fresh reader (a restarted controller) agrees
        target.provider.invalidate()
        fresh = {r for r in await target.provider.records(ZONE) if r.name == "www.example.com"}
        assert fresh == set(changed)


async def test_foreign_records_are_never_touched_and_release_removes_only_ours(target: Target) -> None:
    foreign = Record("legacy.example.com", "A", DEFAULT_LINE, "192.0.2.7", 600)
    await target.provider.apply(Plan(ZONE, (Change("create", foreign),)))
    await publish(target, DESIRED)
    plan = make_plan(
        ZONE,
        ME,
        [Record("legacy.example.com", "A", DEFAULT_LINE, "10.9.9.9", 60)],
        await target.provider.records(ZONE),
    )
    assert plan.conflicts
    assert all(c.record.name != "legacy.example.com" for c in plan.changes)
    release = make_plan(ZONE, ME, [], await target.provider.records(ZONE))
    await target.provider.apply(release)
    left = await target.provider.records(ZONE)
    assert foreign in left
    assert not [r for r in left if "www.example.com" in r.name]
    assert await resolve(target, "legacy.example.com", US) == {"192.0.2.7"}


async def test_a_refused_change_reports_how_far_it_got(target: Target) -> None:
    await publish(target, DESIRED)
    cname = Record("www.example.com", "CNAME", "unicom", "origin.example.net", 60)
    clash = Plan(ZONE, (Change("create", www("unicom", "10.0.2.2")), Change("create", cname)))
    with pytest.raises(DnsProviderError) as info:
        await target.provider.apply(clash)
    assert info.value.applied == 1
    assert info.value.code == "DomainRecordConflict"
    got = {r for r in await target.provider.records(ZONE) if r.line == "unicom"}
    assert got == {www("unicom", "10.0.2.1"), www("unicom", "10.0.2.2")}
