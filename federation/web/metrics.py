"""``/metrics``: the process-wide counters of :mod:`federation.metrics` plus what one dashboard reads
from live state at scrape time: leadership, queue depths, the embedded DNS server's queries per line
and rcode, health states per app/region/signal and published records per line (from the store).

A scrape runs in a worker thread (store reads are synchronous); a store that cannot be read leaves
its families empty for that scrape rather than failing it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from federation.metrics import PREFIX

log = logging.getLogger(__name__)


def _health_states(session: Any) -> list[Any]:
    from federation.store.health import latest_health

    return latest_health(session)


def _records_per_line(session: Any) -> list[tuple[str, int]]:
    from sqlalchemy import func, select

    from federation.dns.plan import MANAGED_TYPES
    from federation.store.models import PublishedRecord

    stmt = (
        select(PublishedRecord.line, func.count())
        .where(PublishedRecord.rtype.in_(sorted(MANAGED_TYPES)))
        .group_by(PublishedRecord.line)
    )
    return [(str(line), int(n)) for line, n in session.execute(stmt)]


class DashboardMetrics(Collector):
    """The scrape-time families of one dashboard (``dash`` is a :class:`~federation.web.server.Dashboard`)."""

    def __init__(self, dash: Any) -> None:
        self.dash = dash
        self.registry = CollectorRegistry(auto_describe=False)  # never collect at registration
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        dash = self.dash
        leader = GaugeMetricFamily(
            f"{PREFIX}_leader",
            "1 while this replica holds the controller Lease, 0 while it stands by.",
            labels=["identity"],
        )
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Keys waiting in a work queue.", labels=["queue"])
        longest = GaugeMetricFamily(
            f"{PREFIX}_queue_longest_running_processor_seconds",
            "How long the longest reconcile now in flight has been running (a stuck one keeps growing).",
            labels=["queue"],
        )
        shards = GaugeMetricFamily(
            f"{PREFIX}_shards_held",
            "App shards this replica holds (sharded replicas only).",
            labels=["identity"],
        )
        ctrl = dash.controller
        if ctrl is not None:
            leader.add_metric([ctrl.config.identity], 1.0 if ctrl.is_leader else 0.0)
            depth.add_metric(["app"], float(len(ctrl.app_queue)))
            depth.add_metric(["cluster"], float(len(ctrl.cluster_queue)))
            for qname, queue in (("app", ctrl.app_queue), ("cluster", ctrl.cluster_queue)):
                running = queue.longest_running()
                longest.add_metric([qname], running[1] if running else 0.0)
            if ctrl.sharding is not None:
                shards.add_metric([ctrl.config.identity], float(len(ctrl.sharding.held())))
        yield leader
        yield depth
        yield longest
        yield shards

        queries = CounterMetricFamily(
            f"{PREFIX}_dns_queries",
            "Queries answered by the embedded DNS server, by client line and rcode.",
            labels=["line", "rcode"],
        )
        server = getattr(dash.dns_runtime, "server", None)
        for (line, rcode), n in sorted(dict(getattr(server, "query_counts", {})).items()):
            queries.add_metric([line, rcode], float(n))
        yield queries

        health = GaugeMetricFamily(
            f"{PREFIX}_health_state",
            "1 for the current health state of each app/region/signal (signal: the target kind).",
            labels=["app", "region", "signal", "target", "state"],
        )
        records = GaugeMetricFamily(
            f"{PREFIX}_dns_published_records", "Address records published, per line.", labels=["line"]
        )
        if dash.db is not None:
            try:
                for s in dash.db.call(_health_states):
                    health.add_metric([s.app or "", s.region, s.target_kind, s.target_id, s.state], 1.0)
                for line, n in dash.db.call(_records_per_line):
                    records.add_metric([line], float(n))
            except Exception as exc:
                log.debug("metrics: the store could not be read: %s", exc)
        yield health
        yield records


def exposition(metrics: DashboardMetrics) -> tuple[bytes, str]:
    """The text exposition of the process's counters followed by the dashboard's families."""
    return generate_latest(REGISTRY) + generate_latest(metrics.registry), CONTENT_TYPE_LATEST
