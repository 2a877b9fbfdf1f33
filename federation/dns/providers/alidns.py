"""The alidns provider: plans carried out through the alidns API (``AlidnsApi``), lines and weights
included.

Reads: one paged DescribeDomainRecords per zone, cached; the cache is kept current by our own
writes and refetched after ``max_age`` seconds (the resync period) or after a failed write, so at
steady state a reconcile makes no call at all, and a resync at most one read per zone. Writes, per
change in the plan's order: AddDomainRecord (or SetDomainRecordStatus to re-enable a disabled twin,
since a duplicate would be refused), UpdateDomainRecord only when the value or TTL changed (alidns
answers DomainRecordDuplicate to a no-op update), DeleteDomainRecord. Weights follow once a plan's
records are in place: weighted round robin is switched per (name, type, line) with SetDNSSLBStatus
and each weight set with UpdateDNSSLBWeight (1-100), only where it differs. Retries with backoff on
throttling and the rate limit live in ``AlibabaClient``. AddDomainRecord is never repeated blindly: when
its answer is lost (:class:`AmbiguousWriteError`), the provider reads the sub-domain's records back
(DescribeSubDomainRecords) and adopts the record it meant to create if it is there, so a lost answer
never leads to a second record. Ownership is the plan's TXT registry record,
so no Remark calls are needed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from federation.cloud.alibaba.alidns import AlidnsApi, DomainRecord
from federation.cloud.alibaba.errors import AlibabaError, AmbiguousWriteError
from federation.dns.plan import Change, Plan
from federation.dns.providers import ApplyResult, DnsProviderError
from federation.dns.records import Record

WEIGHTED_TYPES = frozenset({"A", "AAAA", "CNAME"})
GroupKey = tuple[str, str, str]  # (name, rtype, line)


@dataclass
class _ZoneCache:
    fetched_at: float
    # key -> (record id, record as published, enabled)
    entries: dict[tuple[str, str, str, str], tuple[str, Record, bool]] = field(default_factory=dict)
    wrr: dict[GroupKey, bool] = field(default_factory=dict)
    groups: dict[GroupKey, set[tuple[str, str, str, str]]] = field(default_factory=dict)

    names: dict[str, set[tuple[str, str, str, str]]] = field(default_factory=dict)

    def put(self, record_id: str, rec: Record, enabled: bool) -> None:
        self.entries[rec.key] = (record_id, rec, enabled)
        self.groups.setdefault((rec.name, rec.rtype, rec.line), set()).add(rec.key)
        self.names.setdefault(rec.name, set()).add(rec.key)

    def drop(self, key: tuple[str, str, str, str]) -> None:
        self.entries.pop(key, None)
        self.groups.get((key[0], key[1], key[2]), set()).discard(key)
        self.names.get(key[0], set()).discard(key)


def _rr(name: str, zone: str) -> str:
    return "@" if name == zone else name[: -len(zone) - 1]


def _record(d: DomainRecord, zone: str) -> Record:
    name = zone if d.rr == "@" else f"{d.rr.lower()}.{zone}"
    return Record(name, d.type.upper(), d.line, d.value, d.ttl, d.weight)


class AlidnsProvider:
    name = "alidns"
    supports_update = True

    def __init__(
        self,
        api: AlidnsApi,
        *,
        zones: Sequence[str] = (),
        max_age: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.max_age = max_age
        self._clock = clock
        self._zones = [z.lower().rstrip(".") for z in zones]
        self._cache: dict[str, _ZoneCache] = {}
        self.calls: Counter[str] = Counter()  # API calls by action, for the benchmarks and status

    def zones(self) -> list[str]:
        return list(self._zones)

    def invalidate(self, zone: str | None = None) -> None:
        if zone is None:
            self._cache.clear()
        else:
            self._cache.pop(zone.lower().rstrip("."), None)

    async def _zone(self, zone: str) -> _ZoneCache:
        zone = zone.lower().rstrip(".")
        cache = self._cache.get(zone)
        if cache is not None and self._clock() - cache.fetched_at < self.max_age:
            return cache
        self.calls["DescribeDomainRecords"] += 1
        try:
            found = await self.api.describe_domain_records(zone)
        except AlibabaError as err:
            raise DnsProviderError(f"alidns: reading {zone}: {err.code}: {err}", code=err.code) from err
        cache = _ZoneCache(self._clock())
        for d in found:
            rec = _record(d, zone)
            cache.put(d.record_id, rec, d.status == "ENABLE")
            if rec.rtype in WEIGHTED_TYPES and d.weight is not None:
                cache.wrr[(rec.name, rec.rtype, rec.line)] = True
        self._cache[zone] = cache
        if zone not in self._zones:
            self._zones.append(zone)
        return cache

    async def records(self, zone: str, names: Collection[str] | None = None) -> list[Record]:
        cache = await self._zone(zone)
        if names is None:
            return sorted(rec for _id, rec, enabled in cache.entries.values() if enabled)
        keys = [k for n in names for k in cache.names.get(n.lower().rstrip("."), ())]
        return sorted(cache.entries[k][1] for k in keys if cache.entries[k][2])

    async def apply(self, plan: Plan) -> ApplyResult:
        zone = plan.zone.lower().rstrip(".")
        cache = await self._zone(zone)
        result = ApplyResult()
        before = sum(self.calls.values())
        wanted_weight: dict[tuple[str, str, str, str], int | None] = {}
        touched: list[GroupKey] = []
        try:
            for change in plan.changes:
                await self._apply_one(zone, cache, change)
                result.applied.append(change)
                r = change.record
                if r.rtype in WEIGHTED_TYPES and change.action != "delete":
                    wanted_weight[r.key] = r.weight
                group = (r.name, r.rtype, r.line)
                if r.rtype in WEIGHTED_TYPES and group not in touched:
                    touched.append(group)
            for group in touched:
                await self._sync_weights(zone, cache, group, wanted_weight)
        except AlibabaError as err:
            self.invalidate(zone)  # our picture of the zone may be wrong now: read it again next time
            result.api_calls = sum(self.calls.values()) - before
            raise DnsProviderError(
                f"alidns: {err.code}: {err}", applied=len(result.applied), code=err.code
            ) from err
        result.api_calls = sum(self.calls.values()) - before
        return result

    async def _apply_one(self, zone: str, cache: _ZoneCache, change: Change) -> None:
        r = change.record
        rr = _rr(r.name, zone)
        if change.action == "create":
            twin = cache.entries.get(r.key)
            if twin is not None and not twin[2]:  # a disabled copy: enable it instead of a duplicate
                self.calls["SetDomainRecordStatus"] += 1
                await self.api.set_domain_record_status(twin[0], True)
                record_id = twin[0]
                if twin[1].ttl != r.ttl:
                    self.calls["UpdateDomainRecord"] += 1
                    await self.api.update_domain_record(
                        record_id, rr, r.rtype, r.value, ttl=r.ttl, line=r.line
                    )
            else:
                record_id = await self._add(zone, rr, r)
            opened = cache.wrr.get((r.name, r.rtype, r.line), False)
            cache.put(record_id, Record(r.name, r.rtype, r.line, r.value, r.ttl, 1 if opened else None), True)
        elif change.action == "update":
            old = change.old or r
            entry = cache.entries.get(old.key)
            if entry is None:
                raise AlibabaError(
                    "DomainRecordNotBelongToUser", f"{old.name} {old.rtype} {old.value}: not in the zone"
                )
            record_id, published, _enabled = entry
            if published.value != r.value or published.ttl != r.ttl:
                self.calls["UpdateDomainRecord"] += 1
                await self.api.update_domain_record(record_id, rr, r.rtype, r.value, ttl=r.ttl, line=r.line)
            cache.drop(old.key)
            cache.put(record_id, Record(r.name, r.rtype, r.line, r.value, r.ttl, published.weight), True)
        else:
            entry = cache.entries.get(r.key)
            if entry is None:
                return  # already gone: the desired end state holds
            self.calls["DeleteDomainRecord"] += 1
            await self.api.delete_domain_record(entry[0])
            cache.drop(r.key)

    async def _add(self, zone: str, rr: str, r: Record) -> str:
        """AddDomainRecord, or, when its answer was lost, the id of the same record found by reading
        back (the create did happen)."""
        self.calls["AddDomainRecord"] += 1
        try:
            return await self.api.add_domain_record(zone, rr, r.rtype, r.value, ttl=r.ttl, line=r.line)
        except AmbiguousWriteError:
            found = await self._find(zone, r)
            if found is None:
                raise  # it did not happen: the reconcile fails and the next one adds it again
            if found.status != "ENABLE":
                self.calls["SetDomainRecordStatus"] += 1
                await self.api.set_domain_record_status(found.record_id, True)
            return found.record_id

    async def _find(self, zone: str, r: Record) -> DomainRecord | None:
        """The zone's record with ``r``'s name, type, line and value (compared as alidns compares
        them for duplicates: case and a trailing dot aside), if there is one."""
        self.calls["DescribeSubDomainRecords"] += 1
        sub = f"@.{zone}" if r.name == zone else r.name
        value = r.value.lower().rstrip(".")
        for d in await self.api.describe_sub_domain_records(sub, type=r.rtype, line=r.line, domain=zone):
            got = _record(d, zone)
            if (got.name, got.rtype, got.line) == (r.name, r.rtype, r.line) and (
                got.value.lower().rstrip(".") == value
            ):
                return d
        return None

    async def _sync_weights(
        self,
        zone: str,
        cache: _ZoneCache,
        group: GroupKey,
        wanted: dict[tuple[str, str, str, str], int | None],
    ) -> None:
        name, rtype, line = group
        members = [(k, cache.entries[k]) for k in sorted(cache.groups.get(group, ())) if cache.entries[k][2]]
        if not members:
            return
        target = {k: wanted.get(k, v[1].weight) for k, v in members}
        want_open = any(w is not None for w in target.values()) and len(members) > 1
        is_open = cache.wrr.get(group, False)
        sub = f"@.{zone}" if name == zone else name
        if want_open != is_open:
            self.calls["SetDNSSLBStatus"] += 1
            await self.api.set_dnsslb_status(sub, want_open, domain=zone, type=rtype, line=line)
            cache.wrr[group] = want_open
            # Weights the service keeps from an earlier opening are unknown to us: set them all.
            for k, (rid, rec, en) in members:
                cache.entries[k] = (rid, Record(rec.name, rec.rtype, rec.line, rec.value, rec.ttl, None), en)
        if not want_open:
            return
        for k, (rid, rec, en) in [(k, cache.entries[k]) for k, _ in members]:
            w = target[k] or 1
            if rec.weight != w:
                self.calls["UpdateDNSSLBWeight"] += 1
                await self.api.update_dnsslb_weight(rid, w)
                cache.entries[k] = (rid, Record(rec.name, rec.rtype, rec.line, rec.value, rec.ttl, w), en)
