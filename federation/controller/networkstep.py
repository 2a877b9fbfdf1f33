"""The network step of the app reconcile: an app whose regions cannot reach each other over CEN is
``Degraded``, with each broken pair named (``NoBandwidth cn-hangzhou<->eu-central-1: ...``).

It reads the :class:`~federation.network.monitor.NetworkMonitor`'s last verdicts and makes no call of
its own; the monitor enqueues the app when they change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from federation.api import constants as c
from federation.controller.steps import StepContext
from federation.network.reachability import PairRow
from federation.store.network import PairVerdict, pair_verdicts, replace_pair_verdicts

REASON = "RegionsCannotReach"


class StoredPairs:
    """The monitor's ``shared`` pair verdicts in the store (the elected replica writes, others read).

    Only what an app's ``Degraded`` needs travels (regions, verdict, reason and message); a follower's
    rows carry no attachment states or bandwidth, which ``fedctl network check`` reads from CEN itself.
    """

    def __init__(self, db: Any) -> None:
        self.db = db

    async def publish(self, rows: Sequence[PairRow]) -> None:
        pairs = [PairVerdict(r.region_a, r.region_b, r.ok, r.reason, r.message) for r in rows]
        await self.db.run(replace_pair_verdicts, pairs)

    async def read(self) -> list[PairRow]:
        return [
            PairRow(p.region_a, p.region_b, "", "", None, p.ok, p.reason, p.message)
            for p in await self.db.run(pair_verdicts)
        ]


class PairProblems(Protocol):
    def problems(self, regions: Sequence[str]) -> list[PairRow]: ...


class NetworkStep:
    name = "Network"

    def __init__(self, network: PairProblems) -> None:
        self.network = network

    async def apply(self, ctx: StepContext) -> None:
        regions = [r.name for r in ctx.app.spec.placement.regions]
        broken = self.network.problems(regions)
        if broken:
            message = "; ".join(f"{r.reason} {r.region_a}<->{r.region_b}: {r.message}" for r in broken)
            ctx.conditions.append((c.COND_DEGRADED, True, REASON, message))

    async def cleanup(self, ctx: StepContext) -> None:
        return None
