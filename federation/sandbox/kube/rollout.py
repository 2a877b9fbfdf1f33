"""The simulated Deployment controller's rollout arithmetic (pure: the caller passes the time).

A Deployment's pods are kept as one :class:`Pool` per pod template (a ReplicaSet): batches of pods,
each batch ready from a given time (created + the rollout delay). :func:`step` does what the
Kubernetes Deployment controller does on every sync (pkg/controller/deployment, rolling.go and
recreate.go), repeated until nothing changes at this instant (our pods terminate at once):

* RollingUpdate: the new ReplicaSet scales up while all pods stay within ``replicas + maxSurge``;
  old ReplicaSets scale down (their unready pods first) while the available pods stay at least
  ``replicas - maxUnavailable``. ``maxSurge`` percentages round up, ``maxUnavailable`` ones down;
  both 0 makes ``maxUnavailable`` 1 (``ResolveFenceposts``).
* Recreate: every old pod goes, then the new ReplicaSet gets all replicas.

So a template change proceeds in steps, each waiting for the pods of the previous one to be ready.
A paused Deployment (``spec.paused``) keeps its ReplicaSets as they are until resumed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Pool:
    """The pods of one ReplicaSet: ``batches`` of [count, ready from], oldest first."""

    hash: str
    batches: list[list[float]] = field(default_factory=list)

    @property
    def replicas(self) -> int:
        return int(sum(b[0] for b in self.batches))

    def matured(self, now: float) -> int:
        return int(sum(b[0] for b in self.batches if b[1] <= now))

    def scale(self, n: int, now: float, delay: float) -> None:
        have = self.replicas
        if n > have:
            self.batches.append([n - have, now + delay])
            return
        drop = have - n
        # the controller deletes the least ready pods first: the newest batches
        while drop > 0 and self.batches:
            last = self.batches[-1]
            take = min(int(last[0]), drop)
            last[0] -= take
            drop -= take
            if last[0] <= 0:
                self.batches.pop()

    def restart(self, now: float, delay: float) -> None:
        """Every pod starts again (a crash-looping rollout healed): ready after the delay."""
        for b in self.batches:
            b[1] = max(b[1], now + delay)


def resolve(value: Any, replicas: int, round_up: bool) -> int:
    """An int-or-percent of ``replicas`` (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = int(value[:-1])
        except ValueError:
            return 0
        exact = replicas * pct / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


def surge_and_unavailable(spec: dict[str, Any], replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pods; Recreate: (0, replicas)."""
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, replicas
    ru = strategy.get("rollingUpdate") or {}
    surge = resolve(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = resolve(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


Ready = Callable[[Pool], int]  # ready pods of a pool now (matured, on Ready nodes, not crash-looping)
Scaled = Callable[[Pool, int, int], None]  # a pool went from one size to another


def step(
    pools: dict[str, Pool],
    new_hash: str,
    spec: dict[str, Any],
    *,
    now: float,
    delay: float,
    ready: Ready,
    on_scale: Scaled = lambda pool, old, new: None,
) -> None:
    """Scale the pools of one Deployment as its controller would at ``now`` (``pools`` in age order,
    oldest first; the pool of the current template is created if missing)."""
    if spec.get("paused"):
        return  # `kubectl rollout pause`: no new ReplicaSet, no step, until resumed
    desired = max(int(spec.get("replicas", 1)), 0)
    new = pools.get(new_hash)
    if new is None:
        new = pools[new_hash] = Pool(new_hash)
    olds = [p for h, p in pools.items() if h != new_hash]

    def scale(pool: Pool, n: int) -> None:
        before = pool.replicas
        if n != before:
            pool.scale(n, now, delay)
            on_scale(pool, before, n)

    if (spec.get("strategy") or {}).get("type") == "Recreate":
        for old in olds:
            scale(old, 0)
        scale(new, desired)
    else:
        surge, unavailable = surge_and_unavailable(spec, desired)
        for _ in range(4 * (desired + 2) + 8):  # each pass moves some pods; bounded for safety
            changed = False
            total = sum(p.replicas for p in pools.values())
            if new.replicas > desired:
                scale(new, desired)
                changed = True
            elif new.replicas < desired:
                up = min(desired + surge - total, desired - new.replicas)
                if up > 0:
                    scale(new, new.replicas + up)
                    changed = True
            # old ReplicaSets: unhealthy pods first, then as availability allows
            total = sum(p.replicas for p in pools.values())
            min_available = desired - unavailable
            max_down = total - min_available - (new.replicas - ready(new))
            for old in olds:
                if max_down <= 0:
                    break
                n = min(max_down, old.replicas - ready(old))
                if n > 0:
                    scale(old, old.replicas - n)
                    max_down -= n
                    changed = True
            available = sum(ready(p) for p in pools.values())
            can = available - min_available
            for old in olds:
                if can <= 0:
                    break
                n = min(old.replicas, can)
                if n > 0:
                    scale(old, old.replicas - n)
                    can -= n
                    changed = True
            if not changed:
                break
    for h in [h for h, p in pools.items() if h != new_hash and p.replicas == 0]:
        del pools[h]


def next_change(pools: dict[str, Pool], now: float) -> float | None:
    """When a batch of pods becomes ready next (the controller's next step), if any."""
    times = [b[1] for p in pools.values() for b in p.batches if b[1] > now and b[0] > 0]
    return min(times) if times else None


def complete(pools: dict[str, Pool], new_hash: str, desired: int, now: float) -> bool:
    """The rollout finished: only the new ReplicaSet has pods, all of them there and started (a node
    that goes NotReady afterwards makes pods unready, not the rollout unfinished)."""
    new = pools.get(new_hash)
    return (
        new is not None
        and new.replicas == desired
        and all(p.replicas == 0 for h, p in pools.items() if h != new_hash)
        and new.matured(now) >= desired
    )


HASH_LABEL = "pod-template-hash"


def bare_template(template: dict[str, Any]) -> dict[str, Any]:
    """The template without what the controller adds (the hash label) or a client's serialiser leaves
    (``creationTimestamp: null``): `rollout undo` copies a ReplicaSet's template back, and it must be
    recognised as that ReplicaSet's (the controller's EqualIgnoreHash)."""
    t = dict(template)  # shallow: only the metadata changes
    meta = dict(t.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != HASH_LABEL}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if meta.get("creationTimestamp") is None:
        meta.pop("creationTimestamp", None)
    if meta:
        t["metadata"] = meta
    else:
        t.pop("metadata", None)
    return t


def template_hash(template: dict[str, Any]) -> str:
    """The pod-template-hash of a template (stable, whatever its key order)."""
    raw = orjson.dumps(bare_template(template), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:10]
