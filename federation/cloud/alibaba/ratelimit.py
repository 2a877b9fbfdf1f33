"""Client-side pacing of Alibaba Cloud calls: one token bucket per API action.

Alibaba's flow control is per account and API (each action has its own quota, e.g. the SLB listener
creates), so one busy action must not slow down the others: buckets are per ``Product.Action``, made on
first use. A limit is configured per product (the default for each of its actions) or per action.
"""

from __future__ import annotations

from collections.abc import Mapping

from federation.ratelimit import TokenBucket

# (requests per second, burst) for each action of a product, unless the action has its own entry.
DEFAULT_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "alidns": (20.0, 20),
    "slb": (20.0, 20),
    "cbn": (10.0, 10),
}
FALLBACK_RATE_LIMIT = (10.0, 10)  # a product with no entry


class ActionBuckets:
    """The buckets of one client. ``limits`` keys are ``product`` or ``product.Action`` (product names
    case-insensitive, e.g. ``alidns`` or ``Alidns.AddDomainRecord``); values ``(rate, burst)``."""

    def __init__(self, limits: Mapping[str, tuple[float, int]] | None = None) -> None:
        self._product: dict[str, tuple[float, int]] = dict(DEFAULT_RATE_LIMITS)
        self._action: dict[tuple[str, str], tuple[float, int]] = {}
        for key, (rate, burst) in (limits or {}).items():
            if rate <= 0 or burst < 1:
                raise ValueError(f"rate_limits[{key!r}]: rate must be > 0 and burst >= 1")
            product, _, action = key.partition(".")
            if action:
                self._action[(product.lower(), action)] = (rate, burst)
            else:
                self._product[product.lower()] = (rate, burst)
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def limit(self, product: str, action: str) -> tuple[float, int]:
        product = product.lower()
        return self._action.get((product, action)) or self._product.get(product, FALLBACK_RATE_LIMIT)

    def bucket(self, product: str, action: str) -> TokenBucket:
        key = (product.lower(), action)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(*self.limit(product, action))
        return bucket
