"""AlidnsApi: one async method per alidns action used by the project (API version 2015-01-09).

Thin and policy-free: build the SDK request, send it through :class:`AlibabaClient`, return plain data.
Listing methods walk every page. Each method declares its :class:`CallKind`: reads and absolute sets
are repeated after any transient failure; record creation and RR/type/value updates are not (alidns has
no ClientToken for them), so after a failure that may hide a success they raise
:class:`~federation.cloud.alibaba.errors.AmbiguousWriteError` and the caller reads back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aliyunsdkalidns.request.v20150109.AddDomainRecordRequest import AddDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DeleteDomainRecordRequest import DeleteDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DescribeDNSSLBSubDomainsRequest import DescribeDNSSLBSubDomainsRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainInfoRequest import DescribeDomainInfoRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainRecordInfoRequest import DescribeDomainRecordInfoRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainRecordsRequest import DescribeDomainRecordsRequest
from aliyunsdkalidns.request.v20150109.DescribeSubDomainRecordsRequest import DescribeSubDomainRecordsRequest
from aliyunsdkalidns.request.v20150109.DescribeSupportLinesRequest import DescribeSupportLinesRequest
from aliyunsdkalidns.request.v20150109.SetDNSSLBStatusRequest import SetDNSSLBStatusRequest
from aliyunsdkalidns.request.v20150109.SetDomainRecordStatusRequest import SetDomainRecordStatusRequest
from aliyunsdkalidns.request.v20150109.UpdateDNSSLBWeightRequest import UpdateDNSSLBWeightRequest
from aliyunsdkalidns.request.v20150109.UpdateDomainRecordRemarkRequest import UpdateDomainRecordRemarkRequest
from aliyunsdkalidns.request.v20150109.UpdateDomainRecordRequest import UpdateDomainRecordRequest

from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError
from federation.cloud.alibaba.retry import CallKind


@dataclass(frozen=True)
class DomainRecord:
    record_id: str
    domain_name: str
    rr: str
    type: str
    value: str
    ttl: int
    line: str
    status: str  # "ENABLE" | "DISABLE" (upper-cased whatever the service sends)
    priority: int | None = None
    weight: int | None = None
    locked: bool = False
    remark: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> DomainRecord:
        return cls(
            record_id=str(d["RecordId"]),
            domain_name=str(d.get("DomainName", "")),
            rr=str(d["RR"]),
            type=str(d["Type"]),
            value=str(d["Value"]),
            ttl=int(d.get("TTL", 600)),
            line=str(d.get("Line", "default")),
            status=str(d.get("Status", "ENABLE")).upper(),
            priority=int(d["Priority"]) if d.get("Priority") not in (None, "") else None,
            weight=int(d["Weight"]) if d.get("Weight") not in (None, "") else None,
            locked=bool(d.get("Locked", False)),
            remark=d.get("Remark") or None,
        )

    @property
    def fqdn(self) -> str:
        return self.domain_name if self.rr == "@" else f"{self.rr}.{self.domain_name}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SupportLine:
    code: str
    name: str
    father_code: str | None


@dataclass(frozen=True)
class SlbSubDomain:
    sub_domain: str
    type: str
    record_count: int
    open: bool
    line_algorithms: dict[str, bool]  # line -> weighted round robin on


def _set_opt(req: Any, **params: Any) -> None:
    for name, value in params.items():
        if value is not None:
            getattr(req, f"set_{name}")(value)


class AlidnsApi:
    """alidns actions over an :class:`AlibabaClient`."""

    PAGE_SIZE = 500  # DescribeDomainRecords allows 1-500
    SUBDOMAIN_PAGE_SIZE = 100  # DescribeDNSSLBSubDomains and DescribeSubDomainRecords allow at most 100

    def __init__(self, client: AlibabaClient) -> None:
        self.client = client

    async def add_domain_record(
        self,
        domain: str,
        rr: str,
        type: str,
        value: str,
        *,
        ttl: int | None = None,
        line: str | None = None,
        priority: int | None = None,
    ) -> str:
        req = AddDomainRecordRequest()
        req.set_DomainName(domain)
        req.set_RR(rr)
        req.set_Type(type)
        req.set_Value(value)
        _set_opt(req, TTL=ttl, Line=line, Priority=priority)
        resp = await self.client.call(req, CallKind.UNSAFE)
        return str(resp["RecordId"])

    async def update_domain_record(
        self,
        record_id: str,
        rr: str,
        type: str,
        value: str,
        *,
        ttl: int | None = None,
        line: str | None = None,
        priority: int | None = None,
    ) -> None:
        req = UpdateDomainRecordRequest()
        req.set_RecordId(record_id)
        req.set_RR(rr)
        req.set_Type(type)
        req.set_Value(value)
        _set_opt(req, TTL=ttl, Line=line, Priority=priority)
        # Repeating a successful update answers DomainRecordDuplicate, so it is not retried.
        await self.client.call(req, CallKind.UNSAFE)

    async def delete_domain_record(self, record_id: str) -> bool:
        """Delete a record; False when it was already gone (so a retried delete is harmless)."""
        req = DeleteDomainRecordRequest()
        req.set_RecordId(record_id)
        try:
            await self.client.call(req, CallKind.ABSOLUTE)
        except AlibabaError as err:
            if err.not_found:
                return False
            raise
        return True

    async def describe_domain_records_page(
        self, domain: str, *, page_number: int = 1, page_size: int = 20, **filters: Any
    ) -> tuple[int, list[DomainRecord]]:
        """One page: (TotalCount, records). Filters: KeyWord, RRKeyWord, TypeKeyWord, ValueKeyWord, Type,
        Line, Status, SearchMode, OrderBy, Direction (the SDK's setter names)."""
        req = DescribeDomainRecordsRequest()
        req.set_DomainName(domain)
        req.set_PageNumber(page_number)
        req.set_PageSize(page_size)
        _set_opt(req, **filters)
        resp = await self.client.call(req, CallKind.READ)
        records = [DomainRecord.from_api(r) for r in resp.get("DomainRecords", {}).get("Record", [])]
        return int(resp.get("TotalCount", len(records))), records

    async def describe_domain_records(self, domain: str, **filters: Any) -> list[DomainRecord]:
        """Every record of ``domain`` matching the filters, all pages."""

        def make() -> DescribeDomainRecordsRequest:
            req = DescribeDomainRecordsRequest()
            req.set_DomainName(domain)
            _set_opt(req, **filters)
            return req

        items = await self.client.all_pages(make, "DomainRecords", "Record", page_size=self.PAGE_SIZE)
        return [DomainRecord.from_api(r) for r in items]

    async def describe_domain_record_info(self, record_id: str) -> DomainRecord:
        req = DescribeDomainRecordInfoRequest()
        req.set_RecordId(record_id)
        return DomainRecord.from_api(await self.client.call(req, CallKind.READ))

    async def describe_sub_domain_records(
        self, sub_domain: str, *, type: str | None = None, line: str | None = None, domain: str | None = None
    ) -> list[DomainRecord]:
        def make() -> DescribeSubDomainRecordsRequest:
            req = DescribeSubDomainRecordsRequest()
            req.set_SubDomain(sub_domain)
            _set_opt(req, Type=type, Line=line, DomainName=domain)
            return req

        items = await self.client.all_pages(
            make, "DomainRecords", "Record", page_size=self.SUBDOMAIN_PAGE_SIZE
        )
        return [DomainRecord.from_api(r) for r in items]

    async def set_domain_record_status(self, record_id: str, enabled: bool) -> None:
        req = SetDomainRecordStatusRequest()
        req.set_RecordId(record_id)
        req.set_Status("Enable" if enabled else "Disable")
        await self.client.call(req, CallKind.ABSOLUTE)

    async def update_domain_record_remark(self, record_id: str, remark: str | None) -> None:
        req = UpdateDomainRecordRemarkRequest()
        req.set_RecordId(record_id)
        if remark:
            req.set_Remark(remark)
        await self.client.call(req, CallKind.ABSOLUTE)

    async def describe_support_lines(self, domain: str | None = None) -> list[SupportLine]:
        req = DescribeSupportLinesRequest()
        _set_opt(req, DomainName=domain)
        resp = await self.client.call(req, CallKind.READ)
        return [
            SupportLine(
                str(x["LineCode"]), str(x.get("LineName", x["LineCode"])), x.get("FatherCode") or None
            )
            for x in resp.get("RecordLines", {}).get("RecordLine", [])
        ]

    async def describe_domain_info(self, domain: str) -> dict[str, Any]:
        """The domain's attributes; ``MinTtl`` is the smallest TTL its edition allows."""
        req = DescribeDomainInfoRequest()
        req.set_DomainName(domain)
        return await self.client.call(req, CallKind.READ)

    async def set_dnsslb_status(
        self,
        sub_domain: str,
        open: bool,
        *,
        domain: str | None = None,
        type: str | None = None,
        line: str | None = None,
    ) -> dict[str, Any]:
        """Turn weighted round robin on/off for ``sub_domain`` (``@.example.com`` for the apex)."""
        req = SetDNSSLBStatusRequest()
        req.set_SubDomain(sub_domain)
        req.set_Open(bool(open))
        _set_opt(req, DomainName=domain, Type=type, Line=line)
        resp = await self.client.call(req, CallKind.ABSOLUTE)
        return {"record_count": int(resp.get("RecordCount", 0)), "open": bool(resp.get("Open", open))}

    async def update_dnsslb_weight(self, record_id: str, weight: int) -> None:
        req = UpdateDNSSLBWeightRequest()
        req.set_RecordId(record_id)
        req.set_Weight(weight)
        await self.client.call(req, CallKind.ABSOLUTE)

    async def describe_dnsslb_sub_domains(self, domain: str, *, rr: str | None = None) -> list[SlbSubDomain]:
        def make() -> DescribeDNSSLBSubDomainsRequest:
            req = DescribeDNSSLBSubDomainsRequest()
            req.set_DomainName(domain)
            _set_opt(req, Rr=rr)
            return req

        items = await self.client.all_pages(
            make, "SlbSubDomains", "SlbSubDomain", page_size=self.SUBDOMAIN_PAGE_SIZE
        )
        return [
            SlbSubDomain(
                str(it["SubDomain"]),
                str(it.get("Type", "A")),
                int(it.get("RecordCount", 0)),
                bool(it.get("Open", False)),
                {
                    str(a["Line"]): bool(a.get("Open", False))
                    for a in it.get("LineAlgorithms", {}).get("LineAlgorithm", [])
                },
            )
            for it in items
        ]
