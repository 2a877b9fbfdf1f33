"""Three `fedctl run` processes share 300 apps by shards (the third joins while the others are busy
and gets its share handed over): every app Ready, every shard held by exactly one replica and the
shards balanced; one replica is killed with SIGKILL, its shards move to the others
and its apps keep converging (a spec changed after the kill reaches the members); and the write log
(``log_writes``: one line per write with replica, app and shard) shows no app written by two replicas
in the same window.

The simulator runs without pods (``Sandbox(pods=False)``) to keep 300 apps light."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from federation.api import constants as c
from federation.clusters.kubeapi import LEASES, KubeApi
from federation.controller.resources import FEDERATEDAPPS
from federation.controller.sharding import LABEL_ROLE, LABEL_SET, LABEL_SHARD, ROLE_SHARD
from federation.controller.shards import shard_of
from federation.sandbox.wiring import SYSTEM_NAMESPACE, Sandbox
from tests.fedctl_cli import fedctl
from tests.integration.conftest import fedctl_run_command, stop_processes
from tests.waiting import wait_for

APPS = 300
SHARDS = 16
LEASE_DURATION = 3.0
REGIONS = ("cn-hangzhou", "cn-beijing")
NS = "shards"
WRITE = re.compile(r"^(\S+ \S+) .*federation\.writes: write replica=(\S+) app=(\S+) shard=(\d+)")


@dataclass
class Replica:
    identity: str
    proc: asyncio.subprocess.Process
    log: Path


def _app(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": r} for r in REGIONS]},
            "ports": [{"name": "http", "port": 80}],
            "dns": {"zone": "example.com", "hostname": f"{name}.example.com"},
        },
    }


def _ready(obj: dict[str, Any]) -> bool:
    st = obj.get("status") or {}
    if st.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
        return False
    return any(cd.get("type") == "Ready" and cd.get("status") == "True" for cd in st.get("conditions") or [])


async def _start(sb: Sandbox, identity: str, tmp: Path) -> Replica:
    log = tmp / f"{identity}.log"
    env = {
        **os.environ,
        "FEDCTL_SHARDS": str(SHARDS),
        "FEDCTL_LOG_WRITES": "true",
        "FEDCTL_WEB_LISTEN": "127.0.0.1:0",
        "FEDCTL_DATABASE_URL": f"sqlite:///{tmp / 'store.db'}",
    }
    cmd = [
        *fedctl_run_command(sb, identity, lease_duration=LEASE_DURATION),
        "--no-dns",
        "--no-web",
        "--no-sweeps",
        "--no-slb",
    ]
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=out, env=env
        )
    return Replica(identity, proc, log)


async def _holders(host: KubeApi) -> dict[int, str]:
    """shard -> holder, of the shard Leases renewed within their duration (by the wall clock)."""
    items, _ = await host.list(LEASES, SYSTEM_NAMESPACE, label_selector=f"{LABEL_SET}=fedctl-controller")
    out: dict[int, str] = {}
    now = datetime.now().astimezone()
    for lease in items:
        labels = lease["metadata"].get("labels") or {}
        spec = lease.get("spec") or {}
        if labels.get(LABEL_ROLE) != ROLE_SHARD or not spec.get("holderIdentity"):
            continue
        renewed = datetime.fromisoformat(str(spec["renewTime"]).replace("Z", "+00:00"))
        if (now - renewed).total_seconds() < float(spec["leaseDurationSeconds"]):
            out[int(labels[LABEL_SHARD])] = str(spec["holderIdentity"])
    return out


def _balanced(holders: dict[int, str], live: set[str]) -> bool:
    counts = [sum(1 for h in holders.values() if h == r) for r in live]
    return (
        sorted(holders) == list(range(SHARDS))
        and set(holders.values()) == live
        and max(counts) <= SHARDS // len(live) + 1
    )


class Logged(Protocol):
    identity: str
    log: Path


def _writes(replicas: Sequence[Logged]) -> dict[str, list[tuple[float, str]]]:
    """app -> [(time, replica)] of every write, from the replicas' logs, sorted."""
    out: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for r in replicas:
        for line in r.log.read_text(errors="replace").splitlines():
            m = WRITE.match(line)
            if m:
                at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                out[m.group(3)].append((at, m.group(2)))
    for v in out.values():
        v.sort()
    return out


def _overlaps(writes: dict[str, list[tuple[float, str]]]) -> list[str]:
    """Apps written by two replicas in one window: the writes of an app form runs by one replica; a
    replica may write the app again after another one did only once that one's Lease could have
    expired (its shard came back through a kill or a release), never interleaved within a lease
    duration (A, B, A: two replicas both reconciling)."""
    bad = []
    for app, seq in writes.items():
        runs: list[tuple[str, float, float]] = []  # (replica, first, last)
        for at, who in seq:
            if runs and runs[-1][0] == who:
                runs[-1] = (who, runs[-1][1], at)
            else:
                runs.append((who, at, at))
        for a, b, a2 in zip(runs, runs[1:], runs[2:], strict=False):
            if a[0] == a2[0] and a2[1] - a[2] < LEASE_DURATION:
                bad.append(
                    f"{app}: {a[0]} until {a[2]:.3f}, {b[0]} {b[1]:.3f}..{b[2]:.3f}, {a2[0]} at {a2[1]:.3f}"
                )
    return bad


async def test_three_replicas_share_the_apps_and_take_over_a_killed_ones_shards(tmp_path: Path) -> None:
    sb = Sandbox(
        tmp_path / "sb",
        regions=REGIONS,
        rollout_delay=0.05,
        run_controller=False,
        apply_example=False,
        pods=False,
    )
    await sb.start()
    assert sb.host is not None
    host = sb.host
    replicas: list[Replica] = []
    try:
        await sb.ensure_namespace(NS)
        for ident in ("shard-a", "shard-b"):
            replicas.append(await _start(sb, ident, tmp_path))
        sem = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with sem:
                await host.create(FEDERATEDAPPS, _app(f"app-{i:03d}", 2), NS)

        started = time.monotonic()
        await asyncio.gather(*(create(i) for i in range(APPS)))
        # the third replica joins while the first two are busy: they hand it its share mid-work
        replicas.append(await _start(sb, "shard-c", tmp_path))

        async def all_ready() -> bool:
            items, _ = await host.list(FEDERATEDAPPS, NS)
            return sum(1 for a in items if _ready(a)) == APPS

        await wait_for(all_ready, 120, "every app Ready")
        converged = time.monotonic() - started
        live = {r.identity for r in replicas}

        async def balanced() -> dict[int, str] | None:
            h = await _holders(host)
            return h if _balanced(h, live) else None

        holders = await wait_for(balanced, 30, "every shard held by one of the three replicas, balanced")
        for r in replicas:
            assert r.proc.returncode is None, r.log.read_text()[-2000:]

        # kill -9 the replica holding the most shards
        counts = {r.identity: sum(1 for h in holders.values() if h == r.identity) for r in replicas}
        victim = max(replicas, key=lambda r: (counts[r.identity], r.identity))
        orphaned = {s for s, h in holders.items() if h == victim.identity}
        victim.proc.send_signal(signal.SIGKILL)
        killed_at, killed_wall = time.monotonic(), time.time()
        await victim.proc.wait()
        survivors = live - {victim.identity}

        async def moved() -> dict[int, str] | None:
            h = await _holders(host)
            return h if _balanced(h, survivors) else None

        after = await wait_for(moved, 30, f"the shards {sorted(orphaned)} of {victim.identity} taken over")
        took = time.monotonic() - killed_at
        assert not set(after.values()) & {victim.identity}

        # what an operator sees
        code, out, err = await fedctl(
            "status", "--shards", "--kubeconfig", str(sb.kubeconfigs["host"]), env={**os.environ}
        )
        assert code == 0, err
        rows = [line.split() for line in out.splitlines()[1 : SHARDS + 1]]
        assert {int(r[0]): r[1] for r in rows if r[-1] == "held"} == after
        for ident in survivors:
            assert f"replica {ident}: {SHARDS // 2} shard(s)" in out

        # its apps keep converging: scale 20 of them and see the members follow
        items, _ = await host.list(FEDERATEDAPPS, NS)
        theirs = [a["metadata"]["name"] for a in items if shard_of(a["metadata"]["uid"], SHARDS) in orphaned][
            :20
        ]
        assert theirs, "the killed replica held apps"
        for name in theirs:
            await host.merge_patch(FEDERATEDAPPS, name, {"spec": {"replicas": 6}}, NS)

        async def scaled() -> bool:
            done = 0
            for name in theirs:
                app = await host.get(FEDERATEDAPPS, name, NS)
                st = (app or {}).get("status") or {}
                # ready replicas are what the members' Deployments report
                if app is not None and _ready(app) and st.get("readyReplicas") == 6:
                    done += 1
            return done == len(theirs)

        await wait_for(scaled, 60, "the killed replica's apps scaled by the survivors")

        writes = _writes(replicas)
        written = {app.split("/", 1)[1] for app in writes}
        handed = sum(
            1
            for seq in writes.values()
            if {who for _, who in seq} & {"shard-a", "shard-b"} and any(who == "shard-c" for _, who in seq)
        )
        print(
            f"\nsharding: {APPS} apps Ready in {converged:.1f}s over 3 replicas; shards {counts}; "
            f"{victim.identity} killed, its {len(orphaned)} shards moved in {took:.1f}s (lease "
            f"{LEASE_DURATION:.0f}s); {sum(len(v) for v in writes.values())} writes logged for "
            f"{len(writes)} apps; {handed} apps written before and after a handover to the late replica"
        )
        assert set(theirs) <= written
        for name in theirs:  # written after the kill, by the survivors only
            later = {who for at, who in writes[f"{NS}/{name}"] if at > killed_wall}
            assert later, name
            assert victim.identity not in later
        assert len({who for seq in writes.values() for _, who in seq}) == 3  # every replica wrote
        assert _overlaps(writes) == []
    finally:
        await stop_processes(r.proc for r in replicas)
        await sb.stop()


def test_the_overlap_check_finds_two_replicas_writing_one_app() -> None:
    handover = {"ns/a": [(1.0, "x"), (1.5, "x"), (2.0, "y"), (9.0, "x")]}  # back after a lease: fine
    assert _overlaps(handover) == []
    both = {"ns/a": [(1.0, "x"), (1.2, "y"), (1.4, "x")]}
    assert len(_overlaps(both)) == 1
