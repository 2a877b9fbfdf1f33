"""Plan: the changes that turn the published records of one zone into the desired ones.

Pure. Restricted to what the app owns: ownership is an external-dns style *registry* record, one TXT
per owned name at ``_fedctl-owner.<name>`` (line ``default``) whose value names the owner app
(``heritage=fedctl,owner=<namespace>/<name>``). A TXT beside the name rather than on it, because
alidns forbids TXT next to a CNAME below the apex; a TXT rather than alidns's record Remark so that
both providers (and a fresh controller) read ownership the same way. A name that has A/AAAA/CNAME
records but no marker, or another owner's marker, is never touched: the plan reports a conflict.
Names we own that the app no longer wants are released (records, then the marker). A name that
carries two owners' markers (two claims that raced: see ``DnsPublisher``'s claim check) is
*contested*: both apps get a conflict naming the two of them, neither touches its records, and an
app that gives the name up removes only its own marker, which leaves the other the sole owner.

Order of the steps, so that a name never loses its answer half-way through: the marker first; then
per (name, line) the creates, the in-place updates and only then the deletes; the marker last when a
name is released. The one exception is a type switch on a line (A/AAAA <-> CNAME, which alidns does
not let coexist): the conflicting old records go right before the new ones, and that line answers
from its parent line for that moment (``default`` has no parent: a switch there is a brief gap).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from federation.dns.records import DEFAULT_LINE, Record

OWNER_PREFIX = "_fedctl-owner"
HERITAGE = "heritage=fedctl"
MANAGED_TYPES = frozenset({"A", "AAAA", "CNAME"})

Action = Literal["create", "update", "delete"]


def owner_name(hostname: str) -> str:
    return f"{OWNER_PREFIX}.{hostname}"


def owner_value(owner: str) -> str:
    return f"{HERITAGE},owner={owner}"


def owner_record(hostname: str, owner: str, ttl: int = 600) -> Record:
    return Record(owner_name(hostname), "TXT", DEFAULT_LINE, owner_value(owner), ttl)


def parse_owner(value: str) -> str | None:
    """The owner named by a registry TXT value, or None if it is not one of ours."""
    text = value.strip().strip('"')
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    if fields.get("heritage") != "fedctl":
        return None
    return fields.get("owner") or None


def ownership(records: Iterable[Record]) -> dict[str, str]:
    """Owned name -> owner, from the registry TXT records among ``records`` (a name claimed by two
    owners at once gives one of them: :func:`claimants` tells them all)."""
    return {name: max(owners) for name, owners in claimants(records).items()}


def claimants(records: Iterable[Record]) -> dict[str, frozenset[str]]:
    """Owned name -> every owner whose registry TXT record is on it. More than one means two claims
    raced (two controller replicas claimed the name within the same instant): see :func:`make_plan`."""
    out: dict[str, set[str]] = {}
    prefix = OWNER_PREFIX + "."
    for r in records:
        if r.rtype == "TXT" and r.name.startswith(prefix):
            owner = parse_owner(r.value)
            if owner is not None:
                out.setdefault(r.name[len(prefix) :], set()).add(owner)
    return {name: frozenset(owners) for name, owners in out.items()}


def contested(name: str, owners: Iterable[str]) -> str:
    """The conflict reported for a name that carries more than one owner's marker."""
    return (
        f"{name}: claimed by both {' and '.join(sorted(owners))} (their claims raced); "
        "its records are left as they are until one of the apps gives the name up"
    )


@dataclass(frozen=True, slots=True)
class Change:
    action: Action
    record: Record  # the record created, the new state of an update, or the record deleted
    old: Record | None = None  # an update's previous state
    reason: str = ""

    def describe(self) -> str:
        r = self.record
        w = f" weight={r.weight}" if r.weight is not None else ""
        what = f"{r.name} {r.rtype} [{r.line}] {r.value} ttl={r.ttl}{w}"
        if self.action == "update" and self.old is not None:
            ow = f" weight={self.old.weight}" if self.old.weight is not None else ""
            what = (
                f"{r.name} {r.rtype} [{r.line}] {self.old.value} ttl={self.old.ttl}{ow} -> "
                f"{r.value} ttl={r.ttl}{w}"
            )
        return f"{self.action} {what}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Plan:
    zone: str
    changes: tuple[Change, ...] = ()
    conflicts: tuple[str, ...] = ()  # names left alone, with why

    @property
    def empty(self) -> bool:
        return not self.changes

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


@dataclass
class _NamePlan:
    marker: list[Change] = field(default_factory=list)
    switch_deletes: list[Change] = field(default_factory=list)
    creates: list[Change] = field(default_factory=list)
    updates: list[Change] = field(default_factory=list)
    deletes: list[Change] = field(default_factory=list)
    release: list[Change] = field(default_factory=list)


def make_plan(
    zone: str,
    owner: str,
    desired: Sequence[Record],
    current: Iterable[Record],
    *,
    names: Iterable[str] = (),
    update_in_place: bool = True,
    marker_ttl: int = 600,
) -> Plan:
    """Changes that make ``owner``'s names in ``zone`` answer ``desired``.

    ``names`` are further names the owner wants empty (e.g. an old hostname); names already owned
    by ``owner`` but absent from ``desired`` are released as well."""
    cur = list(current)
    holders = claimants(cur)
    want: dict[str, list[Record]] = {}
    for r in desired:
        if r.rtype not in MANAGED_TYPES:
            raise ValueError(f"record {r.name} {r.rtype}: only {sorted(MANAGED_TYPES)} are planned")
        want.setdefault(r.name, []).append(r)
    for n in names:
        want.setdefault(n, [])
    for n, claimed_by in holders.items():
        if owner in claimed_by:
            want.setdefault(n, [])
    have: dict[str, list[Record]] = {}
    markers: dict[str, list[Record]] = {}
    for r in cur:
        if r.rtype in MANAGED_TYPES:
            have.setdefault(r.name, []).append(r)
        elif r.rtype == "TXT" and r.name.startswith(OWNER_PREFIX + "."):
            markers.setdefault(r.name[len(OWNER_PREFIX) + 1 :], []).append(r)

    conflicts: list[str] = []
    plans: list[_NamePlan] = []
    for name in sorted(want):
        claimed_by = holders.get(name, frozenset())
        if claimed_by and owner not in claimed_by:
            conflicts.append(f"{name}: owned by {' and '.join(sorted(claimed_by))}")
            continue
        if len(claimed_by) > 1:
            # Two claims raced. Which records are whose is not recorded, so neither app touches them:
            # both report it. An app giving the name up removes only its own marker, and the other
            # app, sole owner again, brings the records to what it wants at its next publish.
            if want[name]:
                conflicts.append(contested(name, claimed_by))
            else:
                np = _NamePlan()
                np.release.extend(
                    Change("delete", m) for m in markers.get(name, []) if parse_owner(m.value) == owner
                )
                plans.append(np)
            continue
        holder = owner if claimed_by else None
        if holder is None and have.get(name):
            if want[name]:
                conflicts.append(f"{name}: has records without an ownership marker (not ours)")
            continue
        np = _NamePlan()
        _diff(np, want[name], have.get(name, []), update_in_place)
        if want[name] and holder is None:
            np.marker.append(Change("create", owner_record(name, owner, marker_ttl)))
        if not want[name] and holder == owner:
            np.release.extend(
                Change("delete", m) for m in markers.get(name, []) if parse_owner(m.value) == owner
            )
        plans.append(np)
    ordered: list[Change] = []
    for step in ("marker", "switch_deletes", "creates", "updates", "deletes", "release"):
        for np in plans:
            ordered.extend(getattr(np, step))
    return Plan(zone, tuple(ordered), tuple(conflicts))


def _diff(np: _NamePlan, want: list[Record], have: list[Record], update_in_place: bool) -> None:
    by_key_want = {r.key: r for r in want}
    by_key_have = {r.key: r for r in have}
    lines = {r.line for r in want} | {r.line for r in have}
    for line in sorted(lines):
        w_types = {r.rtype for r in want if r.line == line}
        h_types = {r.rtype for r in have if r.line == line}
        switching = ("CNAME" in w_types and bool(h_types - {"CNAME"})) or (
            "CNAME" in h_types and bool(w_types - {"CNAME"})
        )
        for rtype in ("A", "AAAA", "CNAME"):
            w = sorted(r for r in want if r.line == line and r.rtype == rtype)
            h = sorted(r for r in have if r.line == line and r.rtype == rtype)
            creates = [r for r in w if r.key not in by_key_have]
            deletes = [r for r in h if r.key not in by_key_want]
            for r in w:
                old = by_key_have.get(r.key)
                if old is not None and (old.ttl != r.ttl or old.weight != r.weight):
                    np.updates.append(Change("update", r, old))
            conflicting = switching and rtype not in w_types
            if update_in_place and not conflicting:
                while creates and deletes:
                    np.updates.append(Change("update", creates.pop(0), deletes.pop(0)))
            np.creates.extend(Change("create", r) for r in creates)
            target = np.switch_deletes if conflicting else np.deletes
            target.extend(Change("delete", r) for r in deletes)


def apply_change(records: set[Record], change: Change) -> None:
    """Apply one change to a record set (the in-memory model every provider must match)."""
    if change.action == "create":
        records.add(change.record)
    elif change.action == "delete":
        records.discard(change.record)
    else:
        if change.old is not None:
            records.discard(change.old)
        records.add(change.record)


def simulate(current: Iterable[Record], plan: Plan) -> Iterator[frozenset[Record]]:
    """Every intermediate state of applying ``plan`` step by step (after each change)."""
    state = set(current)
    for change in plan.changes:
        apply_change(state, change)
        yield frozenset(state)


def answer(
    records: Iterable[Record], name: str, chain: Sequence[str], types: Iterable[str] = ("A", "AAAA", "CNAME")
) -> tuple[str, frozenset[str]]:
    """(line, values) a client of ``chain`` gets for ``name``: the first line with any record."""
    wanted = set(types)
    by_line: dict[str, set[str]] = {}
    for r in records:
        if r.name == name and r.rtype in wanted:
            by_line.setdefault(r.line, set()).add(r.value)
    for line in chain:
        if line in by_line:
            return line, frozenset(by_line[line])
    return "", frozenset()


def per_line(records: Iterable[Record]) -> Mapping[str, list[str]]:
    """line -> values, for status and the CLI."""
    out: dict[str, list[str]] = {}
    for r in sorted(records):
        if r.rtype in MANAGED_TYPES:
            v = r.value if r.weight is None else f"{r.value} (weight {r.weight})"
            out.setdefault(r.line, []).append(v)
    return out
