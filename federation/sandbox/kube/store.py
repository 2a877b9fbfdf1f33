"""One simulated cluster's object store: objects per resource, one resourceVersion counter, a bounded
event history for watch resume, and the watchers' queues.

Stored objects are never mutated in place: every write stores a fresh dict, so readers may serialise
them without copying, and a watch event's encoded bytes are computed once and shared by all watchers.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
Matcher = Callable[[dict[str, Any]], bool]


@dataclass(slots=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    rkey: str
    obj: dict[str, Any]
    rv: int
    old: dict[str, Any] | None = None
    _wire: bytes | None = None

    def wire(self, obj: dict[str, Any] | None = None, type_: str | None = None) -> bytes:
        if obj is not None or type_ is not None:
            return (
                orjson.dumps({"type": type_ or self.type, "object": obj if obj is not None else self.obj})
                + b"\n"
            )
        if self._wire is None:
            self._wire = orjson.dumps({"type": self.type, "object": self.obj}) + b"\n"
        return self._wire


CLOSE = object()


@dataclass(eq=False)
class Watcher:
    rkey: str
    namespace: str | None
    matcher: Matcher | None
    api_version: str | None
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    max_backlog: int = 200_000
    closed: bool = False

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and (obj.get("metadata") or {}).get("namespace") != self.namespace:
            return False
        return self.matcher is None or self.matcher(obj)

    def offer(self, ev: Event) -> None:
        if self.closed:
            return
        now = self.matches(ev.obj)
        if ev.type == "MODIFIED":
            before = self.matches(ev.old)
            if now and not before:
                self._put(("ADDED", ev))
            elif before and not now:
                self._put(("DELETED", ev))
            elif now:
                self._put((None, ev))
        elif now:
            self._put((None, ev))

    def _put(self, item: Any) -> None:
        if self.queue.qsize() >= self.max_backlog:
            # A watcher that cannot keep up is closed, as the apiserver does with slow consumers;
            # the client re-lists and resumes.
            self.close()
            return
        self.queue.put_nowait(item)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(CLOSE)


class Store:
    def __init__(self, history_size: int = 10_000, start_rv: int = 1000) -> None:
        self.rv = start_rv
        self.objects: dict[str, dict[Key, dict[str, Any]]] = {}
        self.history: deque[Event] = deque(maxlen=history_size)
        self.compacted_rv = start_rv
        self.watchers: dict[str, set[Watcher]] = {}
        self.by_uid: dict[str, tuple[str, Key]] = {}
        self.dependents: dict[str, set[tuple[str, Key]]] = {}
        self._sorted: dict[str, list[Key]] = {}
        self.listeners: list[Callable[[Event], None]] = []

    def bucket(self, rkey: str) -> dict[Key, dict[str, Any]]:
        b = self.objects.get(rkey)
        if b is None:
            b = self.objects[rkey] = {}
        return b

    def get(self, rkey: str, key: Key) -> dict[str, Any] | None:
        return self.objects.get(rkey, {}).get(key)

    def sorted_keys(self, rkey: str) -> list[Key]:
        keys = self._sorted.get(rkey)
        if keys is None:
            keys = self._sorted[rkey] = sorted(self.objects.get(rkey, {}))
        return keys

    def iter_objects(self, rkey: str, namespace: str | None = None) -> Iterator[tuple[Key, dict[str, Any]]]:
        b = self.objects.get(rkey, {})
        keys = self.sorted_keys(rkey)
        # keys sort by (namespace, name): one namespace is a contiguous run found by bisection
        start = 0 if namespace is None else bisect.bisect_left(keys, (namespace, ""))
        for i in range(start, len(keys)):
            k = keys[i]
            if namespace is not None and k[0] != namespace:
                break
            o = b.get(k)
            if o is not None:
                yield k, o

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def write(self, rkey: str, key: Key, obj: dict[str, Any], etype: str) -> Event:
        """Store `obj` (already carrying its new resourceVersion) and fan out the event."""
        b = self.bucket(rkey)
        old = b.get(key)
        if etype == "DELETED":
            b.pop(key, None)
            self._sorted.pop(rkey, None)
            self._unindex(rkey, key, old or obj)
        else:
            if old is None:
                self._sorted.pop(rkey, None)
            else:
                self._unindex(rkey, key, old)
            b[key] = obj
            self._index(rkey, key, obj)
        ev = Event(etype, rkey, obj, int(obj["metadata"]["resourceVersion"]), old)
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(ev)
        for w in self.watchers.get(rkey, ()):
            w.offer(ev)
        for listener in self.listeners:
            listener(ev)
        return ev

    def _index(self, rkey: str, key: Key, obj: dict[str, Any]) -> None:
        md = obj["metadata"]
        uid = md.get("uid")
        if uid:
            self.by_uid[uid] = (rkey, key)
        for ref in md.get("ownerReferences") or ():
            ouid = ref.get("uid")
            if ouid:
                self.dependents.setdefault(ouid, set()).add((rkey, key))

    def _unindex(self, rkey: str, key: Key, obj: dict[str, Any]) -> None:
        md = obj.get("metadata") or {}
        uid = md.get("uid")
        if uid and self.by_uid.get(uid) == (rkey, key):
            self.by_uid.pop(uid, None)
        for ref in md.get("ownerReferences") or ():
            ouid = ref.get("uid", "")
            deps = self.dependents.get(ouid)
            if deps is not None:
                deps.discard((rkey, key))
                if not deps:
                    self.dependents.pop(ouid, None)

    def events_since(self, rv: int) -> list[Event] | None:
        """Events after `rv`, or None when `rv` is older than the retained history (410 Gone)."""
        if rv < self.compacted_rv:
            return None
        h = self.history
        if not h or h[-1].rv <= rv:
            return []
        # History is ordered by rv: binary search the first event newer than rv.
        lo, hi = 0, len(h)
        while lo < hi:
            mid = (lo + hi) // 2
            if h[mid].rv <= rv:
                lo = mid + 1
            else:
                hi = mid
        return [h[i] for i in range(lo, len(h))]

    def add_watcher(self, w: Watcher) -> None:
        self.watchers.setdefault(w.rkey, set()).add(w)

    def remove_watcher(self, w: Watcher) -> None:
        s = self.watchers.get(w.rkey)
        if s is not None:
            s.discard(w)

    def close_watchers(self) -> None:
        for ws in self.watchers.values():
            for w in list(ws):
                w.close()
        self.watchers.clear()
