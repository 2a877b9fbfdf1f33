"""Optional reconcile steps after propagation (the regional load balancer, DNS publishing).

A step gets the app, the placement and the per-region observations, may add conditions and set
per-region fields of the status, and cleans up when the app is deleted. The controller runs the steps it
was configured with, in order; with none it still places, propagates and reports.

A step that could not do its part raises: the app's status is still written (with what the step
reported), then the reconcile fails, so the work queue retries the app with backoff instead of at once.
:class:`StepFailed` carries a stable reason and message for the step's condition (no request ids, no
timestamps: the same failure must not rewrite the status); per-call detail belongs in the log. Any
other exception becomes the ``<Step>Failed`` condition with the exception's type only.
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


class StepFailed(Exception):
    """The step did not finish; ``reason`` (CamelCase) and ``message`` are stable across retries. With
    ``reported`` the step already put its own condition into the context (e.g. ``DNSPublished`` False)."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        reported: bool = False,
        retry_after: float = 0.0,
        deferred: bool = False,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.reported = reported
        self.retry_after = retry_after  # seconds before a retry can succeed (e.g. a provider's pause)
        self.deferred = deferred  # nothing was tried (the provider is paused): no backoff growth


class ReconcileStep(Protocol):
    name: str

    async def apply(self, ctx: StepContext) -> None:
        """Move this step's part of the world toward the app's spec; raise to retry with backoff."""

    async def cleanup(self, ctx: StepContext) -> None:
        """Remove everything this step created for the app; raise while something is left."""
