"""List-then-watch caches of one resource in one cluster, with change callbacks.

The loop follows "Kubernetes API concepts: efficient detection of changes": list, remember the list's
``resourceVersion``, watch from it; on a clean end of the watch (the server's ``timeoutSeconds``, drawn
between ``watch_timeout`` and twice that) or a dropped connection, watch again from the last version
seen (bookmarks keep it fresh); on ``410 Gone``
(the version was compacted away) list again and emit the differences against the cache, so nothing
missed during the gap is lost. Every (re)list is read in pages (``limit``/``continue``, ``page_size``
objects each), so a large cluster never answers one huge list; an expired continue token restarts it.
Failures back off exponentially and are reported through ``on_error`` (the cluster reconciler uses it
to notice a member going away), never raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Callable
from typing import Any

from federation.clusters.kubeapi import LIST_PAGE_SIZE, KubeApi, KubeError, Resource

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[str, Obj | None, Obj | None], None]  # (key, old, new); new None = deleted


def obj_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


class Informer:
    """Keeps ``self.cache`` (key -> object) in step with the cluster and calls ``handler`` on changes."""

    def __init__(
        self,
        api: KubeApi,
        resource: Resource,
        handler: Handler,
        *,
        label_selector: str | None = None,
        namespace: str | None = None,
        watch_timeout: int = 300,
        on_error: Callable[[KubeError], None] | None = None,
        on_recover: Callable[[], None] | None = None,
        max_backoff: float = 10.0,
        page_size: int = LIST_PAGE_SIZE,
    ) -> None:
        self.api = api
        self.resource = resource
        self.handler = handler
        self.label_selector = label_selector
        self.namespace = namespace
        self.watch_timeout = watch_timeout
        self.on_error = on_error
        self.on_recover = on_recover
        self.max_backoff = max_backoff
        self.page_size = page_size
        self.cache: dict[str, Obj] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.relists = 0
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._nodes = resource.plural == "nodes" and not resource.group

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                self._run(), name=f"informer {self.api.name} {self.resource.plural}"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def cancel(self) -> None:
        """Stop without waiting for the loop to end (from a synchronous event handler)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def remember(self, obj: Obj) -> None:
        """Put what a write returned into the cache, unless the watch already delivered something newer
        (so the next reconcile does not act on its own stale view). Versions are opaque strings; only
        two decimal ones are compared."""
        key = obj_key(obj)
        cached = self.cache.get(key)
        obj = _trim(obj, self._nodes, cached)
        if cached is not None:
            old, new = _rv(cached), _rv(obj)
            if old.isdigit() and new.isdigit() and int(old) > int(new):
                return
        self.cache[key] = obj

    def forget(self, key: str) -> None:
        self.cache.pop(key, None)

    async def _run(self) -> None:
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    self._recovered()
                    backoff = 0.2
                events = self.api.watch(
                    self.resource,
                    self.resource_version,
                    namespace=self.namespace,
                    label_selector=self.label_selector,
                    # between watch_timeout and twice that, as client-go's reflector does: informers
                    # started together would otherwise all end and re-watch in the same instant
                    timeout_seconds=int(self.watch_timeout * (1.0 + random.random())),
                )
                async for event in events:
                    if not self._apply(event):
                        need_list = True
                        break
                    if self._failing:
                        self._recovered()
                    backoff = 0.2
            except asyncio.CancelledError:
                raise
            except KubeError as exc:
                if exc.gone and not need_list:  # the watch's version is gone: list again at once
                    need_list = True
                    continue
                self._failed(exc)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:  # a malformed event must not kill the loop
                log.exception("informer %s/%s: unexpected error", self.api.name, self.resource.plural)
                self._failed(KubeError(0, type(exc).__name__, str(exc)))
                need_list = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _failed(self, exc: KubeError) -> None:
        self._failing = True
        log.debug("informer %s/%s: %s", self.api.name, self.resource.plural, exc)
        if self.on_error is not None:
            self.on_error(exc)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            if self.on_recover is not None:
                self.on_recover()

    async def _relist(self) -> None:
        items, rv = await self.api.list(
            self.resource, self.namespace, label_selector=self.label_selector, page_size=self.page_size
        )
        self.relists += 1
        old = self.cache
        fresh = {}
        for o in items:
            key = obj_key(o)
            fresh[key] = _trim(o, self._nodes, old.get(key))
        self.cache = fresh
        self.resource_version = rv
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None or _rv(before) != _rv(obj):
                self.handler(key, before, obj)
        for key, before in old.items():
            if key not in fresh:
                self.handler(key, before, None)
        self.synced.set()

    def _apply(self, event: dict[str, Any]) -> bool:
        """Apply one watch event; False when the watch must restart from a fresh list."""
        etype = event.get("type")
        obj = event.get("object") or {}
        if etype == "ERROR":
            code = obj.get("code")
            log.debug(
                "informer %s/%s: watch error %s: %s",
                self.api.name,
                self.resource.plural,
                code,
                obj.get("message"),
            )
            return False
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = str(rv)
        if etype == "BOOKMARK":
            return True
        key = obj_key(obj)
        before = self.cache.get(key)
        obj = _trim(obj, self._nodes, before)
        if etype == "DELETED":
            self.cache.pop(key, None)
            self.handler(key, before, None)
        elif etype in ("ADDED", "MODIFIED"):
            self.cache[key] = obj
            self.handler(key, before, obj)
        return True


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Node status the controller never reads (it reads conditions, spec.providerID and the labels); on a
# real cluster ``images`` alone is often most of a Node.
_NODE_STATUS_UNREAD = frozenset(
    ("images", "nodeInfo", "volumesAttached", "volumesInUse", "daemonEndpoints", "config")
)
_INTERN_MAX = 64  # strings up to this length are shared between cached objects


def _trim(obj: Obj, node: bool = False, previous: Obj | None = None) -> Obj:
    """What the cache keeps of an object, in the spirit of client-go's cache transform: no
    ``metadata.managedFields`` (often the larger part of an object on a real API server), no
    ``kubectl apply`` copy of the object in its annotations, none of a Node's unread status; every key
    and short string shared with the other cached objects (``sys.intern``: decoded JSON gives each
    object its own copy of "metadata", "True", "apps/v1"... which is about half of a cached
    Deployment's memory). Nothing here reads what is dropped."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        annotations = meta.get("annotations")
        if "managedFields" in meta or (isinstance(annotations, dict) and LAST_APPLIED in annotations):
            meta = {k: v for k, v in meta.items() if k != "managedFields"}
            if isinstance(annotations, dict) and LAST_APPLIED in annotations:
                meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
            obj = {**obj, "metadata": meta}
    status = obj.get("status")
    if node and isinstance(status, dict) and not _NODE_STATUS_UNREAD.isdisjoint(status):
        obj = {**obj, "status": {k: v for k, v in status.items() if k not in _NODE_STATUS_UNREAD}}
    return _shared_with(obj, previous) if previous is not None else _shared_dict(obj)


def _shared_with(obj: Obj, previous: Obj) -> Obj:
    """:func:`_shared_dict`, reusing the parts of the cached version that did not change (compared
    two levels deep: a status update leaves ``spec`` and most of ``metadata`` as they were), so an
    update costs what changed, not the whole object."""
    out: Obj = {}
    for k, v in obj.items():
        before = previous.get(k)
        if type(v) is dict and type(before) is dict:
            part: Obj = {}
            for k2, v2 in v.items():
                b2 = before.get(k2)
                if b2 is not None and b2 == v2:
                    part[_intern(k2)] = b2
                else:
                    part[_intern(k2)] = _shared(v2)
            out[_intern(k)] = part
        elif before is not None and before == v:
            out[_intern(k)] = before
        else:
            out[_intern(k)] = _shared(v)
    return out


_intern = sys.intern


def _shared(value: Any) -> Any:
    t = type(value)
    if t is str:
        return _intern(value) if len(value) <= _INTERN_MAX else value
    if t is dict:
        return _shared_dict(value)
    if t is list:
        return _shared_list(value)
    return value


def _shared_dict(value: Obj) -> Obj:
    # one call per container, not per scalar: this runs on every event of every cached object
    out: Obj = {}
    for k, v in value.items():
        t = type(v)
        if t is str:
            if len(v) <= _INTERN_MAX:
                v = _intern(v)
        elif t is dict:
            v = _shared_dict(v)
        elif t is list:
            v = _shared_list(v)
        out[_intern(k) if type(k) is str else k] = v
    return out


def _shared_list(value: list[Any]) -> list[Any]:
    return [_shared(v) for v in value]


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
