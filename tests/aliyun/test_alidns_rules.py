"""Property: whatever sequence of record operations a client sends, the emulated alidns account never
holds a state the real service forbids (duplicates, CNAME conflicts, TTLs under the edition minimum,
oversized record sets) and DNS never serves a disabled record."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.dns.lines import default_catalogue
from federation.sandbox.aliyun.alidns import AlidnsService
from federation.sandbox.aliyun.protocol import ApiError, Params

RRS = st.sampled_from(["@", "www", "api", "*.dev"])
TYPES = st.sampled_from(["A", "AAAA", "CNAME", "TXT", "MX"])
LINES = st.sampled_from(["default", "telecom", "unicom"])
VALUES = {
    "A": ["192.0.2.1", "192.0.2.2"],
    "AAAA": ["2001:db8::1"],
    "CNAME": ["a.example.org", "b.example.org"],
    "TXT": ["hello", "world"],
    "MX": ["mx.example.org"],
}


@st.composite
def operations(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    kind = draw(st.sampled_from(["add", "add", "add", "update", "delete", "status"]))
    rtype = draw(TYPES)
    params = {
        "DomainName": "example.com",
        "RR": draw(RRS),
        "Type": rtype,
        "Value": draw(st.sampled_from(VALUES[rtype])),
        "TTL": str(draw(st.sampled_from([1, 60, 600]))),
        "Line": draw(LINES),
        "Status": draw(st.sampled_from(["Enable", "Disable"])),
    }
    params["Pick"] = str(draw(st.integers(min_value=0, max_value=20)))
    return kind, params


def _invariants(svc: AlidnsService) -> None:
    recs = list(svc.records.values())
    keys = [(r.rr.lower(), r.type, r.line, r.value.lower()) for r in recs]
    assert len(keys) == len(set(keys)), "duplicate record"
    for r in recs:
        assert r.ttl >= svc.domains[r.domain].min_ttl
        if r.type != "CNAME":
            continue
        for o in recs:
            if o is r or o.rr.lower() != r.rr.lower() or o.line != r.line:
                continue
            allowed = {"CNAME", "MX", "TXT"} if r.rr == "@" else {"CNAME"}
            assert o.type in allowed, f"CNAME beside {o.type} at {r.rr}/{r.line}"
    served = {(rec.name, rec.rtype, rec.line, rec.value) for rec in svc.records_for_dns("example.com")}
    for r in recs:
        value = r.value if r.type != "MX" else f"{r.priority} {r.value}"
        assert ((r.fqdn, r.type, r.line, value) in served) == (r.status == "ENABLE")


@settings(max_examples=150, deadline=None)
@given(st.lists(operations(), max_size=40))
def test_rules_hold_after_any_sequence(ops: list[tuple[str, dict[str, str]]]) -> None:
    svc = AlidnsService(default_catalogue())
    svc.add_domain("example.com", "enterprise_standard")
    refusals: list[ApiError] = []
    for kind, params in ops:
        ids = sorted(svc.records)
        picked = ids[int(params["Pick"]) % len(ids)] if ids else "0"
        try:
            if kind == "add":
                svc.AddDomainRecord(Params(params))
            elif kind == "update":
                svc.UpdateDomainRecord(Params({**params, "RecordId": picked}))
            elif kind == "delete":
                svc.DeleteDomainRecord(Params({"RecordId": picked}))
            else:
                svc.SetDomainRecordStatus(Params({"RecordId": picked, "Status": params["Status"]}))
        except ApiError as err:
            refusals.append(err)
        _invariants(svc)
    expected = {
        "DomainRecordDuplicate",
        "DomainRecordConflict",
        "QuotaExceeded.TTL",
        "DomainRecordNotBelongToUser",
        "QuotaExceeded.Record",
    }
    assert all(err.status == 400 and err.code in expected for err in refusals)
