"""Which shards each controller replica should hold: the pure part of sharding (no I/O, no clock).

Apps are split into a fixed number of shards by a stable hash of their uid (:func:`shard_of`); each
shard is a Lease held by one replica (:mod:`federation.controller.sharding` does the Lease I/O). Given
the live replicas and who holds each shard now, :func:`assign` says who *should* hold every shard and
:func:`plan` what one replica does about it this round (acquire free shards, release surplus ones).

The assignment is balanced (every live replica gets ``n // R`` or ``n // R + 1`` shards, so nobody
holds more than its fair share plus one), keeps every holding it can (a replica keeps its shards up to
its target; the replicas already holding more get the ``+1`` targets), and is deterministic, so
replicas that see the same Leases compute the same answer and never race for the same shard; when
their views differ for a moment the Leases' optimistic concurrency decides and the next round fixes it.
A shard is only taken when free: a replica above its target releases first (after stopping its work
for it), or the holder's Lease expires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass


def shard_of(uid: str, shards: int) -> int:
    """The shard of an app: a stable hash of its uid (the same in every process and release)."""
    if shards < 1:
        raise ValueError(f"shards: must be >= 1, got {shards}")
    digest = hashlib.blake2b(uid.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def targets(shards: int, live: Collection[str], held: Mapping[str, int]) -> dict[str, int]:
    """How many shards each live replica should hold: ``shards // R``, plus one for the ``shards % R``
    replicas holding the most now (ties by name), so a balanced fleet keeps its shards."""
    replicas = sorted(set(live))
    if not replicas:
        return {}
    base, extra = divmod(shards, len(replicas))
    by_holdings = sorted(replicas, key=lambda r: (-held.get(r, 0), r))
    return {r: base + (1 if i < extra else 0) for i, r in enumerate(by_holdings)}


def assign(shards: int, live: Collection[str], holders: Mapping[int, str]) -> dict[int, str]:
    """Who should hold each shard ``0..shards-1``: every shard to exactly one live replica, balanced.

    ``holders``: the current holder of each held shard (Leases still fresh; a holder that is not in
    ``live`` is treated as gone). Each live replica keeps its lowest-numbered shards up to its target;
    the rest go, in shard order, to the replicas below their targets, in name order."""
    alive = set(live)
    if not alive:
        return {}
    current: dict[str, list[int]] = {}
    for s in sorted(holders):
        if 0 <= s < shards and holders[s] in alive:
            current.setdefault(holders[s], []).append(s)
    want = targets(shards, alive, {r: len(v) for r, v in current.items()})
    out: dict[int, str] = {}
    for r, mine in current.items():
        for s in mine[: want[r]]:
            out[s] = r
    free = iter(s for s in range(shards) if s not in out)
    for r in sorted(alive):
        have = sum(1 for h in out.values() if h == r)
        for _ in range(want[r] - have):
            out[next(free)] = r
    return out


@dataclass(frozen=True)
class ShardPlan:
    acquire: frozenset[int]  # free shards this replica takes now
    release: frozenset[int]  # shards this replica holds and gives up (surplus)
    desired: frozenset[int]  # what it should hold once everyone has done their part


def plan(me: str, shards: int, live: Collection[str], holders: Mapping[int, str]) -> ShardPlan:
    """This replica's moves for one round. Only free shards are acquired: a shard someone else holds
    is waited for (its holder releases it, or its Lease expires and it drops out of ``holders``)."""
    alive = {*live, me}
    desired = assign(shards, alive, holders)
    mine = frozenset(s for s, r in desired.items() if r == me)
    acquire = frozenset(s for s in mine if holders.get(s) not in alive or holders.get(s) == me) - frozenset(
        s for s, r in holders.items() if r == me
    )
    release = frozenset(s for s, r in holders.items() if r == me and s not in mine)
    return ShardPlan(acquire, release, mine)
