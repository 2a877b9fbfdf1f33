"""Steering policies: from an app's DNS spec and its regions to the desired records per line.

Pure: plain data in, plain data out. The policies (``DnsSpec.policy``):

- ``Latency``: per steering line, the eligible region with the lowest RTT from that line, plus every
  region within ``latencyToleranceMs`` of it, spread by weight; ``default`` answers every eligible
  region by weight.
- ``Geo``: the user's map (``dns.lines``) per line; a line whose mapped regions are all out falls back
  along its parents (it is simply not published, so its clients get the parent's answer).
- ``Weighted``: every eligible region by weight, on ``default`` only.
- ``Failover``: the first eligible region of the order (any length) answers everyone.

Per-line overrides (``dns.lines``) pin a line to regions under every policy, while one of them is
eligible. A region is *eligible* when it has an address, is healthy and has a weight above zero.
When no region is eligible the answer *fails open* to every region that has an address, on every
line (as Route 53 does), flagged in the result. The ``default`` line always has records (when any
region has an address). DNS weights follow the given region weights (replica weights by default), scaled into
alidns's 1-100; a line whose regions all weigh the same is published unweighted (plain round robin).

A line whose answer equals the answer its clients would fall back to is not published (fewer
records, fewer API calls; same answers).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from federation.dns.latency import LatencyMatrix
from federation.dns.lines import LineCatalogue
from federation.dns.records import DEFAULT_LINE, Record

Policy = Literal["Latency", "Geo", "Weighted", "Failover"]

# The lines the Latency policy steers when the caller does not choose: the level-1 carriers and
# geographic lines, the mainland areas and the overseas continents (20 with default).
DEFAULT_STEERING_LINES: tuple[str, ...] = (
    DEFAULT_LINE,
    "telecom",
    "unicom",
    "mobile",
    "edu",
    "internal",
    "oversea",
    "cn_region_huabei",
    "cn_region_dongbei",
    "cn_region_huadong",
    "cn_region_huazhong",
    "cn_region_huanan",
    "cn_region_xinan",
    "cn_region_xibei",
    "os_asia",
    "os_euro",
    "os_namerica",
    "os_samerica",
    "os_africa",
    "os_oceania",
)


class LineOverride(Protocol):
    @property
    def line(self) -> str: ...
    @property
    def regions(self) -> list[str]: ...


class DnsSpecLike(Protocol):
    """What steering reads of ``federation.api.federatedapp.DnsSpec``."""

    @property
    def hostname(self) -> str: ...
    @property
    def ttl(self) -> int: ...
    @property
    def policy(self) -> str: ...
    @property
    def latency_tolerance_ms(self) -> int: ...
    @property
    def failover_order(self) -> list[str] | None: ...
    @property
    def lines(self) -> Sequence[LineOverride] | None: ...


@dataclass(frozen=True, slots=True)
class RegionEndpoint:
    """One region of the app as DNS sees it."""

    region: str
    address: str | None  # IPv4/IPv6 -> A/AAAA; a hostname -> CNAME; None: not published
    healthy: bool
    weight: int = 1  # replica weight; 0 = no replicas there
    reason: str = ""  # why it is unhealthy (shown in status and the change log)


@dataclass(frozen=True)
class DesiredRecords:
    hostname: str
    records: tuple[Record, ...]
    answers: Mapping[str, tuple[str, ...]]  # published line -> regions, in order
    serving: Mapping[str, bool]
    reasons: Mapping[str, str]  # region -> why it serves or not
    fail_open: bool
    line_reasons: Mapping[str, str] = field(default_factory=dict)  # line -> why it answers that
    unknown_lines: tuple[str, ...] = ()  # lines of spec.dns.lines missing from the catalogue (ignored)


Answer = tuple[tuple[str, int], ...]  # (region, weight) pairs


def record_type(address: str) -> str:
    try:
        return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    except ValueError:
        return "CNAME"


def dns_weights(weights: Sequence[int]) -> list[int | None]:
    """Region weights as alidns weights (1-100), or all None when they are equal (plain round robin)."""
    if len(set(weights)) <= 1:
        return [None] * len(weights)
    top = max(weights)
    if top <= 100:
        return [max(1, w) for w in weights]
    return [max(1, min(100, round(w * 100 / top))) for w in weights]


def desired_records(
    spec: DnsSpecLike,
    endpoints: Sequence[RegionEndpoint],
    latency: LatencyMatrix,
    catalogue: LineCatalogue,
    *,
    failover_order: Sequence[str] | None = None,
    steering_lines: Sequence[str] = DEFAULT_STEERING_LINES,
) -> DesiredRecords:
    """The records the app should publish now, with the reasons."""
    hostname = spec.hostname.lower().rstrip(".")
    by_region = {e.region: e for e in endpoints}
    reasons: dict[str, str] = {}
    with_address = [e for e in endpoints if e.address]
    for e in endpoints:
        if not e.address:
            reasons[e.region] = "no address yet"
        elif not e.healthy:
            reasons[e.region] = f"unhealthy: {e.reason}" if e.reason else "unhealthy"
        elif e.weight <= 0:
            reasons[e.region] = "no-replicas"
    eligible = [e for e in with_address if e.healthy and e.weight > 0]
    fail_open = not eligible and bool(with_address)
    if fail_open:
        eligible = list(with_address)
    weight = {e.region: (max(e.weight, 1) if fail_open else e.weight) for e in eligible}
    names = [e.region for e in eligible]

    def spread(regions: Sequence[str]) -> Answer:
        return tuple((r, weight[r]) for r in regions)

    answers: dict[str, Answer] = {}
    line_reasons: dict[str, str] = {}
    policy = spec.policy
    order = list(failover_order if failover_order is not None else spec.failover_order or [])
    order += [e.region for e in endpoints if e.region not in order]

    if fail_open:
        # Fail open: every region with an address, to every client (no policy can choose well now).
        answers[DEFAULT_LINE] = spread(names)
        line_reasons[DEFAULT_LINE] = "fail-open: no healthy region, answering all"
    elif names:
        if policy == "Failover":
            primary = next(r for r in order if r in weight)
            answers[DEFAULT_LINE] = spread([primary])
            line_reasons[DEFAULT_LINE] = f"failover: first eligible of {order}"
        else:
            answers[DEFAULT_LINE] = spread(names)
            line_reasons[DEFAULT_LINE] = "every eligible region by weight"
        if policy == "Latency":
            tolerance = float(spec.latency_tolerance_ms)
            for line in steering_lines:
                if line == DEFAULT_LINE or line not in catalogue:
                    continue
                rtts = {r: latency.rtt(line, r) for r in names}
                known = {r: v for r, v in rtts.items() if v is not None}
                if not known:
                    continue
                best = min(known.values())
                chosen = [r for r in names if r in known and known[r] <= best + tolerance]
                answers[line] = spread(chosen)
                nearest = min(chosen, key=lambda r: (known[r], r))
                line_reasons[line] = f"nearest {nearest} {known[nearest]:g} ms (tolerance {tolerance:g} ms)"
        for override in spec.lines or ():
            pinned = [r for r in override.regions if r in weight]
            if pinned:
                answers[override.line] = spread(pinned)
                line_reasons[override.line] = "pinned by spec.dns.lines"
            else:
                answers.pop(override.line, None)  # fall back along the line's parents
                line_reasons[override.line] = "pinned regions all out: falls back to parent line"

    published = _compact(answers, catalogue)
    records: list[Record] = []
    for line, answer in published.items():
        records.extend(_line_records(hostname, line, answer, by_region, spec.ttl))
    served = {r for answer in published.values() for r, _ in answer}
    serving = {e.region: e.region in served for e in endpoints}
    for e in endpoints:
        if e.region in served:
            reasons[e.region] = "fail-open" if fail_open else "serving"
        elif e.region not in reasons:
            reasons[e.region] = "standby" if policy == "Failover" else "not-selected"
    return DesiredRecords(
        hostname=hostname,
        records=tuple(sorted(records)),
        answers={line: tuple(r for r, _ in a) for line, a in published.items()},
        serving=serving,
        reasons=reasons,
        fail_open=fail_open,
        line_reasons={line: line_reasons.get(line, "") for line in published},
        unknown_lines=tuple(sorted({o.line for o in spec.lines or () if o.line not in catalogue})),
    )


def _compact(answers: Mapping[str, Answer], catalogue: LineCatalogue) -> dict[str, Answer]:
    """Drop lines whose answer equals what their clients would fall back to."""
    if DEFAULT_LINE not in answers:
        return {}
    published: dict[str, Answer] = {DEFAULT_LINE: answers[DEFAULT_LINE]}
    known = [line for line in answers if line != DEFAULT_LINE and line in catalogue]
    for line in sorted(known, key=lambda code: (len(catalogue.chain(code)), code)):
        fallback = next(published[p] for p in catalogue.chain(line)[1:] if p in published)
        if _same(answers[line], fallback):
            continue
        published[line] = answers[line]
    return published


def _same(a: Answer, b: Answer) -> bool:
    """Same answer to a client: same regions with the same relative weights."""
    if {r for r, _ in a} != {r for r, _ in b}:
        return False
    wa, wb = dict(a), dict(b)
    regions = sorted(wa)
    return dns_weights([wa[r] for r in regions]) == dns_weights([wb[r] for r in regions])


def _line_records(
    hostname: str, line: str, answer: Answer, by_region: Mapping[str, RegionEndpoint], ttl: int
) -> list[Record]:
    entries = [(by_region[r].address or "", w) for r, w in answer]
    typed = [(addr, record_type(addr), w) for addr, w in entries]
    if any(t != "CNAME" for _, t, _ in typed):
        typed = [x for x in typed if x[2] != "CNAME"]  # a CNAME cannot share a line with A/AAAA
    out: list[Record] = []
    for rtype in ("A", "AAAA", "CNAME"):
        group = [(addr, w) for addr, t, w in typed if t == rtype]
        # Two regions behind one address (a shared VIP) are one record with their summed weight.
        merged: dict[str, int] = {}
        for addr, w in group:
            key = addr.lower().rstrip(".") if rtype == "CNAME" else addr
            merged[key] = merged.get(key, 0) + w
        values = sorted(merged)
        weights = dns_weights([merged[v] for v in values])
        if rtype == "CNAME" and len(values) > 1 and weights[0] is None:
            weights = [1] * len(values)  # several CNAMEs are only valid as a weighted set
        out.extend(Record(hostname, rtype, line, v, ttl, w) for v, w in zip(values, weights, strict=True))
    return out
