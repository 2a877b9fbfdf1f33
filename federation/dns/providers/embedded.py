"""The embedded provider: published state held in memory and served by our :class:`DnsServer`.

The default provider (self-hosting and the sandbox). A plan is applied to a copy of the zone and the
result swapped into the server in one step, so clients see the old records or the new ones. It
enforces the alidns rules a plan could break (duplicate records, CNAME beside A/AAAA on one line)
so that plans proven here hold on alidns too. State lives in memory; with a store, every replica
loads it from the published records (:mod:`federation.dns.replica`), so a restarted or newly elected
controller starts from what was published, and without one the first reconcile publishes again
(level-triggered).

Sharded replicas each publish into their own server and the store, and see the others' records only
when their follower next loads the store (about a second). A claim check (``refresh_names``) therefore
reads the names from the store itself, through ``fresh`` (the runtime sets it when replicas share the
apps by shard): a name another replica claimed a moment ago is seen at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence

from federation.dns.plan import Change, Plan, apply_change
from federation.dns.providers import ApplyResult, DnsProviderError
from federation.dns.records import Record
from federation.dns.server import DnsServer


class EmbeddedProvider:
    name = "embedded"
    supports_update = True

    def __init__(self, server: DnsServer | None = None, zones: Sequence[str] = ()) -> None:
        self.server = server
        # where ``refresh_names`` reads names afresh: the store every replica publishes to (None: this
        # process is the only publisher, so its view is the truth)
        self.fresh: Callable[[str, Collection[str]], Awaitable[list[Record]]] | None = None
        # zone -> name -> that name's records (immutable: a snapshot is never modified after publish)
        self._zones: dict[str, dict[str, frozenset[Record]]] = {}
        for z in zones:
            self.add_zone(z)

    def add_zone(self, zone: str) -> None:
        zone = _norm(zone)
        if zone not in self._zones:
            self._zones[zone] = {}
            if self.server is not None:
                self.server.set_zone(zone, [])

    def load(self, zone: str, records: Collection[Record], keep: Collection[str] = ()) -> int:
        """Make ``records`` the whole published state of ``zone`` (what a replica read from the store),
        served at once; returns how many names changed. Only those names are rebuilt in the server:
        a zone of tens of thousands of records takes seconds to build whole, one name milliseconds.
        The names in ``keep`` stay as they are here (a sharded replica's own apps: what it published
        last is newer than what the store said when it was read)."""
        zone = _norm(zone)
        grouped: dict[str, set[Record]] = {}
        for r in records:
            grouped.setdefault(r.name, set()).add(r)
        by_name = {name: frozenset(recs) for name, recs in grouped.items()}
        known = self._zones.get(zone)
        for name in keep:
            mine = (known or {}).get(name)
            if mine is not None:
                by_name[name] = mine
            else:
                by_name.pop(name, None)
        if self.server is not None and (known is None or zone not in self.server.zones()):
            self.server.set_zone(zone, records)  # first: a record the server refuses changes nothing
            self._zones[zone] = by_name
            return len(by_name)
        changed = {n for n in (known or {}).keys() | by_name.keys() if (known or {}).get(n) != by_name.get(n)}
        if changed and self.server is not None:
            self.server.replace_names(zone, changed, [r for n in changed for r in by_name.get(n, ())])
        self._zones[zone] = by_name
        return len(changed)

    def zones(self) -> list[str]:
        return sorted(self._zones)

    async def records(self, zone: str, names: Collection[str] | None = None) -> list[Record]:
        if names is None:
            return sorted(self.snapshot(zone))
        by_name = self._zones.get(_norm(zone), {})
        return sorted(r for n in names for r in by_name.get(n.lower().rstrip("."), ()))

    async def refresh_names(self, zone: str, names: Collection[str]) -> None:
        """Replace ``names`` by what ``fresh`` says they hold now (served at once); nothing without
        ``fresh``. A store that cannot be read is a :class:`DnsProviderError`: a claim is not made blind."""
        if self.fresh is None:
            return
        zone = _norm(zone)
        wanted = {n.lower().rstrip(".") for n in names}
        try:
            found = await self.fresh(zone, sorted(wanted))
        except Exception as exc:
            raise DnsProviderError(f"reading {', '.join(sorted(wanted))}: {exc}", code="StoreError") from exc
        if zone not in self._zones:
            self.add_zone(zone)
        by_name = self._zones[zone]
        now: dict[str, frozenset[Record]] = {n: frozenset(r for r in found if r.name == n) for n in wanted}
        changed = {n for n, recs in now.items() if by_name.get(n, frozenset()) != recs}
        for n in changed:
            if now[n]:
                by_name[n] = now[n]
            else:
                by_name.pop(n, None)
        if changed and self.server is not None:
            self.server.replace_names(zone, changed, [r for n in changed for r in now[n]])

    def snapshot(self, zone: str) -> frozenset[Record]:
        names = self._zones.get(_norm(zone), {})
        return frozenset(r for recs in names.values() for r in recs)

    async def apply(self, plan: Plan) -> ApplyResult:
        zone = _norm(plan.zone)
        if zone not in self._zones:
            self.add_zone(zone)
        by_name = self._zones[zone]
        touched: dict[str, set[Record]] = {}
        result = ApplyResult()
        try:
            for change in plan.changes:
                name = change.record.name
                if name not in touched:
                    touched[name] = set(by_name.get(name, frozenset()))
                try:
                    _check(touched[name], change, zone)
                except DnsProviderError as err:
                    err.applied = len(result.applied)
                    raise
                apply_change(touched[name], change)
                result.applied.append(change)
        finally:
            # Publish what went through, in one swap, even when a later change was refused.
            if result.applied:
                for name, recs in touched.items():
                    if recs:
                        by_name[name] = frozenset(recs)
                    else:
                        by_name.pop(name, None)
                if self.server is not None:
                    self.server.replace_names(zone, touched, [r for recs in touched.values() for r in recs])
        return result


def _norm(zone: str) -> str:
    return zone.lower().rstrip(".")


def _check(state: set[Record], change: Change, zone: str) -> None:
    """alidns's rules, checked against the records of the change's name."""
    r = change.record
    if r.name != zone and not r.name.endswith("." + zone):
        raise DnsProviderError(f"{r.name}: outside zone {zone}", change=change, code="InvalidName")
    if change.action == "delete":
        if r not in state:
            raise DnsProviderError(
                f"{r.name} {r.rtype} [{r.line}] {r.value}: no such record",
                change=change,
                code="RecordNotFound",
            )
        return
    if change.action == "update" and (change.old is None or change.old not in state):
        raise DnsProviderError(
            f"{r.name} {r.rtype} [{r.line}]: record to update does not exist",
            change=change,
            code="RecordNotFound",
        )
    others = state - {change.old} if change.action == "update" and change.old is not None else state
    if any(o.key == r.key for o in others):
        raise DnsProviderError(
            f"{r.name} {r.rtype} [{r.line}] {r.value}: the record already exists",
            change=change,
            code="DomainRecordDuplicate",
        )
    same_line = {o.rtype for o in others if o.line == r.line}
    addresses = {"A", "AAAA"}
    if (r.rtype == "CNAME" and same_line & addresses) or (r.rtype in addresses and "CNAME" in same_line):
        raise DnsProviderError(
            f"{r.name} {r.rtype} [{r.line}]: conflicts with the {sorted(same_line)} "
            "records of that name and line",
            change=change,
            code="DomainRecordConflict",
        )
