"""`fedctl sim kube`: run simulated Kubernetes clusters until interrupted, and flip faults on a running
simulator (`fedctl sim kube fault ...`) through its admin endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import click

from federation import gctune

SIM_JSON = "sim.json"


def _parse_cluster(spec: str) -> tuple[str, str]:
    name, _, region = spec.partition("=")
    if not name:
        raise click.BadParameter(f"{spec!r}: expected NAME or NAME=REGION", param_hint="--cluster")
    return name, region or name


@click.group(invoke_without_command=True)
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    metavar="NAME[=REGION]",
    help="A cluster to simulate (repeatable). REGION defaults to NAME.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for NAME.kubeconfig files and sim.json (admin address and token).",
)
@click.option(
    "--rollout-delay",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds until a Deployment reports its replicas ready.",
)
@click.option(
    "--progress-deadline",
    type=float,
    default=None,
    help="Seconds until a failing Deployment reports ProgressDeadlineExceeded "
    "(default 3x rollout delay, at least 1 s).",
)
@click.option(
    "--history",
    type=int,
    default=10_000,
    show_default=True,
    help="Watch events kept per cluster; a watch from an older resourceVersion gets 410 Gone.",
)
@click.option("--nodes", type=int, default=3, show_default=True, help="Nodes per cluster.")
@click.option("--https/--no-https", default=True, show_default=True, help="Serve HTTPS with a generated CA.")
@click.option(
    "--node-ports/--no-node-ports",
    default=False,
    show_default=True,
    help="Each node serves its NodePorts on its own loopback address (annotation "
    "sandbox.federation.io/address) while the Service has ready endpoints.",
)
@click.option(
    "--pods/--no-pods",
    default=True,
    show_default=True,
    help="Deployments roll out through ReplicaSets and Pods (off: Deployments report ready replicas "
    "without them; a benchmark of thousands of apps measures the controller, not the Pods).",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Restore from this snapshot if it exists; save to it on exit.",
)
@click.pass_context
def kube(
    ctx: click.Context,
    clusters: tuple[str, ...],
    out_dir: Path | None,
    rollout_delay: float,
    progress_deadline: float | None,
    history: int,
    nodes: int,
    https: bool,
    node_ports: bool,
    pods: bool,
    state_file: Path | None,
) -> None:
    """Run simulated Kubernetes clusters, each on its own loopback port, until SIGINT/SIGTERM."""
    if ctx.invoked_subcommand is not None:
        return
    if out_dir is None:
        raise click.UsageError("--out is required")
    if not clusters and not (state_file and state_file.exists()):
        raise click.UsageError("give at least one --cluster (or a --state file to restore)")
    specs = [_parse_cluster(c) for c in clusters]
    out_dir.mkdir(parents=True, exist_ok=True)
    restore_from = state_file if state_file is not None and state_file.exists() else None
    settings = ctx.find_root().obj  # fedctl's settings (None when called on its own)
    gctune.tune(settings.gc_threshold if settings is not None else gctune.DEFAULT_THRESHOLD)
    asyncio.run(
        _serve(
            specs,
            out_dir,
            rollout_delay,
            progress_deadline,
            history,
            nodes,
            https,
            state_file,
            restore_from,
            node_ports=node_ports,
            pods=pods,
        )
    )


async def _serve(
    specs: list[tuple[str, str]],
    out_dir: Path,
    rollout_delay: float,
    progress_deadline: float | None,
    history: int,
    nodes: int,
    https: bool,
    state_file: Path | None,
    restore_from: Path | None,
    *,
    node_ports: bool = False,
    pods: bool = True,
) -> None:
    from federation.sandbox.kube.admin import AdminServer
    from federation.sandbox.kube.simulator import KubeSimulator

    sim = KubeSimulator(
        rollout_delay,
        https=https,
        progress_deadline=progress_deadline,
        history_size=history,
        node_ports=node_ports,
        pods=pods,
    )
    if restore_from is not None:
        await sim.restore(restore_from)
    for name, region in specs:
        if name not in sim.clusters:
            await sim.add_cluster(name, region=region, nodes=nodes)
    admin = AdminServer(sim)
    await admin.start()
    paths = sim.write_kubeconfigs(out_dir)
    info = {
        "admin": {"url": admin.url, "token": admin.token},
        "pid": os.getpid(),
        "clusters": {
            n: {"url": c.url, "region": c.region, "kubeconfig": str(paths[n])}
            for n, c in sim.clusters.items()
        },
    }
    sim_json = out_dir / SIM_JSON
    fd = os.open(sim_json, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    listing = " ".join(f"{n}={c.url}" for n, c in sim.clusters.items())
    click.echo(f"kube simulator ready: {listing} (kubeconfigs and {SIM_JSON} in {out_dir})", err=False)
    try:
        await stop.wait()
    finally:
        if state_file is not None:
            sim.save(state_file)
        await admin.stop()
        await sim.stop()


@kube.command("fault")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The --out directory of the running simulator.",
)
@click.option("--cluster", required=True, help="Cluster name.")
@click.option("--delay", type=float, default=None, help="Added latency in seconds (slow).")
@click.option("--rate", type=float, default=None, help="Fraction of requests that fail (error), 0..1.")
@click.option(
    "--status", type=click.Choice(["500", "429", "503"]), default=None, help="Status of failed requests."
)
@click.option("--retry-after", type=click.IntRange(min=0), default=None, help="Retry-After of 429/503 (s).")
@click.option(
    "--methods", default=None, help="Only these HTTP methods, comma-separated (GET for reads; POST,PUT,...)."
)
@click.option("--times", type=click.IntRange(min=1), default=None, help="Only the next N matching requests.")
@click.option(
    "--throttle",
    type=click.FloatRange(0, 1),
    default=None,
    help="error: also answer this fraction 429 (+Retry-After), besides --rate at --status.",
)
@click.argument(
    "mode",
    type=click.Choice(
        [
            "down",
            "hang",
            "slow",
            "error",
            "clear",
            "node-notready",
            "node-ready",
            "deployment-fail",
            "deployment-heal",
            "lb-on",
            "lb-off",
        ]
    ),
)
@click.argument("node", required=False, metavar="[NODE | NAMESPACE/DEPLOYMENT]")
def fault(
    out_dir: Path,
    cluster: str,
    delay: float | None,
    rate: float | None,
    status: str | None,
    retry_after: int | None,
    methods: str | None,
    times: int | None,
    throttle: float | None,
    mode: str,
    node: str | None,
) -> None:
    """Switch a fault on a running simulator.

    MODE is down|hang|slow|error|clear (the API), node-notready|node-ready NODE,
    deployment-fail|deployment-heal NAMESPACE/NAME (crash-looping replicas), or lb-on|lb-off (the cloud
    controller that gives LoadBalancer Services an ingress address).
    """
    url, token = _admin(out_dir)
    body: dict[str, Any]
    if mode in ("node-notready", "node-ready"):
        if not node:
            raise click.UsageError(f"{mode} needs the NODE name")
        path = f"/clusters/{cluster}/nodes/{node}/ready"
        body = {"ready": mode == "node-ready"}
    elif mode in ("deployment-fail", "deployment-heal"):
        ns, _, name = (node or "").rpartition("/")
        if not name:
            raise click.UsageError(f"{mode} needs NAMESPACE/NAME of the Deployment")
        path = f"/clusters/{cluster}/deployments/{ns or 'default'}/{name}/fail"
        body = {"failing": mode == "deployment-fail"}
    elif mode in ("lb-on", "lb-off"):
        path = f"/clusters/{cluster}/cloud-controller"
        body = {"enabled": mode == "lb-on"}
    else:
        path = f"/clusters/{cluster}/faults"
        body = {
            "mode": mode,
            "delay": delay,
            "rate": rate,
            "status": int(status) if status else None,
            "retry_after": retry_after,
            "methods": [m.strip() for m in methods.split(",") if m.strip()] if methods else None,
            "times": times,
            "throttle": throttle,
        }
    try:
        result = asyncio.run(_post(url + path, token, body))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise click.ClickException(
            f"no simulator answers at {url} (from {out_dir / SIM_JSON}): {exc or type(exc).__name__}"
        ) from None
    click.echo(json.dumps(result))


def _admin(out_dir: Path) -> tuple[str, str]:
    """The admin address and token a running simulator wrote, or one plain sentence why not."""
    path = out_dir / SIM_JSON
    try:
        info = json.loads(path.read_text())
        return str(info["admin"]["url"]), str(info["admin"]["token"])
    except FileNotFoundError:
        raise click.ClickException(
            f"no simulator is running with --out {out_dir} ({path} does not exist); "
            f"start one with: fedctl sim kube --out {out_dir}"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{path} is not a running simulator's file ({exc})") from None


async def _post(url: str, token: str, body: dict[str, Any]) -> Any:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s,
        s.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        text = await r.text()
        try:
            data = json.loads(text)
        except ValueError:
            data = {"message": text}
        if r.status >= 400:
            message = data.get("message", str(data)) if isinstance(data, dict) else str(data)
            raise click.ClickException(f"the simulator refused: {message}")
        return data
