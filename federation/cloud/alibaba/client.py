"""AlibabaClient: the official ``AcsClient`` behind an asyncio interface, with retries and rate limits.

- Blocking SDK calls run in a bounded thread pool; the event loop never blocks.
- One ``AcsClient`` per region (the SDK picks the endpoint from the client's region). An ``endpoint``
  override (the local emulator) is registered with ``AcsClient.add_endpoint(region, product, endpoint)``
  for Alidns, Slb and Cbn: the SDK's own endpoint resolver then prefers it, no SDK code is patched.
- Retries (capped exponential backoff, full jitter, bounded attempts and total time) follow the call's
  :class:`~federation.cloud.alibaba.retry.CallKind`: a *refused* failure (throttling, busy,
  ``ServiceUnavailable``, no connection) is repeated for any call; an *ambiguous* one (timeout, reset
  after sending, 5xx) only for reads, absolute sets and creates carrying a ``ClientToken``. An unsafe
  write that fails ambiguously raises :class:`~federation.cloud.alibaba.errors.AmbiguousWriteError`.
- A token bucket per API action paces calls below Alibaba's flow control, which is per API.
- Every write passes the leader's write gate (``write_gate``, the same ``LeaderElector.may_write``
  Kubernetes writes pass): checked before each attempt and again in the worker thread just before the
  request is sent, so a write that waited (rate limit, backoff, a busy pool) past the leader's renew
  deadline is refused with :class:`~federation.cloud.alibaba.errors.NotLeaderError`, not sent. Every
  adapter (alidns, SLB, CEN) goes through :meth:`AlibabaClient.call`, so none can bypass it.
- The AccessKey secret is registered for log redaction and is never logged or put in an error.
- The SDK's loggers are left as the process configured them (``federation.logsetup``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import AcsRequest

from federation import metrics
from federation.cloud.alibaba.errors import (
    AlibabaError,
    AmbiguousWriteError,
    NotLeaderError,
    from_sdk_exception,
)
from federation.cloud.alibaba.ratelimit import ActionBuckets
from federation.cloud.alibaba.retry import CallKind, Decision, RetryPolicy, decide
from federation.logsetup import register_secret

log = logging.getLogger(__name__)

PRODUCTS = ("Alidns", "Slb", "Cbn", "Ecs")


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
        rate_limits: Mapping[str, tuple[float, int]] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        rng: random.Random | None = None,
        write_gate: Callable[[], bool] | None = None,
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
        self.buckets = ActionBuckets(rate_limits)
        self._rng = rng or random.Random()
        self.attempts = 0  # SDK calls actually sent (for metrics and benchmarks)
        # None: ungated (a command run by hand); the controller sets its elector's may_write
        self.write_gate: Callable[[], bool] | None = write_gate

    @classmethod
    def from_settings(cls, settings: Any, region_id: str = "cn-hangzhou") -> AlibabaClient:
        """Build from ``federation.config.Settings`` (``alibaba_access_key_id``,
        ``alibaba_access_key_secret``, ``alibaba_endpoint``, ``alibaba_max_workers``,
        ``alibaba_rate_limits``); a missing
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
            rate_limits=getattr(settings, "alibaba_rate_limits", None) or None,
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

    def _send(self, client: AcsClient, request: AcsRequest, gate: Callable[[], bool] | None = None) -> bytes:
        # In the worker, just before sending: the wait for a free thread may have outlived the Lease.
        if gate is not None and not gate():
            raise NotLeaderError(f"{request.get_product()}.{request.get_action_name()}")
        try:
            body: bytes = client.do_action_with_exception(request)
            return body
        except (ServerException, ClientException) as exc:
            raise from_sdk_exception(exc) from None

    async def call(
        self,
        request: AcsRequest,
        kind: CallKind | None = None,
        *,
        idempotent: bool | None = None,
        region_id: str | None = None,
    ) -> dict[str, Any]:
        """Send ``request`` and return the decoded JSON answer; raise :class:`AlibabaError` on failure
        (:class:`AmbiguousWriteError` when an unsafe write may have taken effect). ``kind`` says how safe
        a repeat is; ``idempotent=True``/``False`` is shorthand for ABSOLUTE/UNSAFE. A request carrying
        a ``ClientToken`` is a TOKEN call whatever it says."""
        if kind is None:
            if idempotent is None:
                raise TypeError("call: pass kind (a CallKind) or idempotent")
            kind = CallKind.ABSOLUTE if idempotent else CallKind.UNSAFE
        if kind is CallKind.UNSAFE and request.get_query_params().get("ClientToken"):
            kind = CallKind.TOKEN
        product = str(request.get_product() or "")
        action = str(request.get_action_name())
        bucket = self.buckets.bucket(product, action)
        client = self.acs(region_id)
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempts = 0
        gate = None if kind is CallKind.READ else self.write_gate
        while True:
            await bucket.acquire()
            if gate is not None and not gate():
                raise NotLeaderError(f"{product}.{action}")
            self.attempts += 1
            attempts += 1
            try:
                # the gate runs in the pool too: it needs the caller's context (which app's shard writes)
                ctx = contextvars.copy_context()
                body = await loop.run_in_executor(self._pool, ctx.run, self._send, client, request, gate)
            except NotLeaderError:
                raise
            except AlibabaError as err:
                metrics.cloud_call(product, action, err.code)
                decision = decide(kind, err)
                if decision is Decision.AMBIGUOUS:
                    log.warning("%s.%s: %s may hide a success; not repeated", product, action, err.code)
                    raise AmbiguousWriteError(f"{product}.{action}", err) from None
                if decision is Decision.FAIL:
                    raise
                wait = self.retry.delay(attempts - 1, self._rng)
                if not self.retry.allows(attempts, loop.time() - started, wait):
                    log.info("%s.%s: %s after %d attempt(s), giving up", product, action, err.code, attempts)
                    raise
                log.info("%s.%s: %s, retry %d in %.2fs", product, action, err.code, attempts, wait)
                await asyncio.sleep(wait)
                continue
            metrics.cloud_call(product, action, "OK")
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
            resp = await self.call(req, CallKind.READ, region_id=region_id)
            items = resp.get(key, {}).get(item, [])
            out.extend(items)
            if not items or len(out) >= int(resp.get("TotalCount", 0)):
                return out
            page += 1

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._clients_lock:
            self._clients.clear()
