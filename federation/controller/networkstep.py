"""The network step of the app reconcile: an app whose regions cannot reach each other over CEN is
``Degraded``, with each broken pair named (``NoBandwidth cn-hangzhou<->eu-central-1: ...``).

It reads the :class:`~federation.network.monitor.NetworkMonitor`'s last verdicts and makes no call of
its own; the monitor enqueues the app when they change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from federation.api import constants as c
from federation.controller.steps import StepContext
from federation.network.reachability import PairRow

REASON = "RegionsCannotReach"


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
