"""The alidns provider after an AddDomainRecord whose answer was lost: it reads back and adopts the record
instead of creating a second one, and creates it when the read shows it never happened."""

from __future__ import annotations

from typing import Any

import pytest

from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.dns.plan import Change, Plan
from federation.dns.providers import DnsProviderError
from federation.dns.providers.alidns import AlidnsProvider
from federation.dns.records import DEFAULT_LINE, Record
from federation.sandbox.aliyun import AliyunEmulator

ZONE = "example.com"


def _records(emu: AliyunEmulator) -> list[tuple[str, str, str, str]]:
    return sorted(
        (r["RR"], r["Type"], r["Line"], r["Value"])
        for r in emu.state()["alidns"]["records"]
        if r["DomainName"] == ZONE
    )


def _creates(*records: Record) -> Plan:
    return Plan(ZONE, tuple(Change("create", r) for r in records))


@pytest.mark.parametrize(
    "fault", [{"error_rate": 1.0}, {"reset": 1.0}], ids=["500-after-create", "reset-after-create"]
)
async def test_an_ambiguous_create_is_adopted_not_duplicated(
    client: AlibabaClient, emu: AliyunEmulator, fault: dict[str, Any]
) -> None:
    provider = AlidnsProvider(AlidnsApi(client), zones=[ZONE])
    www = Record(f"www.{ZONE}", "A", DEFAULT_LINE, "192.0.2.1", 600)
    api = Record(f"api.{ZONE}", "A", "telecom", "192.0.2.2", 600)
    emu.faults.set("alidns", "AddDomainRecord", after=True, times=1, **fault)
    result = await provider.apply(_creates(www, api))
    assert len(result.applied) == 2
    assert _records(emu) == [("api", "A", "telecom", "192.0.2.2"), ("www", "A", "default", "192.0.2.1")]
    counts = emu.call_counts()
    assert counts["Alidns.AddDomainRecord"] == 2  # one per record: the lost answer was not repeated
    assert counts["Alidns.DescribeSubDomainRecords"] == 1
    # The adopted id is the real one: a later delete removes exactly that record.
    await provider.apply(Plan(ZONE, (Change("delete", www),)))
    assert _records(emu) == [("api", "A", "telecom", "192.0.2.2")]


async def test_a_create_lost_before_it_ran_is_added_on_the_next_apply(
    client: AlibabaClient, emu: AliyunEmulator
) -> None:
    provider = AlidnsProvider(AlidnsApi(client), zones=[ZONE])
    www = Record(f"www.{ZONE}", "A", DEFAULT_LINE, "192.0.2.1", 600)
    emu.faults.set("alidns", "AddDomainRecord", reset=1.0, times=1)  # dropped before the action ran
    with pytest.raises(DnsProviderError) as info:
        await provider.apply(_creates(www))
    assert info.value.code == "SDK.HttpError"
    assert _records(emu) == []
    await provider.apply(_creates(www))
    assert _records(emu) == [("www", "A", "default", "192.0.2.1")]
    assert emu.call_counts()["Alidns.AddDomainRecord"] == 2
