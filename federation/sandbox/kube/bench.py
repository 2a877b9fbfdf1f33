"""`fedctl bench kube`: load a simulator running in its own process (N clusters x M objects) and print
create/get/list request rates, watch-event delivery rate, the time Deployments take to roll out (with
their ReplicaSets and Pods, or without: ``--no-pods``) and the simulator's peak memory."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import click
import yaml


def _rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, from /proc."""
    cur = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return cur, peak


class Target:
    def __init__(self, kubeconfig: Path, concurrency: int) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"]
        token = cfg["users"][0]["user"]["token"]
        ctx: ssl.SSLContext | bool = False
        if "certificate-authority-data" in cluster:
            ctx = ssl.create_default_context(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
            )
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=concurrency),
            headers={"Authorization": f"Bearer {token}"},
        )

    async def close(self) -> None:
        await self.session.close()


async def _run_for(
    duration: float, concurrency: int, op: Callable[[int], Awaitable[int]]
) -> tuple[int, int, float]:
    """Run `op` from `concurrency` workers for `duration` seconds: (requests, units, seconds)."""
    stop = time.monotonic() + duration
    reqs = units = 0

    async def worker(w: int) -> None:
        nonlocal reqs, units
        i = w
        while time.monotonic() < stop:
            n = await op(i)  # not `units += await ...`: that reads `units` before the await
            units += n
            reqs += 1
            i += concurrency

    t0 = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return reqs, units, time.monotonic() - t0


ROLLOUT_DELAY = 1.0  # the simulator's, in this benchmark


def _rollout_steps(replicas: int) -> int:
    """Rollout delays a rolling update (25%/25%) of ``replicas`` needs at the least."""
    from federation.sandbox.kube import rollout

    pools = {"a": rollout.Pool("a", [[replicas, 0.0]])}
    spec = {"replicas": replicas}
    for n in range(1, 4 * replicas + 10):
        now = float(n)

        def ready(p: rollout.Pool, t: float = now) -> int:
            return p.matured(t)

        rollout.step(pools, "b", spec, now=now, delay=1.0, ready=ready)
        if rollout.complete(pools, "b", replicas, now):
            return n - 1
    return -1


async def _deployments(
    targets: list[Target], deployments: int, replicas: int, concurrency: int, pods: bool
) -> None:
    """Create ``deployments`` Deployments per cluster, wait until all are available, then change every
    template and wait for the rolling updates to finish."""
    base = "/apis/apps/v1/namespaces/default/deployments"
    total = deployments * len(targets)

    def body(i: int) -> dict[str, Any]:
        labels = {"app": f"app-{i:05d}"}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"app-{i:05d}"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                },
            },
        }

    async def each(op: Callable[[Target, int], Awaitable[None]]) -> None:
        todo = iter(range(total))

        async def worker() -> None:
            for i in todo:
                await op(targets[i % len(targets)], i // len(targets))

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def create(t: Target, i: int) -> None:
        async with t.session.post(t.url + base, json=body(i)) as r:
            await r.read()

    async def patch(t: Target, i: int) -> None:
        p = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}}}
        async with t.session.patch(
            f"{t.url}{base}/app-{i:05d}",
            data=json.dumps(p),
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        ) as r:
            await r.read()

    async def rolled_out() -> int:
        done = 0
        for t in targets:
            async with t.session.get(t.url + base) as r:
                for d in (await r.json(loads=_loads))["items"]:
                    st = d.get("status") or {}
                    done += (
                        st.get("observedGeneration") == d["metadata"].get("generation")
                        and st.get("replicas") == st.get("updatedReplicas") == replicas
                        and st.get("availableReplicas") == replicas
                    )
        return done

    async def wait_all(t0: float) -> float:
        while await rolled_out() < total:
            if time.monotonic() - t0 > 600:
                raise TimeoutError("Deployments did not roll out within 600 s")
            await asyncio.sleep(0.1)
        return time.monotonic() - t0

    async def count(path: str) -> int:
        n = 0
        for t in targets:
            async with t.session.get(t.url + path) as r:
                n += len((await r.json(loads=_loads))["items"])
        return n

    t0 = time.monotonic()
    await each(create)
    created = time.monotonic() - t0
    available = await wait_all(t0)
    objs = (
        f"{await count('/api/v1/pods'):,} Pods, {await count('/apis/apps/v1/replicasets'):,} ReplicaSets"
        if pods
        else "no Pods (--no-pods)"
    )
    click.echo(
        f"deployments: {total:,} x {replicas} replicas created in {created:.1f}s, all available after "
        f"{available:.1f}s (rollout delay {ROLLOUT_DELAY:g}s); {objs}"
    )
    await patch(targets[0], 0)  # the first strategic merge patch loads the kinds' schemas, once
    t0 = time.monotonic()
    await each(patch)
    patched = time.monotonic() - t0
    done = await wait_all(t0)
    steps = _rollout_steps(replicas)
    click.echo(
        f"rolling update (25%/25%) of every Deployment: patched in {patched:.1f}s, all rolled out after "
        f"{done:.1f}s (its {steps} steps wait {steps * ROLLOUT_DELAY:g}s for Pods to become ready)"
    )


async def _bench(
    clusters: int,
    objects: int,
    concurrency: int,
    duration: float,
    https: bool,
    watchers: int,
    deployments: int = 0,
    replicas: int = 4,
    pods: bool = True,
) -> None:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        args = [
            sys.executable,
            "-m",
            "federation.cli",
            "sim",
            "kube",
            "--out",
            str(out),
            "--nodes",
            "1",
            "--rollout-delay",
            str(ROLLOUT_DELAY),
            "--https" if https else "--no-https",
            "--pods" if pods else "--no-pods",
        ]
        for i in range(clusters):
            args += ["--cluster", f"bench-{i}"]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 60)
        sim_pid = json.loads((out / "sim.json").read_text())["pid"]
        targets = [Target(out / f"bench-{i}.kubeconfig", concurrency) for i in range(clusters)]
        base = "/api/v1/namespaces/default/configmaps"
        try:
            click.echo(
                f"simulator pid {sim_pid}: {clusters} clusters, {objects} objects each, "
                f"{'https' if https else 'http'}, concurrency {concurrency}"
            )
            rss0 = _rss_kib(sim_pid)[0]

            total = clusters * objects
            next_index = 0
            failures = 0

            async def creator() -> None:
                nonlocal next_index, failures
                while next_index < total:
                    i = next_index
                    next_index += 1
                    t = targets[i % clusters]
                    body = {
                        "metadata": {
                            "name": f"obj-{i // clusters:06d}",
                            "labels": {"shard": str((i // clusters) % 16)},
                        },
                        "data": {"key": "v" * 64, "index": str(i)},
                    }
                    async with t.session.post(t.url + base, json=body) as r:
                        await r.read()
                        failures += r.status != 201

            t0 = time.monotonic()
            await asyncio.gather(*(creator() for _ in range(concurrency)))
            elapsed = time.monotonic() - t0
            click.echo(
                f"create: {total} objects in {elapsed:.1f}s = {total / elapsed:,.0f} req/s "
                f"({failures} failed)"
            )
            rss_loaded, _ = _rss_kib(sim_pid)
            click.echo(
                f"simulator RSS: {rss0 / 1024:.0f} MiB idle -> {rss_loaded / 1024:.0f} MiB with "
                f"{total:,} objects"
            )

            rng = random.Random(1)

            async def get(i: int) -> int:
                t = targets[i % clusters]
                async with t.session.get(f"{t.url}{base}/obj-{rng.randrange(objects):06d}") as r:
                    await r.read()
                    return 1

            reqs, _, secs = await _run_for(duration, concurrency, get)
            click.echo(f"get: {reqs / secs:,.0f} req/s")

            async def list_all(i: int) -> int:
                t = targets[i % clusters]
                async with t.session.get(t.url + base) as r:
                    return len((await r.json(loads=_loads))["items"])

            reqs, items, secs = await _run_for(duration, min(concurrency, clusters), list_all)
            click.echo(f"list (all {objects:,}): {reqs / secs:,.1f} req/s = {items / secs:,.0f} objects/s")

            async def list_page(i: int) -> int:
                t = targets[i % clusters]
                async with t.session.get(f"{t.url}{base}?limit=500&labelSelector=shard%3D{i % 16}") as r:
                    return len((await r.json(loads=_loads))["items"])

            reqs, items, secs = await _run_for(duration, concurrency, list_page)
            click.echo(
                f"list (labelSelector, limit=500): {reqs / secs:,.0f} req/s = {items / secs:,.0f} objects/s"
            )

            received = 0
            ready = asyncio.Event()
            reached = asyncio.Event()
            want = 0
            opened = 0

            async def watch(t: Target) -> None:
                nonlocal received, opened
                async with t.session.get(
                    f"{t.url}{base}?watch=true&resourceVersion=0&labelSelector=shard%3D0",
                    timeout=aiohttp.ClientTimeout(total=None),
                ) as r:
                    opened += 1
                    if opened == len(targets) * watchers:
                        ready.set()
                    async for _line in r.content:
                        received += 1
                        if received >= want:
                            reached.set()

            tasks = [asyncio.create_task(watch(t)) for t in targets for _ in range(watchers)]
            want = (objects + 15) // 16 * len(tasks)  # the initial ADDED events
            await asyncio.wait_for(ready.wait(), 60)
            await asyncio.wait_for(reached.wait(), 60)
            received = 0
            want = 1 << 62
            reached.clear()

            async def patch(i: int) -> int:
                t = targets[i % clusters]
                name = f"obj-{(i // clusters * 16) % objects:06d}"  # shard 0 objects: every patch is watched
                async with t.session.patch(
                    f"{t.url}{base}/{name}",
                    data=json.dumps({"data": {"n": str(i)}}),
                    headers={"Content-Type": "application/merge-patch+json"},
                ) as r:
                    await r.read()
                    return 1

            reqs, _, secs = await _run_for(duration, concurrency, patch)
            t_drain = time.monotonic()
            want = reqs * watchers
            if received < want:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reached.wait(), 10)
            drain = time.monotonic() - t_drain
            click.echo(
                f"patch: {reqs / secs:,.0f} req/s; watch events delivered: {received:,} of "
                f"{reqs * watchers:,} = {received / (secs + drain):,.0f} events/s to "
                f"{len(tasks)} watchers"
            )
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if deployments:
                await _deployments(targets, deployments, replicas, concurrency, pods)
            cur, peak = _rss_kib(sim_pid)
            click.echo(f"simulator memory: RSS {cur / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB")
        finally:
            for t in targets:
                await t.close()
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:  # a simulator that does not stop when asked is not left running
                proc.kill()
                await proc.wait()


def _loads(text: str) -> Any:
    return json.loads(text)


@click.command("kube")
@click.option("--clusters", type=int, default=10, show_default=True)
@click.option("--objects", type=int, default=10_000, show_default=True, help="ConfigMaps per cluster.")
@click.option("--concurrency", type=int, default=32, show_default=True, help="In-flight requests.")
@click.option("--duration", type=float, default=5.0, show_default=True, help="Seconds per measurement.")
@click.option("--https/--no-https", default=True, show_default=True)
@click.option("--watchers", type=int, default=4, show_default=True, help="Watchers per cluster.")
@click.option(
    "--deployments", type=int, default=100, show_default=True, help="Deployments per cluster (0: none)."
)
@click.option("--replicas", type=int, default=4, show_default=True, help="Replicas per Deployment.")
@click.option(
    "--pods/--no-pods",
    default=True,
    show_default=True,
    help="The simulator materialises ReplicaSets and Pods.",
)
def bench_kube(
    clusters: int,
    objects: int,
    concurrency: int,
    duration: float,
    https: bool,
    watchers: int,
    deployments: int,
    replicas: int,
    pods: bool,
) -> None:
    """Benchmark the Kubernetes simulator (prints numbers, asserts nothing)."""
    asyncio.run(
        _bench(clusters, objects, concurrency, duration, https, watchers, deployments, replicas, pods)
    )
