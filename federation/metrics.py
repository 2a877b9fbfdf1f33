"""The Prometheus metrics of a fedctl process: their names, labels and the small hooks that feed them.

Counters and histograms are incremented where the work happens (one call each, in the work queue,
the Kubernetes and Alibaba clients, the DNS publisher and the store's transition log) and live in
the process-wide default registry. Values that are a reading of live state (queue depth, leadership,
DNS queries per line, health states, published records) are collected when ``/metrics`` is scraped,
by the dashboard that serves it (``federation/web/metrics.py``), from the objects it was given.

This module imports nothing of the project, so every layer may call its hooks.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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


def health_transition(signal: str, to_state: str, n: int = 1) -> None:
    HEALTH_TRANSITIONS.labels(signal, to_state).inc(n)


def failover(seconds: float) -> None:
    FAILOVER_SECONDS.observe(seconds)


def dns_published(result: str) -> None:
    DNS_PUBLISHES.labels(result).inc()
