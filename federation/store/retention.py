"""Retention: samples are high-volume and only recent ones matter; history (transitions, the DNS
change log, the inventory) is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from federation.store.models import HealthSample, LatencySample
from federation.store.values import aware, utcnow


@dataclass(frozen=True, slots=True)
class PruneResult:
    cutoff: datetime
    health_samples: int
    latency_samples: int


def prune(session: Session, *, retention_days: int, now: datetime | None = None) -> PruneResult:
    """Delete health and latency samples taken before ``now - retention_days``."""
    if retention_days < 1:
        raise ValueError(f"retention_days: must be >= 1, got {retention_days}")
    cutoff = (aware("now", now) if now is not None else utcnow()) - timedelta(days=retention_days)
    health = cast(CursorResult[Any], session.execute(delete(HealthSample).where(HealthSample.at < cutoff)))
    latency = cast(CursorResult[Any], session.execute(delete(LatencySample).where(LatencySample.at < cutoff)))
    return PruneResult(cutoff=cutoff, health_samples=health.rowcount, latency_samples=latency.rowcount)
