"""Latency samples (a DNS line or probe point -> a region) and the medians steering reads."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.store.models import LatencySample
from federation.store.values import aware


@dataclass(frozen=True, slots=True)
class LatencySampleData:
    source: str  # alidns line code (e.g. "cn_telecom_zhejiang") or probe-point name
    region: str
    rtt_ms: float
    at: datetime


@dataclass(frozen=True, slots=True)
class LatencyMedian:
    source: str
    region: str
    median_ms: float
    samples: int
    latest_at: datetime


def _row(s: LatencySampleData) -> LatencySample:
    if not s.rtt_ms >= 0:  # also rejects NaN
        raise ValueError(f"rtt_ms: must be a number >= 0, got {s.rtt_ms!r}")
    return LatencySample(source=s.source, region=s.region, rtt_ms=float(s.rtt_ms), at=aware("at", s.at))


def record_latency_sample(session: Session, sample: LatencySampleData) -> None:
    session.add(_row(sample))


def record_latency_samples(session: Session, samples: Iterable[LatencySampleData]) -> int:
    rows = [_row(s) for s in samples]
    session.add_all(rows)
    return len(rows)


def latency_matrix_samples(session: Session, since: datetime) -> list[LatencyMedian]:
    """The median RTT of each (source, region) pair over the samples taken at or after ``since``.

    The median is computed here rather than in SQL: SQLite has no percentile function, and one
    portable path keeps both engines' answers identical. Ordered by source, then region.
    """
    stmt = select(LatencySample.source, LatencySample.region, LatencySample.rtt_ms, LatencySample.at).where(
        LatencySample.at >= aware("since", since)
    )
    rtts: dict[tuple[str, str], list[float]] = defaultdict(list)
    latest: dict[tuple[str, str], datetime] = {}
    for source, region, rtt, at in session.execute(stmt):
        key = (source, region)
        rtts[key].append(rtt)
        if key not in latest or at > latest[key]:
            latest[key] = at
    return [
        LatencyMedian(
            source=k[0],
            region=k[1],
            median_ms=float(statistics.median(v)),
            samples=len(v),
            latest_at=latest[k],
        )
        for k, v in sorted(rtts.items())
    ]
