"""Every target's hysteresis machine, and what a sweep's results change: in memory, no I/O.

``apply`` feeds a sweep's results to the machines and returns what the store must write (the samples,
the states that changed, the transitions) and which apps a transition affects. The caller persists
that in one transaction and enqueues the apps.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from federation.health.hysteresis import Machine, State, Transition, forget, observe
from federation.health.signals import APP_SIGNALS, Result, Signal, Target, Verdict, reason, verdict
from federation.store.health import HealthSampleData, HealthStateData, TransitionData

# A state row is rewritten when it changed, or at least this often (the dashboard shows "last probed"),
# plus a per-target spread of up to STATE_SPREAD: ten thousand targets learnt in one sweep are then
# refreshed a few hundred per sweep, not all in the same one a minute later.
STATE_REFRESH = timedelta(seconds=60)
STATE_SPREAD = 30


def _refresh_after(key: tuple[str, str]) -> timedelta:
    return STATE_REFRESH + timedelta(seconds=zlib.crc32(key[1].encode()) % STATE_SPREAD)


@dataclass
class Outcome:
    samples: list[HealthSampleData] = field(default_factory=list)
    states: list[HealthStateData] = field(default_factory=list)
    transitions: list[TransitionData] = field(default_factory=list)
    affected_apps: set[str] = field(default_factory=set)
    affected_clusters: set[str] = field(default_factory=set)  # member signals: every app placed there
    confirming: list[Target] = field(default_factory=list)  # targets to re-probe soon

    def merge(self, other: Outcome) -> None:
        self.samples += other.samples
        self.states += other.states
        self.transitions += other.transitions
        self.affected_apps |= other.affected_apps
        self.affected_clusters |= other.affected_clusters
        self.confirming = other.confirming  # the latest round's


def _newer(mine: Machine | None, stored_at: datetime | None) -> bool:
    """Whether a local machine's last probe is later than a stored state's last sample."""
    if mine is None or mine.last_at is None:
        return False
    return stored_at is None or mine.last_at > stored_at


class HealthTracker:
    def __init__(self) -> None:
        self.machines: dict[tuple[str, str], Machine] = {}
        self.targets: dict[tuple[str, str], Target] = {}
        self._persisted: dict[tuple[str, str], tuple[object, ...]] = {}
        self._refresh_at: dict[tuple[str, str], datetime] = {}

    def machine(self, target: Target) -> Machine:
        return self.machines.get(target.key, Machine())

    def restore(self, states: Iterable[HealthStateData]) -> None:
        """Resume from stored states (state and since; the counters start again from zero)."""
        for s in states:
            try:
                signal = Signal(s.target_kind)
                state = State(s.state)
            except ValueError:
                continue
            key = (signal.value, s.target_id)
            if key in self.machines:
                continue
            self.machines[key] = Machine(
                state, since=s.since, last_at=s.last_sample_at, reason=s.reason or ""
            )

    def resume(self, states: Iterable[HealthStateData], apps: Collection[str]) -> list[tuple[str, str]]:
        """Take over the app signals of ``apps`` (a shard gained from another replica) from the states
        their previous holder stored; returns the keys taken.

        Unlike :meth:`restore`, a machine this replica already has for such a target is replaced: it
        is stale (resumed at this replica's start, or left from when it last held the shard), unless
        its last probe is newer than the stored one's, i.e. this replica has swept the target itself
        since, and its own evidence stands. Member signals never move with a shard."""
        wanted = set(apps)
        taken: list[tuple[str, str]] = []
        for s in states:
            if s.app is None or s.app not in wanted:
                continue
            try:
                signal = Signal(s.target_kind)
                state = State(s.state)
            except ValueError:
                continue
            if signal not in APP_SIGNALS:
                continue
            key = (signal.value, s.target_id)
            if _newer(self.machines.get(key), s.last_sample_at):
                continue  # probed here since the stored sample: this replica's own evidence stands
            self.machines[key] = Machine(
                state, since=s.since, last_at=s.last_sample_at, reason=s.reason or ""
            )
            # this replica writes the row again at its first probe (the row is now its own)
            self._persisted.pop(key, None)
            self._refresh_at.pop(key, None)
            taken.append(key)
        return taken

    def apply(self, results: Sequence[Result], at: datetime) -> Outcome:
        out = Outcome()
        for r in results:
            t = r.target
            self.targets[t.key] = t
            if r.ok is None:
                continue
            out.samples.append(
                HealthSampleData(
                    target_kind=t.signal.value,
                    target_id=t.target_id,
                    region=t.region,
                    ok=r.ok,
                    at=at,
                    app=t.app,
                    latency_ms=r.latency_ms,
                    detail=r.detail or None,
                )
            )
            m, tr = observe(self.machine(t), r.ok, at, t.thresholds, r.detail)
            self.machines[t.key] = m
            self._after(t, m, tr, at, out)
            if m.confirming:
                out.confirming.append(t)
        return out

    def drop(
        self,
        keep: Iterable[tuple[str, str]],
        signals: Iterable[Signal],
        at: datetime,
        idle: timedelta = timedelta(0),
        handed_over: Callable[[str], bool] = lambda app: False,
    ) -> Outcome:
        """Targets of ``signals`` not in ``keep`` (an app or member gone, a region with no address) and
        not probed for ``idle``: back to unknown, and forgotten. The grace keeps what a restarted
        controller resumed from the store until its caches have filled.

        The targets of an app ``handed_over`` (its shard moved to another replica) are forgotten
        without a word: its new holder sweeps them and owns their stored states, which an ``unknown``
        written from here would overwrite (and the next holder would resume)."""
        out = Outcome()
        keep = set(keep)
        kinds = {s.value for s in signals}
        stale = [
            k
            for k, m in self.machines.items()
            if k[0] in kinds and k not in keep and (m.last_at is None or at - m.last_at >= idle)
        ]
        for key in stale:
            t = self.targets.get(key)
            m, tr = forget(self.machines.pop(key), at)
            self.targets.pop(key, None)
            self._persisted.pop(key, None)
            self._refresh_at.pop(key, None)
            if t is not None and not (t.app and handed_over(t.app)):
                self._after(t, m, tr, at, out, force=tr is not None)
        return out

    def _after(
        self, t: Target, m: Machine, tr: Transition | None, at: datetime, out: Outcome, force: bool = False
    ) -> None:
        text = reason(t.signal, m)
        fingerprint = (m.state, min(m.failures, t.thresholds.failure), min(m.successes, t.thresholds.success))
        due = self._refresh_at.get(t.key)
        if force or tr is not None or due is None or at >= due or self._persisted.get(t.key) != fingerprint:
            self._persisted[t.key] = fingerprint
            self._refresh_at[t.key] = at + _refresh_after(t.key)
            out.states.append(
                HealthStateData(
                    target_kind=t.signal.value,
                    target_id=t.target_id,
                    region=t.region,
                    state=m.state.value,
                    consecutive_failures=m.failures,
                    consecutive_successes=m.successes,
                    since=m.since or at,
                    app=t.app,
                    last_sample_at=m.last_at,
                    reason=text or None,
                )
            )
        if tr is None:
            return
        out.transitions.append(
            TransitionData(
                target_kind=t.signal.value,
                target_id=t.target_id,
                region=t.region,
                from_state=tr.old.value,
                to_state=tr.new.value,
                reason=text or tr.reason,
                at=at,
                app=t.app,
            )
        )
        if t.app:
            out.affected_apps.add(t.app)
        if t.cluster and t.signal in (Signal.MEMBER, Signal.NODES):
            out.affected_clusters.add(t.cluster)

    def verdict(self, app: str, region: str, cluster: str | None) -> Verdict:
        return verdict(app, region, cluster, self.machines)

    def states(self) -> Mapping[tuple[str, str], Machine]:
        return self.machines
