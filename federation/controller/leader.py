"""Leader election on a ``coordination.k8s.io/v1`` Lease, and the write gate that follows from it.

The protocol is client-go's leaderelection: a candidate takes the Lease when it is free or when its
holder has not renewed it for ``lease_duration`` *as observed locally* (the time we last saw the
record change, on our monotonic clock, so clock skew between hosts does not matter); the holder renews
every ``retry_period``; all updates carry the ``resourceVersion`` read, so two candidates cannot both
win (the loser gets 409 Conflict).

The leader considers itself leader only until ``renew_deadline`` after its last successful renewal
(``renew_deadline < lease_duration``): :meth:`LeaderElector.may_write` turns False at that instant, even
if the renewal request is still hanging, so a leader cut off from the API server stops writing before
anyone else can take over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from federation.clusters.kubeapi import LEASES, KubeApi, KubeError

log = logging.getLogger(__name__)


def _now_micro() -> str:
    # coordination.k8s.io/v1 MicroTime: RFC 3339 with microseconds.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def held_spec(spec: dict[str, Any], identity: str, lease_duration: float) -> dict[str, Any]:
    """The spec of a Lease taken or renewed by ``identity``, from the spec read (empty: a new Lease):
    the acquire time and transition count change only when the holder does, as client-go keeps them."""
    holder = spec.get("holderIdentity") or ""
    stamp = _now_micro()
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, round(lease_duration)),
        "renewTime": stamp,
        "acquireTime": spec.get("acquireTime") if holder == identity else stamp,
        "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (0 if holder == identity else 1),
    }


def new_lease(
    name: str, namespace: str, spec: dict[str, Any], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A ``coordination.k8s.io/v1`` Lease to create."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


class LeaderElector:
    """``api`` must be an ungated client: Lease writes are how the write gate is earned."""

    def __init__(
        self,
        api: KubeApi,
        *,
        name: str,
        namespace: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started: Callable[[], Awaitable[None]] | None = None,
        on_stopped: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("lease timings: need retry_period < renew_deadline < lease_duration")
        self.api = api
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.clock = clock
        self._renewed_at: float | None = None  # our last successful acquire/renew
        self._observed: tuple[str, float] | None = None  # (record fingerprint, when we saw it change)
        self._leading = False
        self.transitions = 0
        self.release_on_exit = True  # False: die like a crashed process (the tests' "leader death")

    # the write gate ------------------------------------------------------------------------------

    def may_write(self) -> bool:
        return (
            self._leading
            and self._renewed_at is not None
            and self.clock() - self._renewed_at < self.renew_deadline
        )

    @property
    def is_leader(self) -> bool:
        return self.may_write()

    # the loop ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign, lead, and campaign again after losing; returns only by cancellation."""
        try:
            while True:
                ok = await self._try()
                if ok and not self._leading:
                    self._leading = True
                    self.transitions += 1
                    log.info(
                        "leader election: %s became the leader (lease %s/%s)",
                        self.identity,
                        self.namespace,
                        self.name,
                    )
                    if self.on_started is not None:
                        await self.on_started()
                elif self._leading and not self.may_write():
                    await self._step_down("could not renew the lease within the renew deadline")
                await asyncio.sleep(self.retry_period)
        finally:
            if self._leading:
                await self._step_down("shutting down", expected=True)
                if self.release_on_exit:
                    await self._release()

    async def _step_down(self, why: str, *, expected: bool = False) -> None:
        self._leading = False
        self._renewed_at = None
        # a normal stop (SIGTERM, Ctrl-C) is news, not a problem; losing the Lease is
        log.log(
            logging.INFO if expected else logging.WARNING,
            "leader election: %s stopped leading: %s",
            self.identity,
            why,
        )
        if self.on_stopped is not None:
            await self.on_stopped()

    async def _try(self) -> bool:
        """One acquire-or-renew attempt; True if we hold the lease afterwards."""
        started = self.clock()
        try:
            async with asyncio.timeout(self.retry_period * 2):
                lease = await self.api.get(LEASES, self.name, self.namespace)
            spec: dict[str, Any] = (lease or {}).get("spec") or {}
            now = self.clock()
            holder = spec.get("holderIdentity") or ""
            if lease is not None:
                fingerprint = f"{holder}|{spec.get('renewTime')}|{spec.get('leaseTransitions')}"
                if self._observed is None or self._observed[0] != fingerprint:
                    self._observed = (fingerprint, now)
                duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
                if holder and holder != self.identity and now - self._observed[1] < duration:
                    return False  # held by someone else and still fresh
            new_spec = held_spec(spec, self.identity, self.lease_duration)
            if lease is None:
                body = new_lease(self.name, self.namespace, new_spec)
                async with asyncio.timeout(self.retry_period * 2):
                    await self.api.create(LEASES, body, self.namespace)
            else:
                body = {**lease, "spec": new_spec}
                async with asyncio.timeout(self.retry_period * 2):
                    await self.api.replace(LEASES, self.name, body, self.namespace)
        except (KubeError, TimeoutError) as exc:
            log.debug("leader election: attempt failed: %s", exc)
            return False
        self._renewed_at = started  # conservative: count from before the request went out
        return True

    async def _release(self) -> None:
        """Give the lease up on a clean shutdown so a standby takes over at once."""
        try:
            async with asyncio.timeout(2):
                lease = await self.api.get(LEASES, self.name, self.namespace)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                async with asyncio.timeout(2):
                    await self.api.replace(LEASES, self.name, lease, self.namespace)
        except (KubeError, TimeoutError) as exc:
            log.debug("leader election: release failed: %s", exc)
