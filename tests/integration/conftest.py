"""Fixtures of the integration tests: the whole sandbox in-process (simulated clusters, the Alibaba Cloud
emulator, the store, the DNS server, the controller) over real loopback sockets, for each DNS provider."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from federation.api import constants as c
from federation.controller.manager import ControllerConfig
from federation.controller.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.sandbox.wiring import SYSTEM_NAMESPACE, Sandbox
from tests.waiting import wait_for

APP, NAMESPACE, HOSTNAME = "web", "default", "www.example.com"


def fast_config() -> ControllerConfig:
    """Short leases and probe periods; the resync is forced by the tests that need one."""
    return ControllerConfig(
        namespace=SYSTEM_NAMESPACE,
        identity="it",
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.25,
        probe_interval=0.5,
        member_timeout=1.0,
        resync=30.0,
    )


def fedctl_run_command(sb: Sandbox, identity: str, lease_duration: float = 3) -> list[str]:
    """`fedctl run` against the sandbox's host cluster, as a process (short lease and probe period).
    Run it with ``FEDCTL_WEB_LISTEN=127.0.0.1:0`` so replicas and parallel runs never contend for a
    web port."""
    return [
        sys.executable,
        "-m",
        "federation.cli",
        "run",
        "--kubeconfig",
        str(sb.kubeconfigs["host"]),
        "--namespace",
        SYSTEM_NAMESPACE,
        "--identity",
        identity,
        "--lease-duration",
        str(lease_duration),
        "--probe-interval",
        "1",
    ]


async def stop_processes(procs: Iterable[asyncio.subprocess.Process], grace: float = 15) -> None:
    """SIGTERM each controller process still running, as Kubernetes stops a pod; SIGKILL after ``grace``."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class Running:
    """The sandbox and what a user would look at: the app's status, DNS answers, the store."""

    def __init__(self, sb: Sandbox, provider: str) -> None:
        self.sb = sb
        self.provider = provider

    @property
    def dns_address(self) -> tuple[str, int]:
        assert self.sb.dns_address is not None
        return self.sb.dns_address

    async def status(self) -> dict[str, Any]:
        assert self.sb.host is not None
        app = await self.sb.host.get(FEDERATEDAPPS, APP, NAMESPACE)
        return dict((app or {}).get("status") or {})

    async def regions(self) -> dict[str, dict[str, Any]]:
        return {r["region"]: r for r in (await self.status()).get("regions") or []}

    async def addresses(self) -> dict[str, str]:
        return {name: r["address"] for name, r in (await self.regions()).items() if r.get("address")}

    async def condition(self, ctype: str) -> str | None:
        for cd in (await self.status()).get("conditions") or []:
            if cd["type"] == ctype:
                return str(cd["status"])
        return None

    async def published(self) -> bool:
        """Ready, DNSPublished True, and every region has an address and is served."""
        regions = await self.regions()
        return (
            await self.condition(c.COND_READY) == "True"
            and await self.condition(c.COND_DNS_PUBLISHED) == "True"
            and len(regions) == len(self.sb.regions)
            and all(r.get("address") and r.get("servingDNS") for r in regions.values())
        )

    async def query(
        self,
        subnet: str | None,
        name: str = HOSTNAME,
        rtype: str = "A",
    ) -> tuple[str, set[str]]:
        """dnspython over UDP with EDNS Client Subnet: (rcode, answer values)."""
        options = [dns.edns.ECSOption.from_text(subnet)] if subnet else []
        q = dns.message.make_query(name, rtype, use_edns=0, options=options)
        host, port = self.dns_address
        msg = await dns.asyncquery.udp(q, host, port=port, timeout=3)
        values = {rd.to_text() for rrset in msg.answer for rd in rrset}
        return dns.rcode.to_text(msg.rcode()), values

    async def dig(self, subnet: str) -> set[str]:
        """The real dig with +subnet (what the sandbox's hints print)."""
        host, port = self.dns_address
        proc = await asyncio.create_subprocess_exec(
            "dig",
            f"@{host}",
            "-p",
            str(port),
            HOSTNAME,
            "A",
            f"+subnet={subnet}",
            "+short",
            "+time=3",
            "+tries=1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return {line.strip() for line in out.decode().splitlines() if line.strip()}

    async def set_drained(self, cluster: str, drained: bool) -> None:
        assert self.sb.host is not None
        value = c.HEALTH_OVERRIDE_UNHEALTHY if drained else None
        await self.sb.host.merge_patch(
            MEMBERCLUSTERS, cluster, {"metadata": {"annotations": {c.ANNOTATION_REGION_HEALTH: value}}}
        )

    async def change_reasons(self) -> list[str]:
        from federation.store.dnslog import list_dns_changes

        assert self.sb.db is not None
        rows = await self.sb.db.run(list_dns_changes, app=f"{NAMESPACE}/{APP}", limit=10000)
        return [r.reason for r in rows]


@pytest.fixture(params=["alidns", "embedded"])
async def running(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    sb = Sandbox(tmp_path, rollout_delay=0.1, dns_provider=request.param, controller_config=fast_config())
    await sb.start()
    try:
        run = Running(sb, request.param)
        await wait_for(run.published, 20, "the example app Ready with its DNS published")
        yield run
    finally:
        await sb.stop()
