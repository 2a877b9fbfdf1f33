"""Two `fedctl run` processes over one store, each with its own embedded DNS server, behind one list of
addresses: the leader is killed with SIGKILL while a client keeps asking, and no query fails.

The client behaves as a resolver with two NS records does: it alternates between the two servers and,
when the one it asked does not answer (timeout) or answers SERVFAIL/REFUSED, asks the other. A query
fails when neither gives the right, non-empty answer."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.asyncquery
import dns.edns
import dns.exception
import dns.message
import dns.rcode
import pytest

from federation.clusters.kubeapi import LEASES
from federation.sandbox.wiring import SYSTEM_NAMESPACE, Sandbox
from federation.store import migrate
from federation.store.db import Database
from federation.store.dnslog import list_dns_changes
from tests.conftest import postgres_database, postgres_dsn
from tests.integration.conftest import HOSTNAME, Running, fedctl_run_command, stop_processes
from tests.waiting import wait_for

LEASE = "fedctl-controller"
# (ECS subnet or None, the regions whose addresses are the right answer)
QUESTIONS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    ("85.214.0.0/24", ("eu-central-1",)),
    ("123.125.0.0/24", ("cn-beijing",)),
    (None, ("cn-hangzhou", "cn-beijing", "eu-central-1")),
)


@dataclass
class Replica:
    identity: str
    proc: asyncio.subprocess.Process
    log: Path
    address: tuple[str, int] | None = None


@dataclass
class Tally:
    queries: int = 0
    failed: list[str] = field(default_factory=list)
    fallbacks: int = 0  # the first server asked did not answer; the other did
    by_server: dict[str, dict[str, int]] = field(default_factory=dict)

    def note(self, identity: str, outcome: str) -> None:
        counts = self.by_server.setdefault(identity, {})
        counts[outcome] = counts.get(outcome, 0) + 1


async def _start(sb: Sandbox, url: str, identity: str, tmp: Path) -> Replica:
    log = tmp / f"{identity}.log"
    env = {
        **os.environ,
        "FEDCTL_DATABASE_URL": url,
        "FEDCTL_DNS_PROVIDER": "embedded",
        "FEDCTL_DNS_LISTEN": "127.0.0.1:0",
        "FEDCTL_WEB_LISTEN": "127.0.0.1:0",
    }
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *fedctl_run_command(sb, identity, lease_duration=2),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=out,
            env=env,
        )
    replica = Replica(identity, proc, log)

    async def listening() -> tuple[str, int] | None:
        assert proc.returncode is None, log.read_text()[-2000:]
        m = re.search(r"dns: embedded server answering on ([\d.]+):(\d+)", log.read_text())
        return (m.group(1), int(m.group(2))) if m else None

    replica.address = await wait_for(listening, 30, f"{identity}'s DNS server listening")
    return replica


async def _ask(address: tuple[str, int], subnet: str | None, wait: float) -> tuple[str, set[str]]:
    options = [dns.edns.ECSOption.from_text(subnet)] if subnet else []
    q = dns.message.make_query(HOSTNAME, "A", use_edns=0, options=options)
    try:
        msg = await dns.asyncquery.udp(q, address[0], port=address[1], timeout=wait)
    except (dns.exception.Timeout, OSError):
        return "TIMEOUT", set()
    return dns.rcode.to_text(msg.rcode()), {rd.to_text() for rrset in msg.answer for rd in rrset}


async def _client(
    replicas: list[Replica], expected: dict[str | None, set[str]], tally: Tally, stop: asyncio.Event
) -> None:
    i = 0
    while not stop.is_set():
        subnet = QUESTIONS[i % len(QUESTIONS)][0]
        order = [replicas[i % 2], replicas[(i + 1) % 2]]
        i += 1
        tally.queries += 1
        for n, r in enumerate(order):
            assert r.address is not None
            rcode, values = await _ask(r.address, subnet, wait=0.4)
            right = rcode == "NOERROR" and values == expected[subnet]
            tally.note(r.identity, "ok" if right else rcode if rcode != "NOERROR" else "wrong")
            if right:
                tally.fallbacks += n
                break
            if rcode == "NOERROR":  # a wrong answer is not retried by a resolver: it is a failure
                tally.failed.append(f"{r.identity}: {subnet}: {sorted(values)}")
                break
        else:
            tally.failed.append(f"both: {subnet}")
        await asyncio.sleep(0.01)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The replicas' shared store: a SQLite file, or a PostgreSQL database (production's), migrated as
    ``fedctl db upgrade`` would (``fedctl run`` only checks PostgreSQL's schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    dsn = postgres_dsn()
    if dsn is None:
        pytest.skip("PostgreSQL variant: FEDCTL_TEST_POSTGRES_DSN is not set (.ci/run sets it)")
    with postgres_database(dsn, "fedctl_ha") as url:
        migrate.upgrade(url)
        yield url


async def test_killing_the_leader_fails_no_dns_query(tmp_path: Path, store_url: str) -> None:
    sb = Sandbox(tmp_path / "sb", rollout_delay=0.1, run_controller=False)
    await sb.start()
    assert sb.host is not None
    url = store_url
    replicas: list[Replica] = []
    try:
        first = await _start(sb, url, "ha-a", tmp_path)
        replicas.append(first)
        sb.dns_address = first.address
        run = Running(sb, "embedded")
        await wait_for(run.published, 40, "the example app's DNS published by the first replica")
        addresses = await run.addresses()
        expected = {s: {addresses[r] for r in regions} for s, regions in QUESTIONS}

        second = await _start(sb, url, "ha-b", tmp_path)
        replicas.append(second)

        async def standby_answers() -> bool:
            assert second.address is not None
            return all([await _ask(second.address, s, 1.0) == ("NOERROR", expected[s]) for s, _ in QUESTIONS])

        await wait_for(standby_answers, 20, "the standby answering the published records")

        async def holder() -> str:
            lease = await sb.host.get(LEASES, LEASE, SYSTEM_NAMESPACE)  # type: ignore[union-attr]
            return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

        assert await holder() == "ha-a"
        db = Database(url)
        try:
            logged = len(db.call(list_dns_changes, limit=100_000))
        finally:
            db.dispose()

        tally = Tally()
        stop = asyncio.Event()
        client = asyncio.create_task(_client(replicas, expected, tally, stop))
        await asyncio.sleep(1.0)
        before_kill = tally.queries
        first.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await first.proc.wait()

        async def taken_over() -> bool:
            return await holder() == "ha-b"

        await wait_for(taken_over, 20, "the standby taking the Lease over")
        took = time.monotonic() - killed_at
        at_takeover = tally.queries
        await asyncio.sleep(2.0)  # the new leader's first reconciles, still under the client's questions
        stop.set()
        await client

        print(
            f"\nHA DNS: {tally.queries} queries ({before_kill} before the kill, {at_takeover} before the "
            f"takeover), takeover after "
            f"{took:.1f}s, {tally.fallbacks} answered by the second server asked, failed: "
            f"{len(tally.failed)}; per server: {tally.by_server}"
        )
        assert tally.failed == []
        assert tally.queries - at_takeover >= 3  # and it went on after the takeover
        # the survivor never gave a wrong or refused answer, before or after it became leader
        assert set(tally.by_server["ha-b"]) == {"ok"}, tally.by_server
        db = Database(url)
        try:
            after = db.call(list_dns_changes, limit=100_000)
        finally:
            db.dispose()
        assert len(after) == logged, "the new leader re-published records that were already published"
    finally:
        await stop_processes(r.proc for r in replicas)
        await sb.stop()
