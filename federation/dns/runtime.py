"""Building the DNS side of a running controller from the settings: provider, server, publisher.

``await start_dns(settings, db)`` returns a :class:`DnsRuntime` whose ``publisher`` the controller
hands to its DNS step. With ``dns_provider: embedded`` (the default) it also starts the embedded
authoritative server on ``dns_listen`` (port 0 picks a free one; ``runtime.address`` tells which);
with ``alidns`` it talks to Alibaba Cloud (``alibaba_endpoint`` points it at the emulator).

Embedded with a store, every replica answers: the server serves the published records from the store
(:mod:`federation.dns.replica`) until the controller calls ``runtime.leading(True)``, and again after
``leading(False)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from federation.cpus import CGROUP_ROOT, detect_usable_cpus
from federation.dns.latency import LatencyMatrix, load_config
from federation.dns.lines import LineClassifier, default_catalogue
from federation.dns.publisher import DnsPublisher
from federation.dns.server import DnsServer
from federation.dns.store import DnsStore

if TYPE_CHECKING:
    from federation.dns.replica import StoreFollower
    from federation.dns.workers import WorkerPool
    from federation.store.db import Database

log = logging.getLogger(__name__)

# dns_workers: auto starts at most this many: each holds a copy of every published zone, and a pod
# without a CPU limit on a big node would otherwise start one per core of the node
AUTO_WORKERS_MAX = 8


@dataclass
class DnsRuntime:
    publisher: DnsPublisher
    server: DnsServer | None = None
    address: tuple[str, int] | None = None  # where the embedded server listens (UDP and TCP)
    follower: StoreFollower | None = None  # embedded with a store: serves what the leader published
    workers: WorkerPool | None = None  # processes answering UDP beside the server (dns_workers)
    cloud: Any | None = None  # the AlibabaClient alidns writes go through (alidns only)
    _closers: list[Any] = field(default_factory=list)

    _gates: list[Callable[[], bool]] = field(default_factory=list)

    def gate_writes(self, gate: Callable[[], bool]) -> None:
        """Pass every cloud write through ``gate`` (the leader's ``may_write``): a replica that is not
        sure it leads publishes nothing. Controllers sharing this runtime (the sandbox starts a standby
        beside the leader in one process) each add theirs; a write passes while any of them leads."""
        self._gates.append(gate)
        if self.cloud is not None:
            gates = self._gates
            self.cloud.write_gate = gates[0] if len(gates) == 1 else lambda: any(g() for g in gates)

    async def leading(self, leader: bool) -> None:
        """The controller's leadership changed: the leader serves what it publishes, every other
        replica what the store says was published."""
        if self.follower is None:
            return
        if leader:
            await self.follower.lead()
            self.publisher.forget_owners()
        else:
            self.follower.follow()

    async def close(self) -> None:
        if self.follower is not None:
            await self.follower.stop()
        if self.workers is not None:
            await self.workers.stop()
        if self.server is not None:
            await self.server.stop()
        for closer in self._closers:
            await closer()


def latency_from_settings(settings: Any) -> LatencyMatrix:
    cat = default_catalogue()
    path = getattr(settings, "dns_latency", None)
    if path is None:
        return LatencyMatrix(cat)
    lines, regions = load_config(Path(path))
    return LatencyMatrix(cat, configured_lines=lines, configured_regions=regions)


def _hostport(value: str) -> tuple[str, int]:
    host, _sep, port = value.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"dns_listen: expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def auto_workers(cpus: int, why: str, cap: int = AUTO_WORKERS_MAX) -> tuple[int, str]:
    """``dns_workers: auto``: (extra processes, why) for ``cpus`` usable CPUs (``why``: what bounds
    them): one process per CPU, the server being one of them, so ``cpus - 1``, none below 0 and at
    most ``cap``."""
    reason = f"{cpus} CPU{'' if cpus == 1 else 's'}: {why}"
    if cpus - 1 > cap:
        return cap, f"{reason}; auto starts at most {cap}"
    return max(cpus - 1, 0), reason


def dns_workers_for(setting: int | str, cgroup_root: Path = CGROUP_ROOT) -> tuple[int, str]:
    """(extra processes, why) for the ``dns_workers`` setting: a number as it is, ``auto`` from the
    CPUs this process may use (its affinity and the cgroup quota under ``cgroup_root``)."""
    if setting == "auto":
        return auto_workers(*detect_usable_cpus(cgroup_root))
    return int(setting), f"dns_workers: {setting}"


def describe_workers(n: int) -> str:
    if n == 0:
        return "no extra worker process"
    return f"{n} extra worker process{'' if n == 1 else 'es'}"


async def start_dns(
    settings: Any,
    db: Database | None = None,
    *,
    zones: tuple[str, ...] = (),
    cgroup_root: Path = CGROUP_ROOT,
) -> DnsRuntime:
    """The configured provider and publisher (and the embedded server, started); with ``db`` the
    publisher keeps its change log and reads live latency samples there. ``cgroup_root`` is where
    ``dns_workers: auto`` reads the CPU quota (tests hand it a fake tree)."""
    latency = latency_from_settings(settings)
    store: DnsStore | None = None
    if db is not None:
        from federation.store.dnsstore import DatabaseDnsStore

        store = DatabaseDnsStore(db)
    if settings.dns_provider == "alidns":
        from federation.cloud.alibaba.alidns import AlidnsApi
        from federation.cloud.alibaba.client import AlibabaClient
        from federation.cloud.alibaba.retry import RetryPolicy
        from federation.dns.providers.alidns import AlidnsProvider

        if not settings.alibaba_access_key_id or settings.alibaba_access_key_secret is None:
            raise ValueError(
                "dns_provider alidns: alibaba_access_key_id and alibaba_access_key_secret are required"
            )
        secret = settings.alibaba_access_key_secret.get_secret_value()
        # In the controller a failed call fails the reconcile and the work queue (per-app backoff, an
        # overall bucket) and the publisher's pause after a refusal are the long-term retry layers: the
        # client repeats a call only briefly, and not at all while alidns keeps refusing (single_shot).
        client = AlibabaClient(
            settings.alibaba_access_key_id,
            secret,
            "cn-hangzhou",
            endpoint=settings.alibaba_endpoint,
            max_workers=settings.alibaba_max_workers,
            retry=RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=1.0, max_elapsed=3.0),
        )
        provider = AlidnsProvider(AlidnsApi(client), zones=list(zones))
        return DnsRuntime(
            DnsPublisher(provider, latency=latency, store=store), cloud=client, _closers=[client.close]
        )
    from federation.dns.providers.embedded import EmbeddedProvider

    cidrs = getattr(settings, "dns_cidrs", None)
    server = DnsServer(LineClassifier.default(overlay_file=cidrs))
    n_workers, why = dns_workers_for(getattr(settings, "dns_workers", 0) or 0, cgroup_root)
    log.info("dns: %s (%s)", describe_workers(n_workers), why)
    workers = None
    if n_workers:
        from federation.dns.workers import WorkerPool

        workers = WorkerPool(server, n_workers, cidrs=cidrs)  # mirrors every zone change from here on
    provider_e = EmbeddedProvider(server, zones=list(zones))
    follower = None
    if store is not None:
        from federation.dns.replica import StoreFollower

        follower = StoreFollower(provider_e, store)  # SERVFAIL until the first load
    host, port = _hostport(settings.dns_listen)
    address = await server.start(host, port)  # workers read its UDP socket too (share_udp)
    if workers is not None:
        try:
            await workers.start(*address)
        except OSError:
            await server.stop()
            raise
    if follower is not None:
        follower.start()
    return DnsRuntime(
        DnsPublisher(provider_e, latency=latency, store=store), server, address, follower, workers=workers
    )
