"""The composition root: a running controller process built from :class:`~federation.config.Settings`.

``fedctl run``, ``fedctl sandbox`` and the benchmarks all build their process here, so they run the
same wiring: the store (``database_url``; SQLite migrated on start), the DNS side (``dns_provider``:
the embedded server on ``dns_listen``, or alidns) whose publisher becomes the controller's last step,
the controller itself, and the dashboard (``federation.web``, on ``web_listen``). The slots for
services (the web server, the health sweep scheduler) take anything with ``start()``/``stop()`` and
are started after the controller's parts and stopped before them.

No click here: a setting that cannot be used raises :class:`SetupError` naming it (one line, never a
secret); the CLI turns that into its error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from federation.clusters.host import HostConfigError, host_client
from federation.clusters.kubeapi import KubeApi
from federation.config import Settings
from federation.controller.manager import Controller, ControllerConfig
from federation.controller.steps import ReconcileStep
from federation.health.source import RegionHealthSource

if TYPE_CHECKING:
    from federation.cloud.alibaba.client import AlibabaClient
    from federation.cloud.alibaba.slb import SlbApi
    from federation.dns.runtime import DnsRuntime
    from federation.health.sweeps import HealthConfig
    from federation.store.db import Database

log = logging.getLogger(__name__)


class SetupError(Exception):
    """The process cannot be built from these settings; the message names the setting."""


class Service(Protocol):
    """A part of the process with its own lifetime (the web server, the health sweep scheduler)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def open_store(settings: Settings) -> Database:
    """The store at ``database_url``, its schema brought to head (SQLite, a single node) or checked
    (PostgreSQL, where migrations are a deploy step: ``fedctl db upgrade``)."""
    from federation.store import migrate
    from federation.store.db import Database

    db = Database.from_settings(settings)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of ours instead of its narration
    try:
        revision = await asyncio.to_thread(migrate.ensure_current, db.url, upgrade_if_behind=db.is_sqlite)
    except BaseException:
        await db.aclose()
        raise
    log.info("store: %s at schema revision %s", db.display_url, revision)
    return db


async def start_dns_side(settings: Settings, *, zones: Sequence[str] = ()) -> tuple[Database, DnsRuntime]:
    """(store, DnsRuntime): what publishes the apps' DNS. A configuration problem is a :class:`SetupError`
    (one line: never a traceback, never a secret)."""
    from federation.dns.runtime import start_dns
    from federation.store.db import mask_url

    try:
        db = await open_store(settings)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SetupError(f"store {mask_url(settings.database_url)}: {first}") from None
    try:
        rt = await start_dns(settings, db, zones=tuple(zones))
    except (ValueError, OSError) as exc:
        await db.aclose()
        raise SetupError(f"dns ({settings.dns_provider}): {exc}") from None
    if rt.address is not None:
        log.info("dns: embedded server answering on %s:%d (udp+tcp)", *rt.address)
    else:
        log.info(
            "dns: publishing to alidns%s",
            f" at {settings.alibaba_endpoint}" if settings.alibaba_endpoint else "",
        )
    return db, rt


@dataclass
class Runtime:
    """One controller process: the controller and what it publishes through, started and stopped in
    order. ``await rt.run()`` runs until cancelled (or the controller fails); ``await rt.close()``
    releases everything, including the host client it was given."""

    settings: Settings
    controller: Controller
    store: Database | None = None
    dns: DnsRuntime | None = None
    web: Service | None = None  # the dashboard / JSON API / metrics server, when it exists
    health_scheduler: Service | None = None  # the health sweeps, when they exist
    network: Service | None = None  # the CEN check, when Alibaba credentials are configured
    slb_client: AlibabaClient | None = None  # the regional SLB step's client, when it runs
    close_host: bool = True
    _started: list[Service] = field(default_factory=list)

    async def run(self) -> None:
        for service in (self.health_scheduler, self.network, self.web):
            if service is not None:
                await service.start()
                self._started.append(service)
        await self.controller.run()

    async def close(self) -> None:
        while self._started:
            with contextlib.suppress(Exception):
                await self._started.pop().stop()
        if self.close_host:
            await self.controller.host_raw.close()
        if self.slb_client is not None:
            await self.slb_client.close()
            self.slb_client = None
        if self.dns is not None:
            await self.dns.close()
            self.dns = None
        if self.store is not None:
            await self.store.aclose()
            self.store = None


def build_controller(
    host: KubeApi,
    config: ControllerConfig,
    *,
    dns: DnsRuntime | None = None,
    steps: Sequence[ReconcileStep] = (),
    health: Sequence[RegionHealthSource] = (),
    slb: SlbApi | None = None,
    store: Database | None = None,
    sweeps: HealthConfig | None = None,
) -> Controller:
    """The controller over ``host``, publishing through ``dns`` when given (its DNS step runs last;
    its embedded server hands over between serving the store and serving what this replica
    publishes as the controller gains and loses the lead); with ``slb`` it runs the regional SLB step
    before DNS (inventory and health samples in ``store``). Every cloud write of either passes the
    leader's write gate, as Kubernetes writes do. ``sweeps`` runs the health sweeps (their samples
    and transitions in ``store``, the SLB backend signal through ``slb``); their scheduler starts and
    stops with the Lease inside the controller, so it does not use the ``health_scheduler`` slot."""
    controller = Controller(
        host,
        config,
        steps=steps,
        dns=dns.publisher if dns is not None else None,
        health=health,
        on_leading=dns.leading if dns is not None and not config.shards else None,
        slb=slb,
        store=store,
        sweeps=sweeps,
    )
    if dns is not None:
        dns.gate_writes(controller.app_gate)
        if config.shards and dns.follower is not None:
            # every replica publishes its shards' apps and serves the others' from the store
            dns.follower.keep = controller.owns_app
            # and checks a claim against the store, not its own view, which lags it by a poll
            dns.follower.provider.fresh = dns.follower.store.published_names
    if slb is not None:
        slb.client.write_gate = controller.app_gate
    return controller


def health_config(settings: Settings) -> HealthConfig:
    """The sweeps' configuration from the settings (everything else: the documented defaults)."""
    from federation.health.sweeps import HealthConfig

    return HealthConfig(
        probe_networks=tuple(settings.health_probe_networks),
        latency_source=settings.health_latency_source,
        retention_days=settings.sample_retention_days,
    )


def slb_client(settings: Settings) -> AlibabaClient:
    """The SLB step's Alibaba client from the ``alibaba_*`` settings (a missing one: :class:`SetupError`)."""
    from federation.cloud.alibaba.client import AlibabaClient

    try:
        return AlibabaClient.from_settings(settings)
    except ValueError as exc:
        raise SetupError(f"slb: {exc}") from None


async def build(
    settings: Settings,
    config: ControllerConfig,
    *,
    host: KubeApi | None = None,
    kubeconfig: Path | None = None,
    context: str | None = None,
    with_dns: bool = True,
    zones: Sequence[str] = (),
    steps: Sequence[ReconcileStep] = (),
    health: Sequence[RegionHealthSource] = (),
    with_slb: bool | None = None,
    web: bool = False,
    sweeps: bool = False,
) -> Runtime:
    """Everything ``fedctl run`` runs: the store and DNS side (``with_dns``), the host client (``host``,
    else from ``kubeconfig``/``context``/settings) and the controller, with the regional SLB step when
    ``with_slb`` (default: when an Alibaba AccessKey is configured), with ``web`` the dashboard on
    ``web_listen``, and the health sweeps when ``sweeps`` (they keep their history in the store,
    opened for them without DNS too). Raises :class:`SetupError`."""
    from federation.cloud.alibaba.slb import SlbApi

    if with_slb is None:
        with_slb = bool(settings.alibaba_access_key_id)
    client = slb_client(settings) if with_slb else None
    db = dns = None
    if with_dns:
        try:
            db, dns = await start_dns_side(settings, zones=zones)
        except BaseException:
            if client is not None:
                await client.close()
            raise
    elif sweeps:
        from federation.store.db import mask_url

        try:
            db = await open_store(settings)
        except Exception as exc:
            if client is not None:
                await client.close()
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SetupError(f"store {mask_url(settings.database_url)}: {first}") from None
    try:
        if host is None:
            host = await host_client(
                kubeconfig or settings.kubeconfig,
                context or settings.kube_context,
                name="controller-host",
                qps=settings.kube_qps,
                burst=settings.kube_burst,
            )
    except BaseException as exc:
        if dns is not None:
            await dns.close()
        if db is not None:
            await db.aclose()
        if client is not None:
            await client.close()
        if isinstance(exc, HostConfigError):
            raise SetupError(str(exc)) from None
        raise
    slb = SlbApi(client) if client is not None else None
    controller = build_controller(
        host,
        config,
        dns=dns,
        steps=steps,
        health=health,
        slb=slb,
        store=db,
        sweeps=health_config(settings) if sweeps else None,
    )
    rt = Runtime(settings, controller, store=db, dns=dns, slb_client=client)
    if web:
        from federation.web.server import WebService

        rt.web = WebService(settings, host, db=db, controller=controller, dns_runtime=dns)
    if client is not None:
        # the fleet's CEN, checked by the leader with the same client (reads only)
        from federation.cloud.alibaba.cen import CenApi

        rt.network = controller.check_network(CenApi(client), settings.network_check_interval)
    return rt
