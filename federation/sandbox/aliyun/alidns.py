"""Stateful alidns (API 2015-01-09): domains, records, lines, weighted round robin, and their rules.

Rules enforced, with their codes (Alibaba Cloud API docs, AddDomainRecord error codes,
help.aliyun.com/document_detail/2355841, and the reference notes of this project):
- unknown domain ``InvalidDomainName.NoExist``; unknown RecordId ``DomainRecordNotBelongToUser``;
- same RR + Type + Line + Value twice ``DomainRecordDuplicate`` (also an update that changes nothing);
- CNAME beside A/AAAA/URL/SRV/CAA/ALIAS on the same RR and line (and beside MX/TXT below the apex)
  ``DomainRecordConflict``;
- TTL below the edition minimum (free/personal 600, enterprise standard 60, ultimate 1)
  ``QuotaExceeded.TTL``;
- lines must exist in the line catalogue (``federation/dns/lines.py``); an unknown line answers
  ``InvalidParameter.Line`` (code *unconfirmed*);
- at most 90 records per RR+type+line (``QuotaExceeded.Record``, message as in the alidns API
  reference's AddDomainRecord error table: "You Can't add this domain record because the {Type RR Line}
  record has been out of MAX count (90)."); with weighted round robin on, at most 10 on the free edition;
- weighted round robin: A/AAAA/CNAME, non-wildcard records only.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from federation.dns.records import Record
from federation.sandbox.aliyun.protocol import ApiError, Params, invalid

EDITIONS = {"free": 600, "personal": 600, "enterprise_standard": 60, "enterprise_ultimate": 1}
MAX_TTL = 86400
RECORD_TYPES = {"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "REDIRECT_URL", "FORWARD_URL"}
WEIGHTED_TYPES = {"A", "AAAA", "CNAME"}
MAX_RECORDS_PER_SET = 90
_CNAME_EXCLUDES = {"A", "AAAA", "REDIRECT_URL", "FORWARD_URL", "SRV", "CAA", "ALIAS", "NS"}
_CNAME_EXCLUDES_BELOW_APEX = _CNAME_EXCLUDES | {"MX", "TXT"}
_LABEL = r"(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)"
_RR_RE = re.compile(rf"^(?:@|{_LABEL}(?:\.{_LABEL})*)$", re.IGNORECASE)
_DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_HOST_RE = re.compile(
    r"^(?:[a-z0-9_*](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$", re.IGNORECASE
)


def _record_quota(rtype: str, rr: str, line: str, limit: int) -> ApiError:
    return ApiError(
        "QuotaExceeded.Record",
        f"You Can't add this domain record because the {rtype} {rr} {line} record has been out of "
        f"MAX count ({limit}).",
    )


@dataclass
class DnsRecord:
    record_id: str
    domain: str
    rr: str
    type: str
    value: str
    ttl: int
    line: str
    priority: int | None
    status: str  # ENABLE | DISABLE
    weight: int | None
    remark: str | None
    locked: bool
    seq: int  # creation order (newest first by default)

    @property
    def fqdn(self) -> str:
        return self.domain if self.rr == "@" else f"{self.rr}.{self.domain}".lower()


@dataclass
class Domain:
    name: str
    domain_id: str
    edition: str

    @property
    def min_ttl(self) -> int:
        return EDITIONS[self.edition]

    @property
    def weighted_limit(self) -> int:
        return 10 if self.edition == "free" else 90


LineSource = Callable[[], Iterable[Any]]  # items with .code, .name, .parent


class AlidnsService:
    """The alidns account: its domains, records and weighted round-robin switches."""

    def __init__(self, lines: Iterable[Any], on_change: Callable[[str], None] | None = None) -> None:
        self.lines: dict[str, Any] = {line.code: line for line in lines}
        self.domains: dict[str, Domain] = {}
        self.records: dict[str, DnsRecord] = {}
        self.wrr: dict[tuple[str, str, str, str], bool] = {}  # (domain, rr, type, line) -> open
        self._next_id = 10_000_000_000_000_000
        self._seq = 0
        self._on_change = on_change
        self.actions: dict[str, Callable[[Params], dict[str, Any]]] = {
            name: getattr(self, name)
            for name in (
                "AddDomainRecord",
                "UpdateDomainRecord",
                "DeleteDomainRecord",
                "DescribeDomainRecords",
                "DescribeDomainRecordInfo",
                "DescribeSubDomainRecords",
                "SetDomainRecordStatus",
                "UpdateDomainRecordRemark",
                "DescribeSupportLines",
                "SetDNSSLBStatus",
                "UpdateDNSSLBWeight",
                "DescribeDNSSLBSubDomains",
                "DescribeDomainInfo",
                "DescribeDomains",
            )
        }

    # ---- helpers -------------------------------------------------------------------------------
    def add_domain(self, name: str, edition: str = "enterprise_standard") -> Domain:
        name = name.lower().rstrip(".")
        if not _DOMAIN_RE.match(name):
            raise ValueError(f"domain: {name!r} is not a valid domain name")
        if edition not in EDITIONS:
            raise ValueError(f"edition: {edition!r} is not one of {', '.join(EDITIONS)}")
        dom = self.domains.get(name)
        if dom is None:
            dom = Domain(name, str(zlib.crc32(name.encode()) % 10**8), edition)
            self.domains[name] = dom
            self._changed(name)
        return dom

    def _changed(self, domain: str) -> None:
        if self._on_change is not None:
            self._on_change(domain)

    def _domain(self, name: str) -> Domain:
        dom = self.domains.get(name.lower().rstrip("."))
        if dom is None:
            raise ApiError(
                "InvalidDomainName.NoExist",
                "The specified domain name does not exist. Refresh the page and try again.",
            )
        return dom

    def _record(self, record_id: str) -> DnsRecord:
        rec = self.records.get(record_id)
        if rec is None:
            raise ApiError(
                "DomainRecordNotBelongToUser", "The DNS record does not belong to the current user."
            )
        return rec

    def _line(self, p: Params) -> str:
        line = p.get("Line", "default") or "default"
        if line not in self.lines:
            raise ApiError("InvalidParameter.Line", f"The specified line {line} is not supported.")
        return line

    def _validate(self, dom: Domain, p: Params, rr: str, rtype: str, value: str) -> tuple[int, int | None]:
        if not _RR_RE.match(rr) or len(rr) > 253:
            raise ApiError("InvalidRR.Format", f"The host record {rr!r} is not in a valid format.")
        if rtype not in RECORD_TYPES:
            raise invalid("Type", rtype, f"Supported types: {', '.join(sorted(RECORD_TYPES))}.")
        try:
            if rtype == "A":
                ipaddress.IPv4Address(value)
            elif rtype == "AAAA":
                ipaddress.IPv6Address(value)
        except ValueError:
            raise invalid("Value", value, f"It is not a valid {rtype} record value.") from None
        if rtype in ("CNAME", "MX", "NS") and not _HOST_RE.match(value):
            raise invalid("Value", value, f"It is not a valid host name for a {rtype} record.")
        ttl = p.int_("TTL", 600)
        assert ttl is not None
        if ttl > MAX_TTL:
            raise invalid("TTL", ttl, f"It must be at most {MAX_TTL}.")
        if ttl < dom.min_ttl:
            raise ApiError(
                "QuotaExceeded.TTL",
                f"The TTL {ttl} is below the minimum {dom.min_ttl} of the {dom.edition} edition.",
            )
        priority = p.int_("Priority", lo=1, hi=50)
        if rtype == "MX" and priority is None:
            priority = 5
        return ttl, priority if rtype == "MX" else None

    def _check_rules(
        self, dom: Domain, rr: str, rtype: str, line: str, value: str, exclude: str | None
    ) -> None:
        for rec in self.records.values():
            if rec.record_id == exclude or rec.domain != dom.name or rec.rr.lower() != rr.lower():
                continue
            if rec.line != line:
                continue
            if rec.type == rtype and rec.value.lower().rstrip(".") == value.lower().rstrip("."):
                raise ApiError("DomainRecordDuplicate", "The DNS record already exists.")
            excludes = _CNAME_EXCLUDES if rr == "@" else _CNAME_EXCLUDES_BELOW_APEX
            if (rtype == "CNAME" and rec.type in excludes) or (rec.type == "CNAME" and rtype in excludes):
                raise ApiError(
                    "DomainRecordConflict",
                    f"The {rtype} record conflicts with an existing "
                    f"{rec.type} record of {rr} on line {line}.",
                )
        weighted = bool(self.wrr.get((dom.name, rr.lower(), rtype, line)))
        limit = dom.weighted_limit if weighted else MAX_RECORDS_PER_SET
        group = [r for r in self._group(dom.name, rr, rtype, line) if r.record_id != exclude]
        if len(group) + 1 > limit:
            raise _record_quota(rtype, rr, line, limit)

    def _group(self, domain: str, rr: str, rtype: str, line: str) -> list[DnsRecord]:
        return [
            r
            for r in self.records.values()
            if r.domain == domain and r.rr.lower() == rr.lower() and r.type == rtype and r.line == line
        ]

    def _weight(self, rec: DnsRecord) -> int | None:
        if self.wrr.get((rec.domain, rec.rr.lower(), rec.type, rec.line)):
            return rec.weight or 1
        return None

    def _view(self, rec: DnsRecord, *, info: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DomainName": rec.domain,
            "RecordId": rec.record_id,
            "RR": rec.rr,
            "Type": rec.type,
            "Value": rec.value,
            "TTL": rec.ttl,
            "Line": rec.line,
            "Status": rec.status,
            "Locked": rec.locked,
        }
        if rec.priority is not None:
            out["Priority"] = rec.priority
        weight = self._weight(rec)
        if weight is not None:
            out["Weight"] = weight
        if rec.remark:
            out["Remark"] = rec.remark
        if info:
            out.update(
                {
                    "DomainId": self.domains[rec.domain].domain_id,
                    "GroupId": "",
                    "GroupName": "",
                    "PunyCode": rec.domain,
                }
            )
        return out

    def records_for_dns(self, domain: str) -> list[Record]:
        """The domain's enabled records as the shared DNS server serves them."""
        out = []
        for rec in self.records.values():
            if rec.domain != domain or rec.status != "ENABLE":
                continue
            value = rec.value if rec.type != "MX" else f"{rec.priority} {rec.value}"
            out.append(
                Record(
                    name=rec.fqdn,
                    rtype=rec.type,
                    line=rec.line,
                    value=value,
                    ttl=rec.ttl,
                    weight=self._weight(rec),
                )
            )
        return sorted(out)

    # ---- actions -------------------------------------------------------------------------------
    def AddDomainRecord(self, p: Params) -> dict[str, Any]:
        dom = self._domain(p.req("DomainName"))
        rr, rtype, value = p.req("RR"), p.req("Type").upper(), p.req("Value")
        ttl, priority = self._validate(dom, p, rr, rtype, value)
        line = self._line(p)
        self._check_rules(dom, rr, rtype, line, value, exclude=None)
        self._next_id += 1
        self._seq += 1
        rec = DnsRecord(
            str(self._next_id),
            dom.name,
            rr,
            rtype,
            value,
            ttl,
            line,
            priority,
            "ENABLE",
            None,
            None,
            False,
            self._seq,
        )
        self.records[rec.record_id] = rec
        self._changed(dom.name)
        return {"RecordId": rec.record_id}

    def UpdateDomainRecord(self, p: Params) -> dict[str, Any]:
        rec = self._record(p.req("RecordId"))
        dom = self.domains[rec.domain]
        rr, rtype, value = p.req("RR"), p.req("Type").upper(), p.req("Value")
        ttl, priority = self._validate(dom, p, rr, rtype, value)
        line = self._line(p)
        if (rec.rr, rec.type, rec.value, rec.line, rec.ttl, rec.priority) == (
            rr,
            rtype,
            value,
            line,
            ttl,
            priority,
        ):
            raise ApiError("DomainRecordDuplicate", "The DNS record already exists.")
        self._check_rules(dom, rr, rtype, line, value, exclude=rec.record_id)
        rec.rr, rec.type, rec.value, rec.line, rec.ttl, rec.priority = rr, rtype, value, line, ttl, priority
        self._changed(dom.name)
        return {"RecordId": rec.record_id}

    def DeleteDomainRecord(self, p: Params) -> dict[str, Any]:
        rec = self._record(p.req("RecordId"))
        del self.records[rec.record_id]
        self._changed(rec.domain)
        return {"RecordId": rec.record_id}

    def _filter(self, p: Params, recs: Iterable[DnsRecord]) -> list[DnsRecord]:
        mode = (p.get("SearchMode") or "").upper()
        keyword = (p.get("KeyWord") or "").lower()
        out = []
        for r in recs:
            if keyword:
                if mode == "EXACT":
                    if keyword not in (r.rr.lower(), r.value.lower()):
                        continue
                elif keyword not in r.rr.lower() and keyword not in r.value.lower():
                    continue
            if (kw := p.get("RRKeyWord")) and kw.lower() not in r.rr.lower():
                continue
            if (kw := p.get("ValueKeyWord")) and kw.lower() not in r.value.lower():
                continue
            if (kw := p.get("TypeKeyWord")) and kw.upper() != r.type:
                continue
            if (t := p.get("Type")) and t.upper() != r.type:
                continue
            if (line := p.get("Line")) and line != r.line:
                continue
            if (st := p.get("Status")) and st.upper() != r.status:
                continue
            out.append(r)
        order = (p.get("OrderBy") or "").lower()
        desc = (p.get("Direction") or "DESC").upper() != "ASC"
        fields = {
            "rr": "rr",
            "type": "type",
            "value": "value",
            "ttl": "ttl",
            "line": "line",
            "priority": "priority",
            "status": "status",
        }
        if order in fields:
            out.sort(key=lambda r: (str(getattr(r, fields[order])), r.seq), reverse=desc)
        else:
            out.sort(key=lambda r: r.seq, reverse=desc)
        return out

    def DescribeDomainRecords(self, p: Params) -> dict[str, Any]:
        dom = self._domain(p.req("DomainName"))
        recs = self._filter(p, (r for r in self.records.values() if r.domain == dom.name))
        return p.page(
            [self._view(r) for r in recs], key="DomainRecords", item="Record", default_size=20, max_size=500
        )

    def DescribeSubDomainRecords(self, p: Params) -> dict[str, Any]:
        sub = p.req("SubDomain").lower().rstrip(".")
        dom = self._domain_of(sub, p.get("DomainName"))
        rr = "@" if sub == dom.name else sub[: -len(dom.name) - 1]
        recs = [
            r
            for r in self.records.values()
            if r.domain == dom.name
            and r.rr.lower() == rr.lower()
            and (not p.get("Type") or r.type == (p.get("Type") or "").upper())
            and (not p.get("Line") or r.line == p.get("Line"))
        ]
        recs.sort(key=lambda r: r.seq, reverse=True)
        # PageSize 1-100, default 20 (the API reference, help.aliyun.com/document_detail/29778; older
        # pages said 500): a larger one is refused as DescribeDomainRecords refuses one above 500.
        return p.page(
            [self._view(r) for r in recs], key="DomainRecords", item="Record", default_size=20, max_size=100
        )

    def _domain_of(self, sub: str, domain_name: str | None) -> Domain:
        if domain_name:
            return self._domain(domain_name)
        sub = sub[2:] if sub.startswith("@.") else sub
        for name in sorted(self.domains, key=len, reverse=True):
            if sub == name or sub.endswith("." + name):
                return self.domains[name]
        raise ApiError(
            "InvalidDomainName.NoExist",
            "The specified domain name does not exist. Refresh the page and try again.",
        )

    def DescribeDomainRecordInfo(self, p: Params) -> dict[str, Any]:
        return self._view(self._record(p.req("RecordId")), info=True)

    def SetDomainRecordStatus(self, p: Params) -> dict[str, Any]:
        rec = self._record(p.req("RecordId"))
        status = p.req("Status").upper()
        if status not in ("ENABLE", "DISABLE"):
            raise invalid("Status", status, "It must be Enable or Disable.")
        rec.status = status
        self._changed(rec.domain)
        return {"RecordId": rec.record_id, "Status": status.capitalize()}

    def UpdateDomainRecordRemark(self, p: Params) -> dict[str, Any]:
        rec = self._record(p.req("RecordId"))
        remark = p.get("Remark")
        if remark is not None and len(remark) > 50:
            raise invalid("Remark", remark, "It must be at most 50 characters.")
        rec.remark = remark
        return {}

    def DescribeSupportLines(self, p: Params) -> dict[str, Any]:
        if p.get("DomainName"):
            self._domain(p.req("DomainName"))
        lines = [
            {
                "LineCode": line.code,
                "LineName": line.name,
                "LineDisplayName": line.name,
                **({"FatherCode": line.parent} if line.parent else {}),
            }
            for line in self.lines.values()
        ]
        return {"RecordLines": {"RecordLine": lines}}

    def DescribeDomainInfo(self, p: Params) -> dict[str, Any]:
        dom = self._domain(p.req("DomainName"))
        count = sum(1 for r in self.records.values() if r.domain == dom.name)
        return {
            "DomainId": dom.domain_id,
            "DomainName": dom.name,
            "PunyCode": dom.name,
            "VersionCode": dom.edition,
            "MinTtl": dom.min_ttl,
            "RecordCount": count,
            "DnsServers": {"DnsServer": ["ns1.alidns.com", "ns2.alidns.com"]},
        }

    def DescribeDomains(self, p: Params) -> dict[str, Any]:
        items = [
            {
                "DomainId": d.domain_id,
                "DomainName": d.name,
                "PunyCode": d.name,
                "VersionCode": d.edition,
                "RecordCount": sum(1 for r in self.records.values() if r.domain == d.name),
            }
            for d in sorted(self.domains.values(), key=lambda d: d.name)
        ]
        return p.page(items, key="Domains", item="Domain", default_size=20, max_size=100)

    def SetDNSSLBStatus(self, p: Params) -> dict[str, Any]:
        sub = p.req("SubDomain").lower().rstrip(".")
        dom = self._domain_of(sub, p.get("DomainName"))
        rr = "@" if sub in (dom.name, "@." + dom.name) else sub[: -len(dom.name) - 1]
        if "*" in rr:
            raise invalid("SubDomain", sub, "Weighted round robin is not available for wildcard records.")
        rtype = (p.get("Type") or "A").upper()
        if rtype not in WEIGHTED_TYPES:
            raise invalid("Type", rtype, "Weighted round robin supports A, AAAA and CNAME.")
        line = self._line(p)
        is_open = p.bool_("Open", True)
        group = self._group(dom.name, rr, rtype, line)
        if not group:
            raise ApiError("DomainRecordNotBelongToUser", f"No {rtype} record of {sub} on line {line}.")
        if is_open and len(group) > dom.weighted_limit:
            raise _record_quota(rtype, rr, line, dom.weighted_limit)
        self.wrr[(dom.name, rr.lower(), rtype, line)] = bool(is_open)
        self._changed(dom.name)
        return {"RecordCount": len(group), "Open": bool(is_open)}

    def UpdateDNSSLBWeight(self, p: Params) -> dict[str, Any]:
        # Error codes as the action's reference lists them, "InvalidWeigth" spelling included.
        rec = self._record(p.req("RecordId"))
        raw = p.req("Weight")
        try:
            weight = int(raw)
        except ValueError:
            weight = 0
        if not 1 <= weight <= 100:
            raise ApiError("InvalidWeigth", "The weigth value is invalid.")
        if rec.type not in WEIGHTED_TYPES:
            raise invalid("RecordId", rec.record_id, "Weights apply to A, AAAA and CNAME records.")
        if "*" in rec.rr:
            raise ApiError("PanDomainRecord", "The domain record is Pan domain record.")
        if rec.locked:
            raise ApiError("DomainRecordLocked", "The domain record has been locked.")
        if rec.status != "ENABLE":
            raise ApiError("DomainRecordDisable", "The domain record is disable.")
        if not self.wrr.get((rec.domain, rec.rr.lower(), rec.type, rec.line)):
            raise ApiError("DisableDNSSLB", "The subdomain's DNS SLB status is closed.")
        rec.weight = weight
        self._changed(rec.domain)
        return {"RecordId": rec.record_id, "Weight": weight}

    def DescribeDNSSLBSubDomains(self, p: Params) -> dict[str, Any]:
        dom = self._domain(p.req("DomainName"))
        want_rr = (p.get("Rr") or "").lower()
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for r in self.records.values():
            if r.domain != dom.name or r.type not in WEIGHTED_TYPES or "*" in r.rr:
                continue
            if want_rr and r.rr.lower() != want_rr:
                continue
            groups.setdefault((r.rr.lower(), r.type), {}).setdefault(r.line, 0)
            groups[(r.rr.lower(), r.type)][r.line] += 1
        items = []
        for (rr, rtype), lines in sorted(groups.items()):
            opened = {line: bool(self.wrr.get((dom.name, rr, rtype, line))) for line in lines}
            if sum(lines.values()) < 2 and not any(opened.values()):
                continue  # one record: nothing to balance
            items.append(
                {
                    "SubDomain": dom.name if rr == "@" else f"{rr}.{dom.name}",
                    "Type": rtype,
                    "RecordCount": sum(lines.values()),
                    "Open": any(opened.values()),
                    "LineAlgorithms": {
                        "LineAlgorithm": [{"Line": line, "Open": o} for line, o in sorted(opened.items())]
                    },
                }
            )
        return p.page(items, key="SlbSubDomains", item="SlbSubDomain", default_size=20, max_size=100)

    # ---- inspection ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "domains": {n: asdict(d) | {"min_ttl": d.min_ttl} for n, d in self.domains.items()},
            "records": [self._view(r) for r in sorted(self.records.values(), key=lambda r: r.seq)],
            "weighted": [
                {"domain": k[0], "rr": k[1], "type": k[2], "line": k[3], "open": v}
                for k, v in self.wrr.items()
            ],
        }
