"""Hostname claims between controller replicas, through the official alidns SDK over HTTP against the
emulator: each replica has its own publisher and zone cache, so a name one replica just claimed can
look free to the other. The claim check reads the name's ownership marker afresh before claiming
(one DescribeSubDomainRecords, only when claiming), and two markers left by claims that raced are
reported as a conflict naming both apps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from federation.api.federatedapp import DnsSpec
from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.dns.plan import owner_name
from federation.dns.providers.alidns import AlidnsProvider
from federation.dns.publisher import AppIdentity, DnsPublisher
from federation.dns.steering import RegionEndpoint
from federation.sandbox.aliyun import AliyunEmulator
from tests.waiting import wait_for

ZONE = "example.com"
SHOP = f"shop.{ZONE}"
APP_A = AppIdentity("default", "a", "uid-a")
APP_B = AppIdentity("default", "b", "uid-b")
REGIONS_A = [RegionEndpoint("cn-hangzhou", "192.0.2.1", True), RegionEndpoint("us-west-1", "192.0.2.2", True)]
REGIONS_B = [RegionEndpoint("cn-beijing", "198.51.100.1", True)]
Row = tuple[str, str, str, str]


def _spec(hostname: str = SHOP) -> DnsSpec:
    return DnsSpec.model_validate({"zone": ZONE, "hostname": hostname, "ttl": 60, "policy": "Weighted"})


def _rows(emu: AliyunEmulator, rr: str) -> set[Row]:
    """(RR, Type, Line, Value) of the zone's records of ``rr`` and of its ownership marker."""
    return {
        (r["RR"], r["Type"], r["Line"], r["Value"])
        for r in emu.state()["alidns"]["records"]
        if r["DomainName"] == ZONE and r["RR"] in (rr, f"_fedctl-owner.{rr}")
    }


def _alidns(counts: dict[str, int]) -> dict[str, int]:
    return {k.removeprefix("Alidns."): v for k, v in counts.items() if k.startswith("Alidns.") and v}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def _writes(calls: dict[str, int]) -> int:
    return sum(n for action, n in calls.items() if not action.startswith("Describe"))


class Replica:
    """One controller replica's DNS side: its own client, provider (zone cache) and publisher."""

    def __init__(self, emu: AliyunEmulator) -> None:
        self.client = AlibabaClient(
            emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint, read_timeout=5
        )
        self.provider = AlidnsProvider(AlidnsApi(self.client), zones=[ZONE])
        self.publisher = DnsPublisher(self.provider)

    def calls(self) -> dict[str, int]:
        return {k: v for k, v in self.provider.calls.items() if v}


@pytest.fixture
async def replicas(emu: AliyunEmulator) -> AsyncIterator[tuple[Replica, Replica]]:
    a, b = Replica(emu), Replica(emu)
    yield a, b
    await a.client.close()
    await b.client.close()


async def test_a_replica_with_a_stale_zone_finds_the_other_replicas_claim_and_writes_nothing(
    emu: AliyunEmulator, replicas: tuple[Replica, Replica]
) -> None:
    ra, rb = replicas
    await rb.provider.records(ZONE)  # B's view of the zone is read before A claims shop
    first = await ra.publisher.publish(APP_A, _spec(), REGIONS_A)
    assert first.ok, first.message
    published = _rows(emu, "shop")
    assert published == {
        ("shop", "A", "default", "192.0.2.1"),
        ("shop", "A", "default", "192.0.2.2"),
        ("_fedctl-owner.shop", "TXT", "default", "heritage=fedctl,owner=default/a"),
    }
    assert owner_name(SHOP) not in {r.name for r in await rb.provider.records(ZONE)}  # B's cache is stale

    before, b_before = emu.call_counts(), rb.calls()
    claim = await rb.publisher.publish(APP_B, _spec(), REGIONS_B)
    assert not claim.ok
    assert claim.reason == "HostnameConflict"
    assert claim.message == f"{SHOP}: owned by default/a"
    assert claim.changes == []
    assert claim.serving == {"cn-beijing": False}
    # B made exactly the one fresh read of the marker, and wrote nothing
    assert _alidns(_delta(emu.call_counts(), before)) == {"DescribeSubDomainRecords": 1}
    assert _delta(rb.calls(), b_before) == {"DescribeSubDomainRecords": 1}
    assert _rows(emu, "shop") == published  # A's records and marker are intact

    # What the read found is in B's cache now: asking again costs nothing and says the same.
    before = emu.call_counts()
    again = await rb.publisher.publish(APP_B, _spec(), REGIONS_B)
    assert again.reason == "HostnameConflict"
    assert again.message == f"{SHOP}: owned by default/a"
    assert _delta(emu.call_counts(), before) == {}
    assert _rows(emu, "shop") == published


async def test_steady_state_republish_makes_no_call_and_a_free_claim_costs_one_read(
    emu: AliyunEmulator, replicas: tuple[Replica, Replica]
) -> None:
    ra, _rb = replicas
    before = emu.call_counts()
    first = await ra.publisher.publish(APP_A, _spec(), REGIONS_A)
    assert first.ok, first.message
    calls = _alidns(_delta(emu.call_counts(), before))
    # the zone read, the one claim check, then the writes (marker and two records)
    assert calls == {"DescribeDomainRecords": 1, "DescribeSubDomainRecords": 1, "AddDomainRecord": 3}
    assert ra.calls() == calls

    before, provider_before = emu.call_counts(), ra.calls()
    for _ in range(3):
        steady = await ra.publisher.publish(APP_A, _spec(), REGIONS_A)
        assert steady.ok
        assert steady.changes == []
    assert _delta(emu.call_counts(), before) == {}  # names the app owns: no call at all
    assert ra.calls() == provider_before

    # A change to a name the app owns is no claim either: only its writes.
    before = emu.call_counts()
    moved = await ra.publisher.publish(APP_A, _spec(), REGIONS_A[:1])
    assert moved.ok
    assert "DescribeSubDomainRecords" not in _alidns(_delta(emu.call_counts(), before))
    assert _writes(_alidns(_delta(emu.call_counts(), before))) == 1

    # Claiming a second, free name: one read of its marker, then the writes.
    before = emu.call_counts()
    api = await ra.publisher.publish(APP_B, _spec(f"api.{ZONE}"), REGIONS_B)
    assert api.ok, api.message
    assert _alidns(_delta(emu.call_counts(), before)) == {"DescribeSubDomainRecords": 1, "AddDomainRecord": 2}
    assert _rows(emu, "api") == {
        ("api", "A", "default", "198.51.100.1"),
        ("_fedctl-owner.api", "TXT", "default", "heritage=fedctl,owner=default/b"),
    }


async def test_claims_that_raced_are_reported_naming_both_apps_until_one_gives_the_name_up(
    emu: AliyunEmulator, replicas: tuple[Replica, Replica]
) -> None:
    """The race the check cannot close: both fresh reads are answered before either marker is
    written (the emulator holds both reads until both have arrived), so both replicas claim shop."""
    ra, rb = replicas
    await ra.provider.records(ZONE)
    await rb.provider.records(ZONE)
    held = emu.faults.set("alidns", "DescribeSubDomainRecords", hang=True, times=2)
    both = asyncio.gather(
        ra.publisher.publish(APP_A, _spec(), REGIONS_A), rb.publisher.publish(APP_B, _spec(), REGIONS_B)
    )

    async def both_reading() -> bool:
        return held.hits == 2

    await wait_for(both_reading, 10, "both claim checks to reach alidns")
    emu.faults.clear("alidns", "DescribeSubDomainRecords")
    a, b = await both
    assert a.ok, a.message  # neither could tell at the time
    assert b.ok, b.message
    raced = _rows(emu, "shop")
    assert {row for row in raced if row[1] == "TXT"} == {
        ("_fedctl-owner.shop", "TXT", "default", "heritage=fedctl,owner=default/a"),
        ("_fedctl-owner.shop", "TXT", "default", "heritage=fedctl,owner=default/b"),
    }

    # At their next zone read both see the two markers: each app gets a conflict naming both, and
    # neither touches the name.
    ra.provider.invalidate()
    rb.provider.invalidate()
    expected = (
        f"{SHOP}: claimed by both default/a and default/b (their claims raced); its records are left as "
        "they are until one of the apps gives the name up"
    )
    for replica, app, regions in ((ra, APP_A, REGIONS_A), (rb, APP_B, REGIONS_B)):
        result = await replica.publisher.publish(app, _spec(), regions)
        assert not result.ok
        assert result.reason == "HostnameConflict"
        assert result.message == expected
        assert result.changes == []
    assert _rows(emu, "shop") == raced

    # App a gives the name up (its deletion): only its marker goes, and b, sole owner again, brings
    # the records to what it wants.
    gone = await ra.publisher.delete(APP_A, ZONE, [SHOP])
    assert gone.ok
    assert [(c.action, c.record.name, c.record.value) for c in gone.changes] == [
        ("delete", owner_name(SHOP), "heritage=fedctl,owner=default/a")
    ]
    assert _rows(emu, "shop") == raced - {
        ("_fedctl-owner.shop", "TXT", "default", "heritage=fedctl,owner=default/a")
    }
    rb.provider.invalidate()
    settled = await rb.publisher.publish(APP_B, _spec(), REGIONS_B)
    assert settled.ok, settled.message
    assert _rows(emu, "shop") == {
        ("shop", "A", "default", "198.51.100.1"),
        ("_fedctl-owner.shop", "TXT", "default", "heritage=fedctl,owner=default/b"),
    }


async def test_a_failed_claim_check_is_a_provider_error_and_writes_nothing(
    emu: AliyunEmulator, replicas: tuple[Replica, Replica]
) -> None:
    ra, _rb = replicas
    await ra.provider.records(ZONE)
    emu.faults.set("alidns", "DescribeSubDomainRecords", error_rate=1.0, times=10)
    result = await ra.publisher.publish(APP_A, _spec(), REGIONS_A)
    assert not result.ok
    assert result.reason == "ProviderError"
    assert not result.known
    assert _rows(emu, "shop") == set()
    counts: dict[str, Any] = _alidns(emu.call_counts())
    assert _writes(counts) == 0
