"""The Prometheus metrics of a fedctl process: their names, labels and the small hooks that feed them.

Counters and histograms are incremented where the work happens (one call each, in the work queue,
the Kubernetes and Alibaba clients, the DNS publisher and the store's transition log). Values that
are a reading of live state (queue depth, leadership, DNS queries per line, health states, published
records) are collected when ``/metrics`` is scraped, from the objects registered here with
:func:`track` (held weakly: a stopped controller disappears from the metrics with its object).

Only this module imports ``prometheus_client``, and it imports nothing of the project: every layer
may call its hooks. ``federation/web/metrics.py`` adds the store-backed collectors and the endpoint.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "fedctl"

RECONCILES = Counter(
    f"{PREFIX}_reconcile_total",
    "Reconciles by queue (app, cluster) and result (success, error).",
    ["queue", "result"],
)
RECONCILE_SECONDS = Histogram(
    f"{PREFIX}_reconcile_duration_seconds",
    "Time one reconcile took, by queue and result.",
    ["queue", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_RETRIES = Counter(
    f"{PREFIX}_queue_retries_total", "Keys requeued with backoff after a failure.", ["queue"]
)
CLOUD_CALLS = Counter(
    f"{PREFIX}_cloud_api_calls_total",
    "Alibaba Cloud API calls sent, by product, action and error code (OK when it succeeded).",
    ["product", "action", "code"],
)
KUBE_REQUESTS = Counter(
    f"{PREFIX}_kube_requests_total",
    "Kubernetes API requests by client (host, lease, a member's name) and HTTP code (0: no answer).",
    ["cluster", "code"],
)
HEALTH_TRANSITIONS = Counter(
    f"{PREFIX}_health_transitions_total",
    "Health state transitions recorded, by signal (target kind) and the state entered.",
    ["signal", "to_state"],
)
FAILOVER_SECONDS = Histogram(
    f"{PREFIX}_failover_duration_seconds",
    "From the first publish that saw a served region unhealthy to DNS no longer answering it.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
DNS_PUBLISHES = Counter(
    f"{PREFIX}_dns_publish_total", "DNS publishes by result (changed, unchanged, error).", ["result"]
)


def reconciled(queue: str, ok: bool, seconds: float) -> None:
    result = "success" if ok else "error"
    RECONCILES.labels(queue, result).inc()
    RECONCILE_SECONDS.labels(queue, result).observe(seconds)


def retried(queue: str) -> None:
    QUEUE_RETRIES.labels(queue).inc()


def cloud_call(product: str, action: str, code: str) -> None:
    CLOUD_CALLS.labels(product, action, code).inc()


def kube_request(cluster: str, code: int) -> None:
    KUBE_REQUESTS.labels(cluster or "-", str(code)).inc()


def health_transition(signal: str, to_state: str) -> None:
    HEALTH_TRANSITIONS.labels(signal, to_state).inc()


def failover(seconds: float) -> None:
    FAILOVER_SECONDS.observe(seconds)


def dns_published(result: str) -> None:
    DNS_PUBLISHES.labels(result).inc()


# --- live state, read at scrape time -------------------------------------------------------------

_tracked: dict[str, weakref.WeakSet[Any]] = {}


def track(kind: str, obj: Any) -> None:
    """Report ``obj``'s live state on /metrics: ``controller`` (leadership, queue depths) or
    ``dns_server`` (queries per line and rcode)."""
    _tracked.setdefault(kind, weakref.WeakSet()).add(obj)


def tracked(kind: str) -> list[Any]:
    return list(_tracked.get(kind, ()))


class _LiveCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        leader = GaugeMetricFamily(
            f"{PREFIX}_leader", "1 while this replica holds the controller Lease.", labels=["identity"]
        )
        depth = GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Keys waiting in a work queue (app, cluster).", labels=["queue"]
        )
        for ctrl in tracked("controller"):
            leader.add_metric([ctrl.config.identity], 1.0 if ctrl.is_leader else 0.0)
            depth.add_metric(["app"], float(len(ctrl.app_queue)))
            depth.add_metric(["cluster"], float(len(ctrl.cluster_queue)))
        yield leader
        yield depth
        counted = CounterMetricFamily(
            f"{PREFIX}_dns_queries",
            "DNS queries answered by the embedded server, by client line and rcode.",
            labels=["line", "rcode"],
        )
        totals: dict[tuple[str, str], int] = {}
        for server in tracked("dns_server"):
            for key, n in list(server.query_counts.items()):
                totals[key] = totals.get(key, 0) + n
        for (line, rcode), n in sorted(totals.items()):
            counted.add_metric([line, rcode], float(n))
        yield counted


REGISTRY.register(_LiveCollector())


def register_collector(factory: Callable[[], Iterable[Metric]]) -> Collector:
    """Add a scrape-time collector (e.g. the store's health states); returns it for unregistering."""

    class _Fn(Collector):
        def collect(self) -> Iterator[Metric]:
            yield from factory()

    collector = _Fn()
    REGISTRY.register(collector)
    return collector


def unregister_collector(collector: Collector) -> None:
    REGISTRY.unregister(collector)
