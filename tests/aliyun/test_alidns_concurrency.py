"""Many apps publishing into one alidns zone at once, with latency on every call and the zone cache
expiring under them: the emulator's records end exactly equal to the desired set, every round, with no
``DomainRecordDuplicate``, no weighted-round-robin switch left on a released name, every published row
carrying its alidns record id, and as many Add/DeleteDomainRecord calls as the change log says."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from federation.api.federatedapp import DnsSpec
from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.dns.plan import Change, Plan, owner_record
from federation.dns.providers.alidns import AlidnsProvider
from federation.dns.publisher import AppIdentity, DnsPublisher
from federation.dns.records import DEFAULT_LINE, Record
from federation.dns.steering import RegionEndpoint
from federation.sandbox.aliyun import AliyunEmulator
from federation.store import migrate
from federation.store.db import Database
from federation.store.dnslog import list_dns_changes, list_published_records
from federation.store.dnsstore import DatabaseDnsStore

ZONE = "example.com"
ADDRESSES = {"cn-hangzhou": "192.0.2.1", "cn-beijing": "192.0.2.2", "eu-central-1": "192.0.2.3"}
Key = tuple[str, str, str, str]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def _spec(i: int) -> DnsSpec:
    return DnsSpec.model_validate(
        {"zone": ZONE, "hostname": f"app{i}.{ZONE}", "ttl": 60, "policy": "Weighted"}
    )


def _regions(rng: random.Random) -> list[RegionEndpoint]:
    healthy = set(rng.sample(sorted(ADDRESSES), rng.randint(1, 3)))
    return [
        RegionEndpoint(
            r, a, r in healthy, weight=rng.randint(1, 5), reason="" if r in healthy else "probe failed"
        )
        for r, a in ADDRESSES.items()
    ]


def _emulated(emu: AliyunEmulator) -> set[Key]:
    out = set()
    for r in emu.state()["alidns"]["records"]:
        if r["DomainName"] == ZONE:
            name = ZONE if r["RR"] == "@" else f"{r['RR'].lower()}.{ZONE}"
            out.add((name, r["Type"], r["Line"], r["Value"].lower().rstrip(".")))
    return out


def _leftover_switches(emu: AliyunEmulator) -> list[str]:
    records = emu.state()["alidns"]["records"]
    left = []
    for w in emu.state()["alidns"]["weighted"]:
        group = [
            r for r in records if (r["RR"].lower(), r["Type"], r["Line"]) == (w["rr"], w["type"], w["line"])
        ]
        if w["open"] and len(group) < 2:
            left.append(f"{w['rr']} {w['type']} {w['line']} ({len(group)} record(s))")
    return left


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_concurrent_apps_in_one_zone_converge_exactly(
    client: AlibabaClient, emu: AliyunEmulator, db: Database, seed: int
) -> None:
    rng = random.Random(seed)
    emu.faults.set("alidns", "*", latency=0.01)
    emu.faults.set("alidns", "DescribeDomainRecords", latency=0.04)
    provider = AlidnsProvider(AlidnsApi(client), zones=[ZONE])
    publisher = DnsPublisher(provider, store=DatabaseDnsStore(db))
    apps = {i: AppIdentity("default", f"app{i}") for i in range(8)}
    live: dict[int, list[RegionEndpoint]] = {}
    for _round in range(4):
        jobs, deleting = [], []
        for i, app in apps.items():
            if i in live and rng.random() < 0.3:
                deleting.append(i)
                jobs.append(publisher.delete(app, ZONE, [f"app{i}.{ZONE}"]))
            else:
                live[i] = _regions(rng)
                jobs.append(publisher.publish(app, _spec(i), live[i]))
        for i in deleting:
            del live[i]

        async def expire() -> None:  # the zone is read again (resync, a failed write) while writes go on
            for _ in range(4):
                await asyncio.sleep(rng.uniform(0.0, 0.08))
                provider.invalidate(ZONE)

        expiring = asyncio.create_task(expire())
        results = await asyncio.gather(*jobs)
        await expiring
        errors = [r.error for r in results if r.error or r.conflicts]
        assert errors == []
        desired: set[Key] = set()
        for i, regions in live.items():
            recs = [
                *publisher.desired(_spec(i), regions).records,
                owner_record(f"app{i}.{ZONE}", apps[i].key),
            ]
            desired |= {(r.name, r.rtype, r.line, r.value.lower().rstrip(".")) for r in recs}
        assert _emulated(emu) == desired
        assert _leftover_switches(emu) == []
    rows = db.call(list_published_records, ZONE)
    assert rows
    assert [r.record.key for r in rows if not r.provider_record_id] == []
    changes = db.call(list_dns_changes, zone=ZONE, limit=10_000)
    calls = emu.call_counts()
    assert calls.get("Alidns.AddDomainRecord", 0) == sum(1 for c in changes if c.action == "create")
    assert calls.get("Alidns.DeleteDomainRecord", 0) == sum(1 for c in changes if c.action == "delete")


class _ReadBeforeDelete(AlidnsApi):
    """Pins the interleaving of the issue: a zone read answered before a delete lands after it."""

    def __init__(self, client: AlibabaClient) -> None:
        super().__init__(client)
        self.armed = False
        self.snapshot_taken = asyncio.Event()
        self.deleted = asyncio.Event()

    async def describe_domain_records(self, *args: Any, **kwargs: Any) -> Any:
        found = await super().describe_domain_records(*args, **kwargs)
        if self.armed:
            self.snapshot_taken.set()
            await self.deleted.wait()
        return found

    async def delete_domain_record(self, *args: Any, **kwargs: Any) -> Any:
        if self.armed:
            await self.snapshot_taken.wait()
        out = await super().delete_domain_record(*args, **kwargs)
        self.deleted.set()
        return out


async def test_a_read_answered_before_a_delete_does_not_bring_the_record_back(client: AlibabaClient) -> None:
    api = _ReadBeforeDelete(client)
    provider = AlidnsProvider(api, zones=[ZONE])
    www = Record(f"www.{ZONE}", "A", DEFAULT_LINE, "192.0.2.1", 600)
    await provider.apply(Plan(ZONE, (Change("create", www),)))
    api.armed = True
    deleting = asyncio.create_task(provider.apply(Plan(ZONE, (Change("delete", www),))))
    await asyncio.sleep(0)  # the delete is on its way
    provider.invalidate(ZONE)  # a resync reads the zone meanwhile
    seen = await provider.records(ZONE)
    await deleting
    assert www not in seen
    assert await provider.records(ZONE) == []


async def test_a_duplicate_on_create_adopts_the_existing_record(
    client: AlibabaClient, emu: AliyunEmulator
) -> None:
    ours = AlidnsProvider(AlidnsApi(client), zones=[ZONE])
    assert await ours.records(ZONE) == []  # our picture: an empty zone
    www = Record(f"www.{ZONE}", "A", DEFAULT_LINE, "192.0.2.1", 600)
    await AlidnsProvider(AlidnsApi(client)).apply(Plan(ZONE, (Change("create", www),)))  # an earlier run
    result = await ours.apply(Plan(ZONE, (Change("create", www),)))
    assert result.applied == [Change("create", www)]
    assert emu.call_counts()["Alidns.AddDomainRecord"] == 2  # the refused one was not repeated
    await ours.apply(Plan(ZONE, (Change("delete", www),)))  # the adopted id is the real one
    assert _emulated(emu) == set()


async def test_cleanup_after_a_kill_mid_delete_switches_weighting_off(
    client: AlibabaClient, emu: AliyunEmulator
) -> None:
    app = AppIdentity("default", "app0")
    regions = [RegionEndpoint(r, a, True, weight=i + 1) for i, (r, a) in enumerate(ADDRESSES.items())]
    first = DnsPublisher(AlidnsProvider(AlidnsApi(client), zones=[ZONE]))
    assert (await first.publish(app, _spec(0), regions)).ok
    assert any(w["open"] for w in emu.state()["alidns"]["weighted"])
    # A run killed half-way through releasing the name: two of the three default-line records gone.
    api = AlidnsApi(client)
    default = [
        d for d in await api.describe_domain_records(ZONE) if d.rr == "app0" and d.line == DEFAULT_LINE
    ]
    for d in default[:2]:
        await api.delete_domain_record(d.record_id)
    restarted = DnsPublisher(AlidnsProvider(AlidnsApi(client), zones=[ZONE]))
    assert (await restarted.delete(app, ZONE, [f"app0.{ZONE}"])).ok
    assert _emulated(emu) == set()
    assert _leftover_switches(emu) == []
