"""The health signals, what each probe result means, and a region's verdict for one app: pure.

Signals and their targets (``kind`` is the store's ``TargetKind``):

* ``cluster``  member API reachability and latency, per member cluster;
* ``nodes``    Ready node count, per member cluster (no Ready node: unhealthy);
* ``rollout``  available replicas of the app's Deployment, per (app, region);
* ``slb``      backend health of the app's regional SLB (``DescribeHealthStatus``), per (app, region);
* ``endpoint`` a TCP connect or HTTP GET of the region's VIP (``spec.healthProbe``), per (app, region).

A region is unhealthy for an app when any of its signals is unhealthy; ``unknown`` never drains (a
controller that just started, or lost its database, learns the states again before acting on them).
Every unhealthy signal gives a reason ("VIP 127.0.0.5:80 refused 3 times", "0/3 SLB backends
normal", "member API unreachable: ...").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from federation.health.hysteresis import Machine, State, Thresholds


class Signal(StrEnum):
    MEMBER = "cluster"
    NODES = "nodes"
    ROLLOUT = "rollout"
    SLB = "slb"
    VIP = "endpoint"


# What each signal is called in reasons, status and the CLI.
LABELS: Mapping[Signal, str] = {
    Signal.MEMBER: "member API",
    Signal.NODES: "nodes",
    Signal.ROLLOUT: "rollout",
    Signal.SLB: "SLB backends",
    Signal.VIP: "VIP probe",
}

APP_SIGNALS = (Signal.ROLLOUT, Signal.SLB, Signal.VIP)
MEMBER_SIGNALS = (Signal.MEMBER, Signal.NODES)


def app_target_id(app: str, region: str) -> str:
    """The target id of an app-level signal: ``namespace/name@region``."""
    return f"{app}@{region}"


@dataclass(frozen=True, slots=True)
class Target:
    """Something probed: its signal, id, region, and the app (app signals) or member it belongs to."""

    signal: Signal
    target_id: str
    region: str
    app: str | None = None
    cluster: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def key(self) -> tuple[str, str]:
        return (self.signal.value, self.target_id)


@dataclass(frozen=True, slots=True)
class Result:
    """One probe's answer. ``ok`` None means "nothing to judge" (e.g. a rollout still in progress):
    stored as no sample and fed to no machine."""

    target: Target
    ok: bool | None
    detail: str = ""
    latency_ms: float | None = None


def reason(signal: Signal, m: Machine) -> str:
    """Why a target is in its state, for status, Events and the DNS change log."""
    if m.state is State.UNKNOWN and not m.reason:
        return f"{LABELS[signal]}: not probed yet"
    if signal is Signal.VIP and m.state is State.UNHEALTHY and m.failures > 1:
        return f"{m.reason} {m.failures} times"
    return m.reason


@dataclass(frozen=True, slots=True)
class SignalState:
    signal: Signal
    target_id: str
    state: State
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """A region's health for one app: unhealthy when any signal is; the reasons of those that are."""

    signals: tuple[SignalState, ...]

    @property
    def unhealthy(self) -> tuple[SignalState, ...]:
        return tuple(s for s in self.signals if s.state is State.UNHEALTHY)

    @property
    def healthy(self) -> bool:
        return not self.unhealthy

    @property
    def state(self) -> State:
        if self.unhealthy:
            return State.UNHEALTHY
        if any(s.state is State.HEALTHY for s in self.signals):
            return State.HEALTHY
        return State.UNKNOWN

    @property
    def reason(self) -> str:
        return "; ".join(s.reason for s in self.unhealthy)


def verdict(
    app: str, region: str, cluster: str | None, machines: Mapping[tuple[str, str], Machine]
) -> Verdict:
    """Combine the member signals of ``cluster`` and the app signals of (app, region)."""
    out: list[SignalState] = []
    keys: list[tuple[Signal, str]] = []
    if cluster:
        keys += [(s, cluster) for s in MEMBER_SIGNALS]
    keys += [(s, app_target_id(app, region)) for s in APP_SIGNALS]
    for signal, tid in keys:
        m = machines.get((signal.value, tid))
        if m is None:
            continue
        out.append(SignalState(signal, tid, m.state, reason(signal, m)))
    return Verdict(tuple(out))


# --- what a probe's raw answer means (pure) -----------------------------------------------------------


def nodes_result(nodes: Sequence[Mapping[str, Any]]) -> tuple[bool, str, int, int]:
    """(ok, detail, ready, total) from a node list: healthy while at least one node is Ready."""
    ready = 0
    for node in nodes:
        for cond in (node.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("status") == "True":
                ready += 1
                break
    return ready > 0, f"{ready}/{len(nodes)} nodes Ready", ready, len(nodes)


def rollout_result(app: str, deployment: Mapping[str, Any] | None, desired: int) -> tuple[bool | None, str]:
    """Whether the app's Deployment in a region serves: (ok or None for "nothing to judge", detail).

    Failing: replicas wanted (by the Deployment), none available, and it is not in the middle of a rollout
    that may still finish (its Progressing condition is False, e.g. ProgressDeadlineExceeded, or says
    the rollout completed and the replicas went away since, e.g. crash-looping). A fresh rollout, or a
    region given replicas back after recovering, is not judged until it finishes or fails.
    """
    if deployment is None:
        return None, ""
    status = deployment.get("status") or {}
    spec = deployment.get("spec") or {}
    # judged on what the Deployment asks for: a region excluded for its rollout keeps a canary replica
    want = int(spec.get("replicas", desired) or 0)
    available = int(status.get("availableReplicas") or 0)
    if want <= 0:
        return None, ""
    detail = f"Deployment {app}: {available}/{want} available"
    if available > 0:
        return True, detail
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conds.get("Progressing") or {}
    if progressing.get("status") == "False":
        return False, f"{detail} ({progressing.get('reason') or 'not progressing'})"
    if progressing.get("reason") == "NewReplicaSetAvailable":
        available_cond = conds.get("Available") or {}
        return False, f"{detail} ({available_cond.get('reason') or 'replicas lost'})"
    return None, detail  # rolling out


def slb_result(backends: Sequence[Mapping[str, Any]]) -> tuple[bool | None, str]:
    """From ``DescribeHealthStatus``: healthy while at least one backend is ``normal``; not judged
    while none is checked yet (``unavailable``: the SLB's own health check has not completed)."""
    if not backends:
        return None, "no SLB backends"
    status = [str(b.get("ServerHealthStatus", "")).lower() for b in backends]
    normal = status.count("normal")
    detail = f"{normal}/{len(backends)} SLB backends normal"
    if normal == 0 and "abnormal" not in status:
        return None, detail
    return normal > 0, detail
