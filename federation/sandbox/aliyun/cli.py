"""``fedctl sim aliyun``: run the Alibaba Cloud API emulator; flip faults / backend health on a running one.

``fedctl sim aliyun --listen 127.0.0.1:0 --out DIR`` writes ``DIR/aliyun.json`` (endpoint, a usable
AccessKey pair, DNS address, domains, admin URL and token; mode 0600 because it holds a secret), prints
one ``ready`` line and runs until SIGINT/SIGTERM. The sub-commands talk to that emulator's admin API,
found through the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import click

from federation.sandbox.aliyun.alidns import EDITIONS
from federation.sandbox.aliyun.emulator import ADMIN_HEADER, AliyunEmulator

CONFIG_NAME = "aliyun.json"


def _hostport(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT", param_hint=option)
    return host.strip("[]"), int(port)


@click.group(invoke_without_command=True)
@click.option(
    "--listen", default="127.0.0.1:0", show_default=True, help="API address HOST:PORT (0: any free port)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for aliyun.json (required to run).",
)
@click.option(
    "--domain", "domains", multiple=True, help="A domain hosted by alidns (repeatable; default example.com)."
)
@click.option(
    "--edition",
    type=click.Choice(sorted(EDITIONS)),
    default="enterprise_standard",
    show_default=True,
    help="alidns edition of the domains; sets the TTL minimum (free/personal 600, "
    "enterprise_standard 60, enterprise_ultimate 1).",
)
@click.option(
    "--dns-listen",
    default="127.0.0.1:0",
    show_default=True,
    help="DNS (UDP+TCP) address answering the alidns records.",
)
@click.option("--no-dns", is_flag=True, help="Do not serve DNS.")
@click.option(
    "--slb-quota",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="SLB instances allowed per region.",
)
@click.option(
    "--cen-delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds a CEN child stays Attaching/Detaching.",
)
@click.option(
    "--data-plane",
    is_flag=True,
    help="SLBs get loopback addresses that really answer, forwarding to their backends' loopback "
    "addresses (register them with `instance --address`); `state` lists the real ports.",
)
@click.pass_context
def aliyun(
    ctx: click.Context,
    listen: str,
    out_dir: Path | None,
    domains: tuple[str, ...],
    edition: str,
    dns_listen: str,
    no_dns: bool,
    slb_quota: int,
    cen_delay: float,
    data_plane: bool,
) -> None:
    """Run the Alibaba Cloud API emulator (alidns, SLB, CEN) until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    if out_dir is None:
        raise click.UsageError("--out is required to run the emulator")
    host, port = _hostport(listen, "--listen")
    dns_host, dns_port = _hostport(dns_listen, "--dns-listen")
    try:
        emu = AliyunEmulator(
            domains=list(domains) or ["example.com"],
            edition=edition,
            slb_quota_per_region=slb_quota,
            cen_transition_delay=cen_delay,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if data_plane:
        emu.attach_data_plane()
    try:
        asyncio.run(_serve(emu, host, port, dns_host, None if no_dns else dns_port, out_dir))
    except OSError as exc:  # address in use, permission denied, unwritable --out
        raise click.ClickException(
            f"cannot start the emulator (--listen {listen}, --dns-listen {dns_listen}, "
            f"--out {out_dir}): {exc}"
        ) from None


async def _serve(
    emu: AliyunEmulator, host: str, port: int, dns_host: str, dns_port: int | None, out_dir: Path
) -> None:
    await emu.start(host, port, dns_host=dns_host, dns_port=dns_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        doc: dict[str, Any] = {
            "endpoint": emu.endpoint,
            "access_key_id": emu.access_key_id,
            "access_key_secret": emu.access_key_secret,
            "dns": f"{emu.dns_address[0]}:{emu.dns_address[1]}" if emu.dns_address else None,
            "domains": sorted(emu.alidns.domains),
            "edition": emu.edition,
            "admin_url": emu.admin_url,
            "admin_token": emu.admin_token,
            "pid": os.getpid(),
        }
        path = _write_config(out_dir, doc)
        click.echo(f"aliyun emulator ready endpoint={emu.endpoint} dns={doc['dns']} config={path}", nl=True)
        await stop.wait()
    finally:
        await emu.stop()


def _write_config(out_dir: Path, doc: dict[str, Any]) -> Path:
    """Write aliyun.json atomically, readable by its owner only (it holds the AccessKey secret)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CONFIG_NAME
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
    tmp.replace(path)
    return path


def _admin(out_dir: Path) -> tuple[str, str]:
    path = out_dir / CONFIG_NAME
    try:
        doc = json.loads(path.read_text())
        return str(doc["admin_url"]), str(doc["admin_token"])
    except FileNotFoundError:
        raise click.ClickException(
            f"no emulator is running with --out {out_dir} ({path} does not exist); "
            f"start one with: fedctl sim aliyun --out {out_dir}"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{path}: not a running emulator's config ({exc})") from None


async def _request(
    method: str,
    url: str,
    token: str,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, url, json=body, params=params, headers={ADMIN_HEADER: token}) as resp,
    ):
        text = await resp.text()
        if resp.status >= 400:
            raise click.ClickException(f"emulator answered {resp.status}: {text}")
        return json.loads(text)


def _call(
    method: str,
    out_dir: Path,
    path: str,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    url, token = _admin(out_dir)
    try:
        return asyncio.run(_request(method, url + path, token, body, params))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise click.ClickException(
            f"no emulator answers at {url} (from {out_dir / CONFIG_NAME}): {exc or type(exc).__name__}"
        ) from None


_OUT = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The directory given to the running emulator.",
)


@aliyun.command("fault")
@_OUT
@click.option("--product", type=click.Choice(["alidns", "slb", "cbn", "*"]), default="*", show_default=True)
@click.option("--action", default="*", show_default=True, help="API action, e.g. CreateLoadBalancer.")
@click.option("--throttle", type=click.FloatRange(0, 1), default=None, help="Rate of throttling answers.")
@click.option(
    "--throttle-code",
    type=click.Choice(["Throttling.User", "Throttling", "Throttling.Api"]),
    default="Throttling.User",
    show_default=True,
)
@click.option("--error-rate", type=click.FloatRange(0, 1), default=None, help="Rate of 5xx answers.")
@click.option("--status", "error_status", type=click.Choice(["500", "503"]), default="500", show_default=True)
@click.option(
    "--reset",
    type=click.FloatRange(0, 1),
    default=None,
    help="Rate of connections dropped without an answer.",
)
@click.option(
    "--after", is_flag=True, help="5xx or reset after the action ran (the change is made, the answer lost)."
)
@click.option("--latency", type=click.FloatRange(min=0), default=None, help="Seconds added to each answer.")
@click.option("--hang", is_flag=True, help="Never answer until cleared.")
@click.option("--times", type=click.IntRange(min=1), default=None, help="Only the next N matching calls.")
@click.option(
    "--clear", is_flag=True, help="Remove the rule for --product/--action (all rules if both are *)."
)
def fault(
    out_dir: Path,
    product: str,
    action: str,
    throttle: float | None,
    throttle_code: str,
    error_rate: float | None,
    error_status: str,
    reset: float | None,
    after: bool,
    latency: float | None,
    hang: bool,
    times: int | None,
    clear: bool,
) -> None:
    """Set or clear a fault on a running emulator."""
    if clear:
        params = {} if product == "*" and action == "*" else {"product": product, "action": action}
        click.echo(json.dumps(_call("DELETE", out_dir, "/faults", params=params)))
        return
    if throttle is None and error_rate is None and reset is None and latency is None and not hang:
        raise click.UsageError("give one of --throttle, --error-rate, --reset, --latency, --hang or --clear")
    body: dict[str, Any] = {
        "product": product,
        "action": action,
        "throttle": throttle or 0.0,
        "throttle_code": throttle_code,
        "error_rate": error_rate or 0.0,
        "error_status": int(error_status),
        "reset": reset or 0.0,
        "after": after,
        "latency": latency or 0.0,
        "hang": hang,
        "times": times,
    }
    click.echo(json.dumps(_call("POST", out_dir, "/faults", body)))


@aliyun.command("backend-health")
@_OUT
@click.option("--lb-id", required=True, help="LoadBalancerId.")
@click.option("--server-id", required=True, help="Backend ServerId (ECS instance id).")
@click.option("--status", type=click.Choice(["normal", "abnormal"]), required=True)
def backend_health(out_dir: Path, lb_id: str, server_id: str, status: str) -> None:
    """Set what DescribeHealthStatus reports for one backend server."""
    _call("POST", out_dir, "/backend-health", {"lb_id": lb_id, "server_id": server_id, "status": status})
    click.echo(f"{lb_id}/{server_id}: {status}")


@aliyun.command("instance")
@_OUT
@click.option("--region", required=True, help="Region of the ECS instance.")
@click.option("--instance-id", required=True, help="ECS instance id (i-...).")
@click.option("--private-ip", default="", help="Its private IP (default: one from 192.168.0.0/16).")
@click.option("--address", default=None, help="Loopback address where it really answers (data plane).")
def instance(out_dir: Path, region: str, instance_id: str, private_ip: str, address: str | None) -> None:
    """Register an ECS instance, so that SLB accepts it as a backend server."""
    item = {"region": region, "instance_id": instance_id, "private_ip": private_ip, "address": address}
    _call("POST", out_dir, "/instances", {"instances": [item]})
    click.echo(f"{region}/{instance_id}: registered")


@aliyun.command("state")
@_OUT
@click.option("--calls", is_flag=True, help="Only the call counts per Product.Action.")
def state(out_dir: Path, calls: bool) -> None:
    """Print the running emulator's full state (or its call counts) as JSON."""
    with contextlib.suppress(BrokenPipeError):
        click.echo(json.dumps(_call("GET", out_dir, "/calls" if calls else "/state"), indent=2))


@aliyun.command("snapshot")
@_OUT
def snapshot(out_dir: Path) -> None:
    """Save the running emulator's state in memory; prints the snapshot id for `restore`."""
    click.echo(_call("POST", out_dir, "/snapshot", {})["id"])


@aliyun.command("restore")
@_OUT
@click.argument("snapshot_id")
def restore(out_dir: Path, snapshot_id: str) -> None:
    """Put the running emulator back to a snapshot taken with `snapshot`."""
    _call("POST", out_dir, "/restore", {"id": snapshot_id})
    click.echo(f"restored {snapshot_id}")
