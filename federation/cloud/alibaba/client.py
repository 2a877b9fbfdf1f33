"""AlibabaClient: the official ``AcsClient`` behind an asyncio interface, with retries and rate limits.

- Blocking SDK calls run in a bounded thread pool; the event loop never blocks.
- One ``AcsClient`` per region (the SDK picks the endpoint from the client's region). An ``endpoint``
  override (the local emulator) is registered with ``AcsClient.add_endpoint(region, product, endpoint)``
  for Alidns, Slb and Cbn: the SDK's own endpoint resolver then prefers it, no SDK code is patched.
- Retries (capped exponential backoff, full jitter) on ``Throttling*``, busy codes, 5xx and connection
  failures, but only for calls that are safe to repeat: the caller says ``idempotent=True`` (reads,
  absolute sets) or the request carries a ``ClientToken`` (the service deduplicates it). A create without
  a token is never repeated blindly: a 5xx or a timeout may hide a success.
- A token bucket per product paces calls below the account's flow control.
- The AccessKey secret is registered for log redaction and is never logged or put in an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import AcsRequest

from federation.cloud.alibaba.errors import AlibabaError, from_sdk_exception
from federation.cloud.alibaba.ratelimit import TokenBucket
from federation.cloud.alibaba.retry import RetryPolicy
from federation.logsetup import register_secret

log = logging.getLogger(__name__)

PRODUCTS = ("Alidns", "Slb", "Cbn")

# Requests per second and burst per product. Alibaba's published flow control is per API and account;
# these defaults stay well inside the tightest documented one (90 / 60 s for SLB listener creates is per
# API, the aggregate is higher).
DEFAULT_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "alidns": (20.0, 20),
    "slb": (20.0, 20),
    "cbn": (10.0, 10),
}


class AlibabaClient:
    """Async front of ``aliyunsdkcore.client.AcsClient`` shared by the alidns, SLB and CEN adapters."""

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        region_id: str,
        endpoint: str | None = None,
        max_workers: int = 8,
        *,
        retry: RetryPolicy | None = None,
        rate_limits: dict[str, tuple[float, int]] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        if not access_key_id:
            raise ValueError("access_key_id: must not be empty")
        if not access_key_secret:
            raise ValueError("access_key_secret: must not be empty")
        if not region_id:
            raise ValueError("region_id: must not be empty")
        register_secret(access_key_secret)
        self._ak = access_key_id
        self._secret = access_key_secret
        self.region_id = region_id
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="alibaba-sdk")
        self._max_workers = max_workers
        self._clients: dict[str, AcsClient] = {}
        self._clients_lock = threading.Lock()
        limits = {**DEFAULT_RATE_LIMITS, **{k.lower(): v for k, v in (rate_limits or {}).items()}}
        self._buckets = {product: TokenBucket(rate, burst) for product, (rate, burst) in limits.items()}
        self._rng = rng or random.Random()
        self.attempts = 0  # SDK calls actually sent (for metrics and benchmarks)
        # The SDK logs every ServerException at ERROR before we decide to retry it; we log what matters.
        logging.getLogger("aliyunsdkcore").setLevel(logging.CRITICAL)

    @classmethod
    def from_settings(cls, settings: Any, region_id: str = "cn-hangzhou") -> AlibabaClient:
        """Build from ``federation.config.Settings`` (``alibaba_access_key_id``,
        ``alibaba_access_key_secret``, ``alibaba_endpoint``, ``alibaba_max_workers``); a missing
        credential is an error naming the field."""
        key_id = getattr(settings, "alibaba_access_key_id", None)
        secret = getattr(settings, "alibaba_access_key_secret", None)
        if not key_id:
            raise ValueError("alibaba_access_key_id: required (env FEDCTL_ALIBABA_ACCESS_KEY_ID)")
        if secret is None:
            raise ValueError("alibaba_access_key_secret: required (env FEDCTL_ALIBABA_ACCESS_KEY_SECRET)")
        raw = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        return cls(
            key_id,
            raw,
            region_id,
            endpoint=getattr(settings, "alibaba_endpoint", None),
            max_workers=int(getattr(settings, "alibaba_max_workers", 8)),
        )

    def __repr__(self) -> str:  # never show the secret
        return (
            f"AlibabaClient(access_key_id={self._ak!r}, region_id={self.region_id!r}, "
            f"endpoint={self.endpoint!r})"
        )

    def acs(self, region_id: str | None = None) -> AcsClient:
        """The SDK client for ``region_id`` (default: the client's region), created once."""
        region = region_id or self.region_id
        with self._clients_lock:
            client = self._clients.get(region)
            if client is None:
                client = AcsClient(
                    self._ak,
                    self._secret,
                    region,
                    auto_retry=False,
                    connect_timeout=self._connect_timeout,
                    timeout=self._read_timeout,
                    pool_size=self._max_workers,
                )
                if self.endpoint:
                    for product in PRODUCTS:
                        client.add_endpoint(region, product, self.endpoint)
                self._clients[region] = client
            return client

    def _send(self, client: AcsClient, request: AcsRequest) -> bytes:
        try:
            body: bytes = client.do_action_with_exception(request)
            return body
        except (ServerException, ClientException) as exc:
            raise from_sdk_exception(exc) from None

    async def call(
        self, request: AcsRequest, *, idempotent: bool, region_id: str | None = None
    ) -> dict[str, Any]:
        """Send ``request`` and return the decoded JSON answer; raise :class:`AlibabaError` on failure."""
        product = str(request.get_product() or "").lower()
        action = request.get_action_name()
        safe = idempotent or bool(request.get_query_params().get("ClientToken"))
        client = self.acs(region_id)
        loop = asyncio.get_running_loop()
        bucket = self._buckets.get(product)
        attempt = 0
        while True:
            if bucket is not None:
                await bucket.acquire()
            self.attempts += 1
            try:
                body = await loop.run_in_executor(self._pool, self._send, client, request)
            except AlibabaError as err:
                if not (safe and err.retryable) or attempt + 1 >= self.retry.max_attempts:
                    if err.retryable and not safe:
                        log.warning("%s.%s failed (%s) and is not safe to repeat", product, action, err.code)
                    raise
                delay = self.retry.delay(attempt, self._rng)
                log.info("%s.%s: %s, retry %d in %.2fs", product, action, err.code, attempt + 1, delay)
                await asyncio.sleep(delay)
                attempt += 1
                continue
            try:
                decoded: dict[str, Any] = json.loads(body)
            except ValueError:
                raise AlibabaError("SDK.InvalidResponse", f"{action}: answer is not JSON") from None
            return decoded

    async def all_pages(
        self,
        make: Callable[[], AcsRequest],
        key: str,
        item: str,
        *,
        page_size: int,
        region_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of a paged Describe* action: ``make()`` builds one request with its filters, this
        sets PageNumber/PageSize and reads ``answer[key][item]`` until TotalCount items are in."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            req = make()
            req.set_PageNumber(page)
            req.set_PageSize(page_size)
            resp = await self.call(req, idempotent=True, region_id=region_id)
            items = resp.get(key, {}).get(item, [])
            out.extend(items)
            if not items or len(out) >= int(resp.get("TotalCount", 0)):
                return out
            page += 1

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._clients_lock:
            self._clients.clear()
