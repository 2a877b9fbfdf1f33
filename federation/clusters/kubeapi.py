"""A thin async adapter over a kubernetes_asyncio ``ApiClient``: plain dicts in and out, one cluster each.

The generated typed APIs deserialise every object into model classes; the controller only needs a few
fields of each and handles thousands of objects, so requests go through ``ApiClient.call_api`` with the
raw JSON kept as dicts. Authentication, TLS and kubeconfig handling remain kubernetes_asyncio's.

Every write passes a *write gate* first (the leader election's "do I still hold the Lease?"), so a
controller that lost leadership cannot write a single byte more. Requests are counted per verb, which
the benchmarks and tests read.

Watches follow "Kubernetes API concepts: efficient detection of changes": ``watch=1`` from a
``resourceVersion``, newline-delimited JSON events, ``BOOKMARK`` events when ``allowWatchBookmarks``,
and an ``ERROR`` event carrying a ``Status`` with code 410 when the version is too old.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_incluster_config, load_kube_config_from_dict
from kubernetes_asyncio.config.kube_config import KubeConfigLoader

log = logging.getLogger(__name__)

Items = list[dict[str, Any]]
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})


class KubeError(Exception):
    """A non-2xx answer (``status`` > 0) or a transport failure (``status`` == 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

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
    """A write refused locally because this controller does not (or no longer) hold the Lease."""

    def __init__(self) -> None:
        super().__init__(0, "NotLeader", "this controller is not the leader; write refused")


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
DEPLOYMENTS = Resource("apps", "v1", "deployments")
LEASES = Resource("coordination.k8s.io", "v1", "leases")


def _always() -> bool:
    return True


class KubeApi:
    """Requests against one cluster. ``write_gate`` returning False makes every write raise NotLeaderError."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        name: str = "",
        write_gate: Callable[[], bool] = _always,
        timeout: float = 10.0,
    ) -> None:
        self.api_client = api_client
        self.name = name
        self.write_gate = write_gate
        self.timeout = timeout
        self.calls: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)  # time in requests per verb (benchmarks)

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    async def from_kubeconfig_dict(
        cls, config: dict[str, Any], *, context: str | None = None, **kwargs: Any
    ) -> KubeApi:
        conf = Configuration()
        await load_kube_config_from_dict(config, context=context, client_configuration=conf)
        return cls(ApiClient(conf), **kwargs)

    @classmethod
    async def from_kubeconfig_file(cls, path: Path, *, context: str | None = None, **kwargs: Any) -> KubeApi:
        import yaml

        config = yaml.safe_load(await asyncio.to_thread(path.read_text))
        if not isinstance(config, dict):
            raise ValueError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
        conf = Configuration()
        loader = KubeConfigLoader(
            config_dict=config, config_base_path=str(path.parent.resolve()), active_context=context
        )
        await loader.load_and_set(conf)
        return cls(ApiClient(conf), **kwargs)

    @classmethod
    def in_cluster(cls, **kwargs: Any) -> KubeApi:
        conf = Configuration()
        load_incluster_config(client_configuration=conf)
        return cls(ApiClient(conf), **kwargs)

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
    ) -> Any:
        if verb in WRITE_VERBS and not self.write_gate():
            raise NotLeaderError()
        self.calls[verb] += 1
        headers = {"Content-Type": content_type, "Accept": "application/json"}
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
            raise KubeError(0, type(exc).__name__, str(exc) or "connection failed") from None
        finally:
            self.seconds[verb] += time.monotonic() - started
        if not 200 <= resp.status < 300:
            raise _error(resp.status, raw)
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
        self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[Items, str]:
        """(items, resourceVersion of the list)."""
        query = [("labelSelector", label_selector)] if label_selector else []
        out = await self.request("list", "GET", res.path(namespace), query=query)
        return list(out.get("items") or []), str((out.get("metadata") or {}).get("resourceVersion", ""))

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
            raise KubeError(0, type(exc).__name__, str(exc) or "connection failed") from None
        try:
            if not 200 <= resp.status < 300:
                raise _error(resp.status, await resp.read())
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


def _error(status: int, raw: bytes) -> KubeError:
    try:
        st = json.loads(raw)
        return KubeError(status, str(st.get("reason") or "Error"), str(st.get("message") or ""))
    except (ValueError, AttributeError):
        return KubeError(status, "Error", raw[:200].decode(errors="replace"))
