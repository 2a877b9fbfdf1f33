"""Optional reconcile steps after propagation (the regional load balancer, DNS publishing).

A step gets the app, the placement and the per-region observations, may add conditions and set
per-region fields of the status, and cleans up when the app is deleted. The controller runs the steps it
was configured with, in order; with none it still places, propagates and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from federation.api.federatedapp import FederatedApp, FederatedAppStatus
from federation.controller.appstatus import RegionObservation
from federation.drain import RegionMove
from federation.placement import PlacementResult


@dataclass
class StepContext:
    app: FederatedApp
    placement: PlacementResult
    regions: dict[str, RegionObservation]
    previous_status: FederatedAppStatus | None
    # what steps contribute: (type, status, reason, message) conditions, per-region status fields
    # (camelCase RegionStatus fields keyed by region), and top-level status fields (e.g. "dns")
    conditions: list[tuple[str, bool, str, str]] = field(default_factory=list)
    region_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_fields: dict[str, Any] = field(default_factory=dict)
    # the make-before-break order's decision per region (federation.drain): what DNS should answer
    moves: dict[str, RegionMove] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class ReconcileStep(Protocol):
    name: str

    async def apply(self, ctx: StepContext) -> None:
        """Move this step's part of the world toward the app's spec; raise to retry with backoff."""

    async def cleanup(self, ctx: StepContext) -> None:
        """Remove everything this step created for the app; raise while something is left."""
