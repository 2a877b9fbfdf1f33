"""The alidns provider: plans carried out through the alidns API (``AlidnsApi``), lines and weights
included.

Reads: one paged DescribeDomainRecords per zone, cached; the cache is kept current by our own
writes and refetched after ``max_age`` seconds (the resync period) or after a failed write, so at
steady state a reconcile makes no call at all, and a resync at most one read per zone. One reader per
zone at a time (the others wait for its answer), and reads are ordered against writes: a write that
lands while a read is in flight is replayed on the read's result, so a read answered before a delete
never brings the record back. Writes, per
change in the plan's order: AddDomainRecord (or SetDomainRecordStatus to re-enable a disabled twin,
since a duplicate would be refused), UpdateDomainRecord only when the value or TTL changed (alidns
answers DomainRecordDuplicate to a no-op update), DeleteDomainRecord. Weights follow once a plan's
records are in place: weighted round robin is switched per (name, type, line) with SetDNSSLBStatus
and each weight set with UpdateDNSSLBWeight (1-100), only where it differs; a group the plan leaves
with fewer than two records is switched off *before* its deletes (alidns switches nothing on a name
without records, so releasing a name leaves no switch behind). A create answered
``DomainRecordDuplicate`` adopts the record that is there; a delete answered
``DomainRecordNotBelongToUser`` is done already. Retries with backoff on
throttling and the rate limit live in ``AlibabaClient``. AddDomainRecord is never repeated blindly: when
its answer is lost (:class:`AmbiguousWriteError`), the provider reads the sub-domain's records back
(DescribeSubDomainRecords) and adopts the record it meant to create if it is there, so a lost answer
never leads to a second record. Ownership is the plan's TXT registry record,
so no Remark calls are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from federation.cloud.alibaba.alidns import AlidnsApi, DomainRecord
from federation.cloud.alibaba.errors import AlibabaError, AmbiguousWriteError
from federation.cloud.alibaba.retry import NO_RETRY
from federation.dns.plan import Change, Plan
from federation.dns.providers import ApplyResult, DnsProviderError
from federation.dns.records import Record

WEIGHTED_TYPES = frozenset({"A", "AAAA", "CNAME"})
GroupKey = tuple[str, str, str]  # (name, rtype, line)


RecordKey = tuple[str, str, str, str]
_STALE = float("-inf")


@dataclass
class _ZoneCache:
    """What we know of one zone. One object per zone for the provider's lifetime: a read refreshes it
    in place, so an apply holding it never writes into a copy that has been replaced."""

    fetched_at: float = _STALE
    # key -> (record id, record as published, enabled)
    entries: dict[RecordKey, tuple[str, Record, bool]] = field(default_factory=dict)
    wrr: dict[GroupKey, bool] = field(default_factory=dict)
    groups: dict[GroupKey, set[RecordKey]] = field(default_factory=dict)
    names: dict[str, set[RecordKey]] = field(default_factory=dict)
    # Our writes made while a read is in flight: the read may have been answered before them, so they
    # are replayed on top of its result (a write after a read wins over that read).
    journal: list[tuple[str, tuple[Any, ...]]] | None = None

    def put(self, record_id: str, rec: Record, enabled: bool) -> None:
        self._put(record_id, rec, enabled)
        if self.journal is not None:
            self.journal.append(("put", (record_id, rec, enabled)))

    def drop(self, key: RecordKey) -> None:
        self._drop(key)
        if self.journal is not None:
            self.journal.append(("drop", (key,)))

    def set_wrr(self, group: GroupKey, is_open: bool) -> None:
        self.wrr[group] = is_open
        if self.journal is not None:
            self.journal.append(("wrr", (group, is_open)))

    def _put(self, record_id: str, rec: Record, enabled: bool) -> None:
        self.entries[rec.key] = (record_id, rec, enabled)
        self.groups.setdefault((rec.name, rec.rtype, rec.line), set()).add(rec.key)
        self.names.setdefault(rec.name, set()).add(rec.key)

    def _drop(self, key: RecordKey) -> None:
        self.entries.pop(key, None)
        self.groups.get((key[0], key[1], key[2]), set()).discard(key)
        self.names.get(key[0], set()).discard(key)

    def replace_name(self, name: str, found: Sequence[DomainRecord], zone: str) -> None:
        """Make what we know of ``name`` what a fresh read of that one name found (journalled like
        our writes, so a zone read in flight does not bring the older picture back)."""
        for key in sorted(self.names.get(name, ())):
            self.drop(key)
        groups: dict[GroupKey, bool] = {}
        for d in found:
            rec = _record(d, zone)
            if rec.name != name:
                continue
            self.put(d.record_id, rec, d.status == "ENABLE")
            if rec.rtype in WEIGHTED_TYPES:
                group = (rec.name, rec.rtype, rec.line)
                groups[group] = groups.get(group, False) or d.weight is not None
        for group, is_open in groups.items():
            self.set_wrr(group, is_open)

    def begin_read(self) -> None:
        self.journal = []

    def abort_read(self) -> None:
        self.journal = None

    def land(self, found: Sequence[DomainRecord], zone: str, now: float) -> None:
        """Replace what we know by a read's result, then replay the writes made since it started."""
        journal, self.journal = self.journal or [], None
        self.entries, self.wrr, self.groups, self.names = {}, {}, {}, {}
        for d in found:
            rec = _record(d, zone)
            self._put(d.record_id, rec, d.status == "ENABLE")
            if rec.rtype in WEIGHTED_TYPES and d.weight is not None:
                self.wrr[(rec.name, rec.rtype, rec.line)] = True
        for op, args in journal:
            if op == "put":
                self._put(*args)
            elif op == "drop":
                self._drop(*args)
            else:
                self.wrr[args[0]] = args[1]
        self.fetched_at = now


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
        self._read_locks: dict[str, asyncio.Lock] = {}
        self.calls: Counter[str] = Counter()  # API calls by action, for the benchmarks and status

    @contextlib.contextmanager
    def single_shot(self) -> Iterator[None]:
        """Calls inside are sent once, not repeated by the client: while alidns keeps refusing, each
        probe of the publisher's pause costs one call."""
        client = self.api.client
        saved, client.retry = client.retry, NO_RETRY
        try:
            yield
        finally:
            client.retry = saved

    def zones(self) -> list[str]:
        return list(self._zones)

    def invalidate(self, zone: str | None = None) -> None:
        """Read ``zone`` (every zone) again before its next use."""
        for name, cache in self._cache.items():
            if zone is None or name == zone.lower().rstrip("."):
                cache.fetched_at = _STALE

    async def _zone(self, zone: str) -> _ZoneCache:
        zone = zone.lower().rstrip(".")
        cache = self._cache.setdefault(zone, _ZoneCache())
        if self._clock() - cache.fetched_at < self.max_age:
            return cache
        # One reader per zone: the others wait for its result instead of racing it with their own.
        async with self._read_locks.setdefault(zone, asyncio.Lock()):
            if self._clock() - cache.fetched_at < self.max_age:
                return cache
            self.calls["DescribeDomainRecords"] += 1
            cache.begin_read()
            try:
                found = await self.api.describe_domain_records(zone)
            except AlibabaError as err:
                cache.abort_read()
                raise DnsProviderError(
                    f"alidns: reading {zone}: {err.code}: {err}", code=err.code, refused=err.refused
                ) from err
            except BaseException:
                cache.abort_read()
                raise
            cache.land(found, zone, self._clock())
        if zone not in self._zones:
            self._zones.append(zone)
        return cache

    async def refresh_names(self, zone: str, names: Collection[str]) -> None:
        """Read ``names`` afresh, one DescribeSubDomainRecords each, and put what they hold now into
        the zone's cache in place of what it knew (the publisher's claim check: another controller
        replica may have written them since the zone was read). Nothing is read when the zone itself
        was read just now for this call."""
        zone = zone.lower().rstrip(".")
        cache = self._cache.get(zone)
        before = cache.fetched_at if cache is not None else _STALE
        cache = await self._zone(zone)
        if cache.fetched_at != before:
            return  # the whole zone was read for this call: those names are as fresh as can be
        for name in sorted({n.lower().rstrip(".") for n in names}):
            sub = f"@.{zone}" if name == zone else name
            self.calls["DescribeSubDomainRecords"] += 1
            try:
                found = await self.api.describe_sub_domain_records(sub, domain=zone)
            except AlibabaError as err:
                raise DnsProviderError(
                    f"alidns: reading {name}: {err.code}: {err}", code=err.code, refused=err.refused
                ) from err
            cache.replace_name(name, found, zone)

    def record_ids(self, zone: str, records: Collection[Record]) -> dict[RecordKey, str]:
        """alidns RecordIds of ``records`` as far as the cache knows them (for the store's rows)."""
        cache = self._cache.get(zone.lower().rstrip("."))
        if cache is None:
            return {}
        return {r.key: cache.entries[r.key][0] for r in records if r.key in cache.entries}

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
            await self._close_shrinking(zone, cache, plan)
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
                f"alidns: {err.code}: {err}", applied=len(result.applied), code=err.code, refused=err.refused
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
            try:
                await self.api.delete_domain_record(entry[0])
            except AlibabaError as err:
                if err.code != "DomainRecordNotBelongToUser":
                    raise
                # gone already (deleted by an earlier run whose answer we lost): the end state holds
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
        except AlibabaError as err:
            if err.code != "DomainRecordDuplicate":
                raise
            # Our picture of the zone was older than the zone (another writer, or a run killed after
            # its create): the record we want is there, so adopt it instead of failing.
            found = await self._find(zone, r)
            if found is None:
                raise
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

    async def _close_shrinking(self, zone: str, cache: _ZoneCache, plan: Plan) -> None:
        """Switch weighted round robin off, before the deletes, for every group this plan leaves with
        fewer than two records. Afterwards is too late: alidns switches nothing on a name without
        records, so a name released with its switch on would keep it for good."""
        final: dict[GroupKey, set[RecordKey]] = {}
        for change in plan.changes:
            gone = change.record if change.action == "delete" else change.old
            came = change.record if change.action != "delete" else None
            for rec, arriving in ((gone, False), (came, True)):
                if rec is None or rec.rtype not in WEIGHTED_TYPES:
                    continue
                group = (rec.name, rec.rtype, rec.line)
                if group not in final:
                    final[group] = {k for k in cache.groups.get(group, ()) if cache.entries[k][2]}
                if arriving:
                    final[group].add(rec.key)
                else:
                    final[group].discard(rec.key)
        for group, keys in final.items():
            if len(keys) >= 2 or not cache.wrr.get(group, False) or not cache.groups.get(group):
                continue
            name, rtype, line = group
            self.calls["SetDNSSLBStatus"] += 1
            sub = f"@.{zone}" if name == zone else name
            await self.api.set_dnsslb_status(sub, False, domain=zone, type=rtype, line=line)
            cache.set_wrr(group, False)
            for k in sorted(cache.groups.get(group, ())):
                rid, rec, en = cache.entries[k]
                cache.put(rid, Record(rec.name, rec.rtype, rec.line, rec.value, rec.ttl, None), en)

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
            cache.set_wrr(group, want_open)
            # Weights the service keeps from an earlier opening are unknown to us: set them all.
            for _k, (rid, rec, en) in members:
                cache.put(rid, Record(rec.name, rec.rtype, rec.line, rec.value, rec.ttl, None), en)
        if not want_open:
            return
        for k, (rid, rec, en) in [(k, cache.entries[k]) for k, _ in members]:
            w = target[k] or 1
            if rec.weight != w:
                self.calls["UpdateDNSSLBWeight"] += 1
                await self.api.update_dnsslb_weight(rid, w)
                cache.put(rid, Record(rec.name, rec.rtype, rec.line, rec.value, rec.ttl, w), en)
