"""alidns through the official SDK request classes and the project's AlidnsApi adapter."""

from __future__ import annotations

import asyncio

import pytest
from aliyunsdkalidns.request.v20150109.AddDomainRecordRequest import AddDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DeleteDomainRecordRequest import DeleteDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainRecordsRequest import DescribeDomainRecordsRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainsRequest import DescribeDomainsRequest
from aliyunsdkalidns.request.v20150109.UpdateDomainRecordRequest import UpdateDomainRecordRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError
from federation.sandbox.aliyun import AliyunEmulator


def _add(
    rr: str,
    rtype: str,
    value: str,
    *,
    ttl: int | None = None,
    line: str | None = None,
    domain: str = "example.com",
) -> AddDomainRecordRequest:
    req = AddDomainRecordRequest()
    req.set_DomainName(domain)
    req.set_RR(rr)
    req.set_Type(rtype)
    req.set_Value(value)
    if ttl is not None:
        req.set_TTL(ttl)
    if line is not None:
        req.set_Line(line)
    return req


async def _code(sdk, req) -> tuple[str, int]:
    with pytest.raises(ServerException) as info:
        await sdk(req)
    return info.value.get_error_code(), info.value.get_http_status()


async def test_record_lifecycle_through_sdk(sdk, emu: AliyunEmulator) -> None:
    rid = (await sdk(_add("www", "A", "192.0.2.1", ttl=60)))["RecordId"]
    upd = UpdateDomainRecordRequest()
    upd.set_RecordId(rid)
    upd.set_RR("www")
    upd.set_Type("A")
    upd.set_Value("192.0.2.2")
    upd.set_TTL(120)
    assert (await sdk(upd))["RecordId"] == rid
    # Repeating the same update is refused, as the real service does: never send a no-op update.
    assert await _code(sdk, upd) == ("DomainRecordDuplicate", 400)
    listed = await sdk(_list())
    assert listed["TotalCount"] == 1
    rec = listed["DomainRecords"]["Record"][0]
    assert (rec["RR"], rec["Value"], rec["TTL"], rec["Line"], rec["Status"]) == (
        "www",
        "192.0.2.2",
        120,
        "default",
        "ENABLE",
    )
    dele = DeleteDomainRecordRequest()
    dele.set_RecordId(rid)
    await sdk(dele)
    assert (await sdk(_list()))["TotalCount"] == 0
    assert await _code(sdk, dele) == ("DomainRecordNotBelongToUser", 400)


def _list(**kw: object) -> DescribeDomainRecordsRequest:
    req = DescribeDomainRecordsRequest()
    req.set_DomainName("example.com")
    for k, v in kw.items():
        getattr(req, f"set_{k}")(v)
    return req


async def test_rules_duplicate_conflict_line_ttl_domain(sdk) -> None:
    await sdk(_add("www", "A", "192.0.2.1", ttl=60))
    assert await _code(sdk, _add("www", "A", "192.0.2.1", ttl=60)) == ("DomainRecordDuplicate", 400)
    # the same value on another line is a different record
    await sdk(_add("www", "A", "192.0.2.1", ttl=60, line="telecom"))
    assert await _code(sdk, _add("www", "CNAME", "lb.example.org", ttl=60)) == ("DomainRecordConflict", 400)
    await sdk(_add("api", "CNAME", "lb.example.org", ttl=60))
    assert (await _code(sdk, _add("api", "TXT", "v=1", ttl=60)))[0] == "DomainRecordConflict"
    await sdk(_add("@", "TXT", "v=spf1 -all", ttl=60))
    await sdk(_add("@", "MX", "mx.example.com", ttl=60))  # A/TXT/MX coexist at the apex
    assert (await _code(sdk, _add("www", "A", "192.0.2.9", line="no_such_line")))[
        0
    ] == "InvalidParameter.Line"
    assert await _code(sdk, _add("www", "A", "192.0.2.9", ttl=30)) == ("QuotaExceeded.TTL", 400)
    assert (await _code(sdk, _add("www", "A", "192.0.2.9", domain="nope.com")))[
        0
    ] == "InvalidDomainName.NoExist"
    assert (await _code(sdk, _add("www", "A", "not-an-ip")))[0] == "InvalidParameter"
    assert (await _code(sdk, _add("bad rr", "A", "192.0.2.9")))[0] == "InvalidRR.Format"


async def test_describe_domains(sdk) -> None:
    await sdk(_add("www", "A", "192.0.2.1", ttl=60, domain="example.net"))
    req = DescribeDomainsRequest()
    req.set_PageSize(1)
    first = await sdk(req)
    assert first["TotalCount"] == 2
    assert [(d["DomainName"], d["RecordCount"]) for d in first["Domains"]["Domain"]] == [("example.com", 0)]
    req.set_PageNumber(2)
    second = await sdk(req)
    assert [(d["DomainName"], d["RecordCount"]) for d in second["Domains"]["Domain"]] == [("example.net", 1)]


async def test_free_edition_ttl_minimum() -> None:
    emu = AliyunEmulator(domains=["free.example"], edition="free")
    await emu.start(dns_port=None)
    try:
        api = AlidnsApi(
            AlibabaClient(emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint)
        )
        with pytest.raises(AlibabaError) as info:
            await api.add_domain_record("free.example", "www", "A", "192.0.2.1", ttl=60)
        assert info.value.code == "QuotaExceeded.TTL"
        await api.add_domain_record("free.example", "www", "A", "192.0.2.1", ttl=600)
        assert (await api.describe_domain_info("free.example"))["MinTtl"] == 600
        await api.client.close()
    finally:
        await emu.stop()


async def test_paging_filters_and_order(
    sdk, client: AlibabaClient, emu: AliyunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = AlidnsApi(client)
    for i in range(23):
        await api.add_domain_record("example.com", f"host{i:02d}", "A", f"192.0.2.{i + 1}", ttl=60)
    await api.add_domain_record("example.com", "mail", "TXT", "hello", ttl=60, line="unicom")
    pages = [await sdk(_list(PageNumber=n, PageSize=10)) for n in (1, 2, 3)]
    assert [len(p["DomainRecords"]["Record"]) for p in pages] == [10, 10, 4]
    ids = [r["RecordId"] for p in pages for r in p["DomainRecords"]["Record"]]
    assert len(set(ids)) == 24
    assert pages[0]["DomainRecords"]["Record"][0]["RR"] == "mail"  # newest first
    asc = await sdk(_list(OrderBy="RR", Direction="ASC", PageSize=3))
    assert [r["RR"] for r in asc["DomainRecords"]["Record"]] == ["host00", "host01", "host02"]

    # the adapter walks every page
    monkeypatch.setattr(AlidnsApi, "PAGE_SIZE", 10)
    emu.reset_call_counts()
    everything = await api.describe_domain_records("example.com")
    assert len(everything) == 24
    assert emu.call_counts()["Alidns.DescribeDomainRecords"] == 3

    assert [r.rr for r in await api.describe_domain_records("example.com", RRKeyWord="HOST1")] == [
        f"host{i}" for i in range(19, 9, -1)
    ]
    assert [r.rr for r in await api.describe_domain_records("example.com", Line="unicom")] == ["mail"]
    assert [r.rr for r in await api.describe_domain_records("example.com", Type="TXT")] == ["mail"]
    assert len(await api.describe_domain_records("example.com", KeyWord="192.0.2.2")) == 5  # 2, 20-23
    with pytest.raises(AlibabaError) as info:
        await api.describe_domain_records_page("example.com", page_size=501)
    assert info.value.code == "InvalidParameter"


async def test_status_remark_info_subdomain_lines(client: AlibabaClient) -> None:
    api = AlidnsApi(client)
    rid = await api.add_domain_record("example.com", "www", "A", "192.0.2.1", ttl=60)
    await api.add_domain_record("example.com", "www", "A", "192.0.2.2", ttl=60, line="telecom")
    await api.set_domain_record_status(rid, False)
    await api.update_domain_record_remark(rid, "owned-by:fedctl")
    info = await api.describe_domain_record_info(rid)
    assert (info.status, info.remark, info.fqdn) == ("DISABLE", "owned-by:fedctl", "www.example.com")
    assert len(await api.describe_domain_records("example.com", Status="ENABLE")) == 1
    await api.update_domain_record_remark(rid, None)
    assert (await api.describe_domain_record_info(rid)).remark is None
    subs = await api.describe_sub_domain_records("www.example.com")
    assert sorted(r.line for r in subs) == ["default", "telecom"]
    assert [r.line for r in await api.describe_sub_domain_records("www.example.com", line="telecom")] == [
        "telecom"
    ]
    lines = {line.code: line for line in await api.describe_support_lines("example.com")}
    assert lines["default"].father_code is None
    assert lines["telecom"].father_code == "default"
    assert any(line.father_code == "telecom" for line in lines.values())
    with pytest.raises(AlibabaError) as err:
        await api.describe_domain_record_info("999")
    assert err.value.code == "DomainRecordNotBelongToUser"
    assert await api.delete_domain_record("999") is False  # already gone counts as done


async def test_weighted_round_robin(client: AlibabaClient, emu: AliyunEmulator) -> None:
    api = AlidnsApi(client)
    a = await api.add_domain_record("example.com", "app", "A", "192.0.2.1", ttl=60)
    b = await api.add_domain_record("example.com", "app", "A", "192.0.2.2", ttl=60)
    subs = await api.describe_dnsslb_sub_domains("example.com")
    assert [(s.sub_domain, s.record_count, s.open) for s in subs] == [("app.example.com", 2, False)]
    with pytest.raises(AlibabaError) as info:
        await api.update_dnsslb_weight(a, 80)  # weighted round robin is still off for app/A/default
    assert info.value.code == "DisableDNSSLB"
    res = await api.set_dnsslb_status("app.example.com", True)
    assert res == {"record_count": 2, "open": True}
    await api.update_dnsslb_weight(a, 80)
    weights = {r.record_id: r.weight for r in await api.describe_sub_domain_records("app.example.com")}
    assert weights == {a: 80, b: 1}
    subs = await api.describe_dnsslb_sub_domains("example.com", rr="app")
    assert subs[0].open
    assert subs[0].line_algorithms == {"default": True}
    with pytest.raises(AlibabaError) as info:
        await api.update_dnsslb_weight(b, 101)
    assert info.value.code == "InvalidWeigth"
    await api.set_domain_record_status(b, False)
    with pytest.raises(AlibabaError) as info:
        await api.update_dnsslb_weight(b, 50)
    assert info.value.code == "DomainRecordDisable"
    await api.set_domain_record_status(b, True)
    dns_view = {r.value: r.weight for r in emu.alidns.records_for_dns("example.com")}
    assert dns_view == {"192.0.2.1": 80, "192.0.2.2": 1}
    await api.set_dnsslb_status("app.example.com", False)
    assert all(r.weight is None for r in await api.describe_sub_domain_records("app.example.com"))


async def test_weighted_record_limit_on_free_edition() -> None:
    emu = AliyunEmulator(domains=["free.example"], edition="free")
    await emu.start(dns_port=None)
    client = AlibabaClient(emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint)
    try:
        api = AlidnsApi(client)
        for i in range(10):
            await api.add_domain_record("free.example", "app", "A", f"192.0.2.{i + 1}", ttl=600)
        await api.set_dnsslb_status("app.free.example", True)
        with pytest.raises(AlibabaError) as info:
            await api.add_domain_record("free.example", "app", "A", "192.0.2.200", ttl=600)
        assert info.value.code == "QuotaExceeded.Record"
    finally:
        await client.close()
        await emu.stop()


async def test_at_most_90_records_per_rr_type_line(client: AlibabaClient) -> None:
    api = AlidnsApi(client)
    await asyncio.gather(
        *(api.add_domain_record("example.net", "pool", "A", f"198.51.100.{i}", ttl=60) for i in range(1, 91))
    )
    with pytest.raises(AlibabaError) as info:
        await api.add_domain_record("example.net", "pool", "A", "198.51.100.200", ttl=60)
    assert info.value.code == "QuotaExceeded.Record"
    assert "MAX count (90)" in info.value.message
    await api.add_domain_record("example.net", "pool", "A", "198.51.100.200", ttl=60, line="unicom")
