"""`fedctl dashboard`: the dashboard, JSON API and /metrics against a store and a host cluster, without a
controller (an operator's laptop next to a running federation)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)


async def _serve(settings: Any, kubeconfig: Path | None, context: str | None, listen: str | None) -> None:
    from federation.clusters.host import HostConfigError, host_client
    from federation.store.db import DatabaseURLError, open_existing
    from federation.web.server import serve_dashboard

    db = None
    try:
        db = open_existing(settings.database_url)
    except DatabaseURLError as exc:
        log.warning("dashboard: %s; DNS records, the change log and health history are not shown", exc)
    try:
        host = await host_client(kubeconfig, context, name="dashboard-host")
    except HostConfigError as exc:
        if db is not None:
            await db.aclose()
        raise click.UsageError(str(exc)) from None
    try:
        try:
            dash = await serve_dashboard(settings, host, listen=listen, db=db)
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"dashboard: {exc}") from None
        click.echo(f"dashboard: {dash.url}  (JSON API {dash.url}api/v1/, metrics {dash.url}metrics)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await dash.close()
    finally:
        await host.close()
        if db is not None:
            await db.aclose()


@click.command("dashboard")
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Host cluster kubeconfig (default: FEDCTL_KUBECONFIG, in-cluster config, ~/.kube/config).",
)
@click.option("--context", default=None, help="kubeconfig context.")
@click.option("--listen", default=None, help="HOST:PORT to serve on (default: web_listen, 127.0.0.1:8080).")
@click.pass_obj
def dashboard(settings: Any, kubeconfig: Path | None, context: str | None, listen: str | None) -> None:
    """Serve the dashboard, JSON API and /metrics from the store and the host cluster (read-only)."""
    asyncio.run(_serve(settings, kubeconfig or settings.kubeconfig, context or settings.kube_context, listen))
