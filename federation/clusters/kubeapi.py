"""A thin async adapter over a kubernetes_asyncio ``ApiClient``: plain dicts in and out, one cluster each.

The generated typed APIs deserialise every object into model classes; the controller only needs a few
fields of each and handles thousands of objects, so requests go through ``ApiClient.call_api`` with the
raw JSON kept as dicts. Authentication, TLS and kubeconfig handling remain kubernetes_asyncio's.

Every write passes a *write gate* first (the leader election's "do I still hold the Lease?"), so a
controller that lost leadership cannot write a single byte more. Requests are counted per verb, which
the benchmarks and tests read.

Retries follow what each answer says about the request: ``429 Too Many Requests`` and a connection that
could not be opened mean the server did not act, so any verb is repeated (after ``Retry-After``, capped,
when the server sends one); a 5xx or a dropped connection may hide a success, so only reads (GET, LIST)
are repeated, with jittered exponential backoff bounded in attempts and total time. Timeouts are not
repeated (the caller's deadline is already spent). A token bucket per cluster (QPS and burst, shared by
every ``KubeApi`` over the same ``ApiClient``, like client-go's per-config rate limiter) paces requests.
LIST is paginated (``limit``/``continue``); a ``410 Gone`` on a continue token restarts the list.

Watches follow "Kubernetes API concepts: efficient detection of changes": ``watch=1`` from a
``resourceVersion``, newline-delimited JSON events, ``BOOKMARK`` events when ``allowWatchBookmarks``,
and an ``ERROR`` event carrying a ``Status`` with code 410 when the version is too old.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from federation import metrics
from federation.backoff import RetryPolicy
from federation.clusters.kubelib import (
    ApiClient,
    Configuration,
    KubeConfigLoader,
    load_incluster_config,
    load_kube_config_from_dict,
    new_api_client,
)
from federation.ratelimit import TokenBucket

log = logging.getLogger(__name__)

Items = list[dict[str, Any]]
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
READ_VERBS = frozenset({"get", "list"})

DEFAULT_QPS = 50.0  # client-side pacing per cluster (Settings.kube_qps)
DEFAULT_BURST = 100  # Settings.kube_burst
# Open connections per cluster (the client library's default is 100; client-go multiplexes everything
# over one HTTP/2 connection). HTTP/1.1 needs one per request in flight, and each TLS connection holds
# a 128 KiB read buffer: with every worker writing to ten members at once, a pool of 100 a cluster was
# a fifth of the controller's memory. Watches hold one each for their lifetime (two or three a
# cluster); the other requests queue for a free connection.
CONNECTIONS_PER_CLUSTER = 12
DEFAULT_RETRY = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=2.0, max_elapsed=15.0)
MAX_RETRY_AFTER = 10.0  # seconds: a longer Retry-After is cut to this (the retry budget still applies)
LIST_PAGE_SIZE = 500
_LIST_RESTARTS = 3  # fresh starts of a paginated list whose continue token expired (410)

# One bucket per ApiClient: the wrappers of one cluster (reconcile traffic, probes, the Lease) share it.
_limiters: weakref.WeakKeyDictionary[ApiClient, TokenBucket] = weakref.WeakKeyDictionary()


class KubeError(Exception):
    """A non-2xx answer (``status`` > 0) or a transport failure (``status`` == 0). ``sent`` is False
    when the connection could not even be opened; ``timed_out`` when no answer came in time."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        sent: bool = True,
        timed_out: bool = False,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.sent = sent
        self.timed_out = timed_out

    @property
    def refused(self) -> bool:
        """The server did not act on the request: repeating it is safe for any verb."""
        return self.status == 429 or (self.status == 0 and not self.sent and not self.timed_out)

    @property
    def transient(self) -> bool:
        """Worth repeating a read for: refused, a 5xx, or a connection lost (not a timeout)."""
        return self.refused or 500 <= self.status < 600 or (self.status == 0 and not self.timed_out)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


class NotLeaderError(KubeError):
    """A write refused locally because this controller does not (or no longer) hold the Lease (the
    leader's, or the shard's of the app being reconciled)."""

    def __init__(self) -> None:
        super().__init__(
            0,
            "NotLeader",
            "this controller does not hold the Lease (leader or the app's shard); write refused",
        )


@dataclass(frozen=True)
class Resource:
    """A REST resource: ``group`` "" is the core API."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if sub:
                base += f"/{sub}"
        return base


NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
SERVICES = Resource("", "v1", "services")
SECRETS = Resource("", "v1", "secrets")
EVENTS = Resource("", "v1", "events")
NODES = Resource("", "v1", "nodes", namespaced=False)
PODS = Resource("", "v1", "pods")
ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", namespaced=False)
DEPLOYMENTS = Resource("apps", "v1", "deployments")
LEASES = Resource("coordination.k8s.io", "v1", "leases")


def _always() -> bool:
    return True


def _configuration() -> Configuration:
    conf = Configuration()
    conf.connection_pool_maxsize = CONNECTIONS_PER_CLUSTER
    return conf


def _limiter(api_client: ApiClient, qps: float | None, burst: int | None) -> TokenBucket:
    """The cluster's bucket: made (or replaced) when ``qps`` or ``burst`` is given, else the one already
    there, else one with the defaults."""
    if qps is None and burst is None:
        bucket = _limiters.get(api_client)
        if bucket is not None:
            return bucket
    qps = DEFAULT_QPS if qps is None else qps
    burst = DEFAULT_BURST if burst is None else burst
    if qps <= 0:
        raise ValueError(f"kube_qps: must be > 0, got {qps}")
    if burst < 1:
        raise ValueError(f"kube_burst: must be >= 1, got {burst}")
    bucket = _limiters[api_client] = TokenBucket(qps, burst)
    return bucket


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), None if absent or bad."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _transport_error(exc: BaseException, what: str) -> KubeError:
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors too
        return KubeError(0, type(exc).__name__, str(exc) or what, timed_out=True)
    # Nothing went out when the connection could not be opened (TLS trouble is no transient failure).
    not_sent = isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError) and not isinstance(
        exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError
    )
    return KubeError(0, type(exc).__name__, str(exc) or what, sent=not not_sent)


class KubeApi:
    """Requests against one cluster. ``write_gate`` returning False makes every write raise NotLeaderError.
    ``qps``/``burst`` set the cluster's token bucket (shared with every KubeApi over the same
    ``api_client``); left out, the bucket already there (or the defaults) is used."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        name: str = "",
        write_gate: Callable[[], bool] = _always,
        timeout: float = 10.0,
        qps: float | None = None,
        burst: int | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_retry_after: float = MAX_RETRY_AFTER,
        page_size: int = LIST_PAGE_SIZE,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api_client = api_client
        self.name = name
        self.write_gate = write_gate
        self.timeout = timeout
        self.limiter = _limiter(api_client, qps, burst)
        self.retry = retry
        self.max_retry_after = max_retry_after
        self.page_size = page_size
        self._rng = rng or random.Random()
        self._sleep = sleep  # waits between attempts (tests record them)
        self.calls: Counter[str] = Counter()  # requests sent per verb, retries included
        self.retries: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)  # time in requests per verb (benchmarks)

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    async def from_kubeconfig_dict(
        cls, config: dict[str, Any], *, context: str | None = None, **kwargs: Any
    ) -> KubeApi:
        conf = _configuration()
        await load_kube_config_from_dict(config, context=context, client_configuration=conf)
        return cls(new_api_client(conf), **kwargs)

    @classmethod
    async def from_kubeconfig_file(cls, path: Path, *, context: str | None = None, **kwargs: Any) -> KubeApi:
        import yaml

        config = yaml.safe_load(await asyncio.to_thread(path.read_text))
        if not isinstance(config, dict):
            raise ValueError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
        conf = _configuration()
        loader = KubeConfigLoader(
            config_dict=config, config_base_path=str(path.parent.resolve()), active_context=context
        )
        await loader.load_and_set(conf)
        return cls(new_api_client(conf), **kwargs)

    @classmethod
    def in_cluster(cls, **kwargs: Any) -> KubeApi:
        conf = _configuration()
        load_incluster_config(client_configuration=conf)
        return cls(new_api_client(conf), **kwargs)

    async def close(self) -> None:
        await self.api_client.close()

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    @property
    def writes(self) -> int:
        return sum(n for verb, n in self.calls.items() if verb in WRITE_VERBS)

    # --- requests -------------------------------------------------------------------------------

    async def request(
        self,
        verb: str,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float | None = None,
        text: bool = False,
    ) -> Any:
        """One API call, repeated while the failure allows it for this verb (see the module doc);
        ``text``: the answer is plain text (a Pod's log), returned as it is."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempts = 0
        while True:
            attempts += 1
            try:
                return await self._send(verb, method, path, query, body, content_type, request_timeout, text)
            except KubeError as exc:
                wait = self._retry_wait(verb, exc, attempts)
                if wait is None or not self.retry.allows(attempts, loop.time() - started, wait):
                    raise
                self.retries[verb] += 1
                log.debug("%s %s %s: %s, retry in %.2fs", self.name, method, path, exc, wait)
                await self._sleep(wait)

    def _retry_wait(self, verb: str, exc: KubeError, attempts: int) -> float | None:
        """Seconds to wait before repeating, or None when this failure is not repeated for ``verb``."""
        if isinstance(exc, NotLeaderError):
            return None
        if not exc.refused and not (verb in READ_VERBS and exc.transient):
            return None
        if exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        return self.retry.delay(attempts - 1, self._rng)

    async def _send(
        self,
        verb: str,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None,
        body: Any,
        content_type: str,
        request_timeout: float | None,
        text: bool = False,
    ) -> Any:
        if verb in WRITE_VERBS and not self.write_gate():
            raise NotLeaderError()
        await self.limiter.acquire()
        if verb in WRITE_VERBS and not self.write_gate():  # the wait may have outlived the Lease
            raise NotLeaderError()
        self.calls[verb] += 1
        headers = {"Content-Type": content_type, "Accept": "text/plain" if text else "application/json"}
        started = time.monotonic()
        try:
            resp = await self.api_client.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=request_timeout if request_timeout is not None else self.timeout,
            )
            try:
                raw = await resp.read()
            finally:
                resp.release()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            metrics.kube_request(self.name, 0)
            raise _transport_error(exc, "connection failed") from None
        finally:
            self.seconds[verb] += time.monotonic() - started
        metrics.kube_request(self.name, resp.status)
        if not 200 <= resp.status < 300:
            raise _error(resp.status, raw, resp.headers)
        if text:
            return raw.decode(errors="replace")
        return json.loads(raw) if raw else None

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None if it does not exist."""
        try:
            obj: dict[str, Any] = await self.request("get", "GET", res.path(namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise
        return obj

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        page_size: int | None = None,
    ) -> tuple[Items, str]:
        """(items, resourceVersion of the list), read in pages of ``page_size`` (default
        ``self.page_size``; 0: one request). A continue token that expired (410) restarts the list, so
        the result is always one consistent snapshot."""
        limit = self.page_size if page_size is None else page_size
        base = [("labelSelector", label_selector)] if label_selector else []
        if limit:
            base.append(("limit", str(limit)))
        restarts = 0
        while True:
            items: Items = []
            token = ""
            try:
                while True:
                    query = [*base, ("continue", token)] if token else base
                    out = await self.request("list", "GET", res.path(namespace), query=query)
                    items.extend(out.get("items") or [])
                    meta = out.get("metadata") or {}
                    token = str(meta.get("continue") or "")
                    if not token:
                        return items, str(meta.get("resourceVersion", ""))
            except KubeError as exc:
                if not (exc.gone and token) or restarts >= _LIST_RESTARTS:
                    raise
                restarts += 1
                log.debug("%s: list %s: continue token expired, listing again", self.name, res.plural)

    async def create(
        self, res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        obj: dict[str, Any] = await self.request("create", "POST", res.path(namespace), body=body)
        return obj

    async def replace(
        self,
        res: Resource,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        sub: str | None = None,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = await self.request("update", "PUT", res.path(namespace, name, sub), body=body)
        return obj

    async def merge_patch(
        self,
        res: Resource,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        sub: str | None = None,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = await self.request(
            "patch",
            "PATCH",
            res.path(namespace, name, sub),
            body=body,
            content_type="application/merge-patch+json",
        )
        return obj

    async def json_patch(
        self, res: Resource, name: str, ops: Items, namespace: str | None = None, sub: str | None = None
    ) -> dict[str, Any]:
        obj: dict[str, Any] = await self.request(
            "patch",
            "PATCH",
            res.path(namespace, name, sub),
            body=ops,
            content_type="application/json-patch+json",
        )
        return obj

    async def delete(
        self, res: Resource, name: str, namespace: str | None = None, *, uid: str | None = None
    ) -> bool:
        """Delete; False if it was already gone. ``uid`` makes it a precondition (never delete a
        namesake that replaced the object we meant)."""
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request("delete", "DELETE", res.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True

    async def version(self) -> dict[str, Any]:
        out: dict[str, Any] = await self.request("get", "GET", "/version")
        return out

    async def watch(
        self,
        res: Resource,
        resource_version: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events ({type, object}) until the server ends the watch. Raises KubeError on
        transport failure; an ``ERROR`` event is yielded as is (the caller checks for 410)."""
        query = [("watch", "1"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(timeout_seconds))]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if label_selector:
            query.append(("labelSelector", label_selector))
        await self.limiter.acquire()
        self.calls["watch"] += 1
        # No total timeout: the server closes the watch after timeoutSeconds; a silent connection
        # (a hung apiserver) is cut by the read timeout.
        rt = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=timeout_seconds + 15)
        try:
            resp = await self.api_client.call_api(
                res.path(namespace),
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=rt,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _transport_error(exc, "connection failed") from None
        try:
            if not 200 <= resp.status < 300:
                raise _error(resp.status, await resp.read(), resp.headers)
            while True:
                try:
                    line = await resp.content.readline()
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    raise KubeError(0, type(exc).__name__, str(exc) or "watch interrupted") from None
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            resp.release()


def _error(status: int, raw: bytes, headers: Mapping[str, str] | None = None) -> KubeError:
    retry_after = _retry_after(headers) if status in (429, 503) else None
    try:
        st = json.loads(raw)
        reason, message = str(st.get("reason") or "Error"), str(st.get("message") or "")
    except (ValueError, AttributeError):
        reason, message = "Error", raw[:200].decode(errors="replace")
    return KubeError(status, reason, message, retry_after=retry_after)
