"""Shard Leases: which apps this replica may reconcile and write for, and the per-shard write gate.

Apps are split into ``shards`` shards by a stable hash of their uid
(:func:`federation.controller.shards.shard_of`). Each shard is a ``coordination.k8s.io/v1`` Lease
``<lease_name>-shard-<i>`` in the controller namespace, and each replica keeps a presence Lease
``<lease_name>-replica-<identity>`` so that the others know it is alive. Every ``retry_period`` a
replica lists those Leases (one LIST, by label), renews its presence and its shards, and follows
:func:`federation.controller.shards.plan`: it releases its surplus when replicas appear (stopping its
work for a shard before the Lease says it is free) and takes free shards up to its share, including
those of a replica whose Leases stopped moving for ``lease_duration`` (observed on our own monotonic
clock, as client-go's leader election does, so clock skew between hosts does not matter). Every
write carries the ``resourceVersion`` read, so two replicas can never both take a shard. A replica
shows itself (and takes shards) only once ``ready()`` (its app cache is filled), so during a rolling
update the shards move to replicas that can work on them at once.

The write gate is :class:`~federation.controller.leader.LeaderElector`'s, per shard: a replica may
write for a shard only until ``renew_deadline`` after its last successful renewal of that Lease
(``renew_deadline < lease_duration``), even if the renewal is still hanging, so a replica cut off from
the API server stops writing before anyone can take its shards over. Writes find their shard through
:data:`CURRENT` (set around each app reconcile; asyncio tasks inherit it); a write outside any app
(MemberCluster status) passes the leader's gate instead.

Why this design: kube-controller-manager, controller-runtime managers and the KubeFed and Karmada
controllers run one active replica behind a leader Lease, which stops scaling with the number of apps.
kube-state-metrics shards by a hash of the object's uid, but each replica's shard is fixed by its flags
or StatefulSet ordinal, so a dead replica's objects wait for it and scaling is a rollout. Here the uid
hash picks the shard and each shard is a Lease with controller-runtime's renew-deadline gate: replicas
come and go without reconfiguration, a dead one's shards move about a lease duration later, and a shard is
never writable by two replicas. A fixed shard count keeps the number of Leases (and renewals) small
and independent of the number of apps, while the uid hash keeps an app in the same shard for its life.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from federation.clusters.kubeapi import LEASES, KubeApi, KubeError
from federation.controller.leader import held_spec, new_lease
from federation.controller.shards import plan

log = logging.getLogger(__name__)
# One line per write an app reconcile makes (replica, app, shard), for audits such as "was any app
# written by two replicas at once?": off unless this logger is enabled at INFO (the log_writes setting).
write_log = logging.getLogger("federation.writes")
write_log.setLevel(logging.WARNING)

LABEL_SET = "federation.io/shard-set"  # the leader Lease's name: replicas of one controller
LABEL_ROLE = "federation.io/lease-role"  # "shard" or "replica"
LABEL_SHARD = "federation.io/shard"  # the shard number of a shard Lease
ROLE_SHARD, ROLE_REPLICA = "shard", "replica"
FORGET_AFTER = 5  # a presence Lease silent for this many lease durations is deleted (a replica gone)

# (app key, shard) of the app reconcile running in this task
CURRENT: ContextVar[tuple[str, int] | None] = ContextVar("fedctl_app_shard", default=None)


def shard_lease_name(base: str, shard: int) -> str:
    return f"{base}-shard-{shard}"


def replica_lease_name(base: str, identity: str) -> str:
    """A DNS-1123 name for the identity's presence Lease (a hash suffix when the identity needed
    changes, so two identities never share one)."""
    safe = re.sub(r"[^a-z0-9-]+", "-", identity.lower()).strip("-")[:40] or "replica"
    if safe != identity:
        safe = f"{safe}-{hashlib.blake2b(identity.encode(), digest_size=4).hexdigest()}"
    return f"{base}-replica-{safe}"


class ShardManager:
    """``api`` must be an ungated client (Lease writes are how the gates are earned)."""

    def __init__(
        self,
        api: KubeApi,
        *,
        lease_name: str,
        namespace: str,
        identity: str,
        shards: int,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_gained: Callable[[set[int]], None] = lambda s: None,
        in_flight: Callable[[int], int] = lambda s: 0,
        ready: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if shards < 1:
            raise ValueError(f"shards: must be >= 1, got {shards}")
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("lease timings: need retry_period < renew_deadline < lease_duration")
        self.api = api
        self.base = lease_name
        self.namespace = namespace
        self.identity = identity
        self.shards = shards
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_gained = on_gained
        self.in_flight = in_flight
        self.ready = ready
        self.clock = clock
        self.release_on_exit = True
        self.presence = replica_lease_name(lease_name, identity)
        self._held: dict[int, float] = {}  # shard -> our last successful acquire/renew (monotonic)
        self._leases: dict[str, dict[str, Any]] = {}  # name -> the latest version we know
        self._observed: dict[str, tuple[str, float]] = {}  # name -> (fingerprint, when it changed)
        self._rounds = 0
        self.live: set[str] = {identity}  # the replicas seen alive in the last round

    # the write gate ------------------------------------------------------------------------------

    def may_write_shard(self, shard: int) -> bool:
        at = self._held.get(shard)
        return at is not None and self.clock() - at < self.renew_deadline

    def holds(self, shard: int) -> bool:
        """Whether the shard is ours (its writes may still wait for a late renewal: see the gate)."""
        return shard in self._held

    def held(self) -> set[int]:
        return set(self._held)

    def gate(self, fallback: Callable[[], bool]) -> Callable[[], bool]:
        """A write gate: inside an app reconcile, whether this replica holds the app's shard; outside
        one, ``fallback`` (the leader's gate)."""

        def may_write() -> bool:
            current = CURRENT.get()
            if current is None:
                return fallback()
            app, shard = current
            ok = self.may_write_shard(shard)
            if ok and write_log.isEnabledFor(logging.INFO):
                write_log.info("write replica=%s app=%s shard=%d", self.identity, app, shard)
            return ok

        return may_write

    # the loop ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Hold shards until cancelled; then give them up (unless ``release_on_exit`` is False)."""
        try:
            while True:
                started = self.clock()
                await self.round()
                # a slow round (a busy API server) does not delay the next renewal further
                await asyncio.sleep(max(0.05, self.retry_period - (self.clock() - started)))
        finally:
            held, self._held = set(self._held), {}
            if held:
                log.info("shards: %s stopped holding %s: shutting down", self.identity, _fmt(held))
            if self.release_on_exit:
                await self._give_up(held)

    async def round(self) -> None:
        """One look at the Leases: renew, release surplus, take free shards."""
        if not self.ready():
            return  # not seen before our caches are filled: the others keep the shards meanwhile
        try:
            async with asyncio.timeout(self.retry_period * 2):
                items, _ = await self.api.list(
                    LEASES, self.namespace, label_selector=f"{LABEL_SET}={self.base}"
                )
        except (KubeError, TimeoutError) as exc:
            log.debug("shards: listing the Leases failed: %s", exc)
            self._expire()
            return
        now = self.clock()
        live = {self.identity}
        holders: dict[int, str] = {}
        stale: list[str] = []
        for item in items:
            meta = item.get("metadata") or {}
            name = str(meta.get("name") or "")
            labels = meta.get("labels") or {}
            spec = item.get("spec") or {}
            holder = str(spec.get("holderIdentity") or "")
            self._leases[name] = item
            fingerprint = f"{holder}|{spec.get('renewTime')}|{spec.get('leaseTransitions')}"
            seen = self._observed.get(name)
            if seen is None or seen[0] != fingerprint:
                seen = self._observed[name] = (fingerprint, now)
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            fresh = bool(holder) and now - seen[1] < duration
            role = labels.get(LABEL_ROLE)
            if role == ROLE_REPLICA:
                if fresh:
                    live.add(holder)
                elif name != self.presence and now - seen[1] > FORGET_AFTER * self.lease_duration:
                    stale.append(name)
            elif role == ROLE_SHARD and fresh:
                try:
                    shard = int(labels.get(LABEL_SHARD, ""))
                except ValueError:
                    continue
                if 0 <= shard < self.shards:
                    live.add(holder)
                    holders[shard] = holder
        listed = {str((i.get("metadata") or {}).get("name")) for i in items}
        for name in list(self._leases):
            if name not in listed:
                self._leases.pop(name, None)
                self._observed.pop(name, None)
        await asyncio.gather(self._put(self.presence, ROLE_REPLICA, None), self._renew())
        self._expire()
        # what we hold is ours; a Lease naming us that we do not hold (a restart under the same
        # identity) is free to take again
        holders = {s: r for s, r in holders.items() if r != self.identity}
        holders.update(dict.fromkeys(self._held, self.identity))
        self.live = live
        self._rounds += 1
        if self._rounds == 1:
            return  # first round: be seen before taking anything (replicas starting together)
        moves = plan(self.identity, self.shards, live, holders)
        if moves.release:
            await self._release(moves.release)
        if moves.acquire:
            await self._acquire(moves.acquire)
        for name in stale:
            await self._forget(name)

    def _expire(self) -> None:
        """Drop the shards whose renew deadline passed: their writes stop now (the gate already says
        so), and they are taken again only through the Lease."""
        lost = {s for s in self._held if not self.may_write_shard(s)}
        for s in lost:
            del self._held[s]
        if lost:
            log.warning(
                "shards: %s lost %s: could not renew within the renew deadline", self.identity, _fmt(lost)
            )

    async def _renew(self) -> None:
        async def one(shard: int) -> None:
            name = shard_lease_name(self.base, shard)
            lease = self._leases.get(name)
            holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
            if lease is None or holder != self.identity:
                self._held.pop(shard, None)
                log.warning("shards: %s lost shard %d: its Lease names %r", self.identity, shard, holder)
                return
            sent = self.clock()  # conservative: before the request went out
            if await self._put(name, ROLE_SHARD, shard) and shard in self._held:
                self._held[shard] = sent

        await asyncio.gather(*(one(s) for s in sorted(self._held)))

    async def _acquire(self, shards: frozenset[int]) -> None:
        got: dict[int, float] = {}

        async def one(shard: int) -> None:
            sent = self.clock()
            if await self._put(shard_lease_name(self.base, shard), ROLE_SHARD, shard):
                got[shard] = sent

        await asyncio.gather(*(one(s) for s in sorted(shards)))
        # held from here on, together with ``on_gained`` (no await between): nothing else in the
        # process sees a gained shard as ours before its hook has run
        self._held.update(got)
        if got:
            log.info(
                "shards: %s took %s (holding %d of %d; %d replica(s) live)",
                self.identity,
                _fmt(set(got)),
                len(self._held),
                self.shards,
                len(self.live),
            )
            self.on_gained(set(got))

    async def _release(self, shards: frozenset[int]) -> None:
        """Stop writing for ``shards`` at once, let the reconciles in flight for them finish (their
        writes are refused from now on), then mark the Leases free for the replica that takes them."""
        for s in shards:
            self._held.pop(s, None)
        log.info(
            "shards: %s releasing %s for %d live replica(s)", self.identity, _fmt(set(shards)), len(self.live)
        )
        deadline = self.clock() + self.renew_deadline
        while self.clock() < deadline:
            if not any(self.in_flight(s) for s in shards):
                break
            await asyncio.sleep(0.02)
        await self._give_up(set(shards), presence=False)

    async def _give_up(self, shards: set[int], *, presence: bool = True) -> None:
        async def one(name: str) -> None:
            lease = self._leases.get(name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            body = {**lease, "spec": {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}}
            try:
                async with asyncio.timeout(2):
                    self._leases[name] = await self.api.replace(LEASES, name, body, self.namespace)
            except (KubeError, TimeoutError) as exc:
                log.debug("shards: releasing %s failed: %s", name, exc)

        names = [shard_lease_name(self.base, s) for s in sorted(shards)]
        await asyncio.gather(*(one(n) for n in names))
        if presence and self.presence in self._leases:
            try:
                async with asyncio.timeout(2):
                    await self.api.delete(LEASES, self.presence, self.namespace)
            except (KubeError, TimeoutError) as exc:
                log.debug("shards: deleting %s failed: %s", self.presence, exc)

    async def _forget(self, name: str) -> None:
        """Delete the presence Lease of a replica long gone (pods get new names on every restart)."""
        uid = ((self._leases.get(name) or {}).get("metadata") or {}).get("uid")
        try:
            async with asyncio.timeout(2):
                await self.api.delete(LEASES, name, self.namespace, uid=uid)
        except (KubeError, TimeoutError) as exc:
            log.debug("shards: deleting %s failed: %s", name, exc)
        self._leases.pop(name, None)
        self._observed.pop(name, None)

    async def _put(self, name: str, role: str, shard: int | None) -> bool:
        """Create or renew the Lease ``name`` with us as holder (optimistic: the version we know)."""
        lease = self._leases.get(name)
        new_spec = held_spec((lease or {}).get("spec") or {}, self.identity, self.lease_duration)
        labels = {LABEL_SET: self.base, LABEL_ROLE: role}
        if shard is not None:
            labels[LABEL_SHARD] = str(shard)
        try:
            async with asyncio.timeout(self.retry_period * 2):
                if lease is None:
                    body = new_lease(name, self.namespace, new_spec, labels)
                    out = await self.api.create(LEASES, body, self.namespace)
                else:
                    out = await self.api.replace(LEASES, name, {**lease, "spec": new_spec}, self.namespace)
        except (KubeError, TimeoutError) as exc:
            if isinstance(exc, KubeError) and exc.status == 409:
                self._leases.pop(name, None)  # someone else moved first: read it again next round
                if shard is not None and shard in self._held:
                    del self._held[shard]
                    log.warning("shards: %s lost shard %d: %s", self.identity, shard, exc.reason)
            else:
                log.debug("shards: writing %s failed: %s", name, exc)
            return False
        self._leases[name] = out
        return True


def _fmt(shards: set[int]) -> str:
    return "shard(s) " + ",".join(str(s) for s in sorted(shards))
