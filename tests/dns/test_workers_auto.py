"""``dns_workers: auto``: the number of extra DNS processes chosen from the usable CPUs, and a runtime
started with it under a fake cgroup tree, answering from its worker over real loopback sockets."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

import federation.cpus
from federation.config import load_settings
from federation.dns.records import Record
from federation.dns.runtime import AUTO_WORKERS_MAX, auto_workers, dns_workers_for, start_dns


def fake_affinity(monkeypatch: pytest.MonkeyPatch, cpus: int) -> None:
    monkeypatch.setattr(federation.cpus.os, "sched_getaffinity", lambda pid: set(range(cpus)))


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max)
    return root


@pytest.mark.parametrize(
    ("cpus", "workers"),
    [(1, 0), (2, 1), (3, 2), (AUTO_WORKERS_MAX + 1, AUTO_WORKERS_MAX), (64, AUTO_WORKERS_MAX)],
)
def test_auto_is_one_process_per_cpu_the_server_included_within_floor_and_cap(
    cpus: int, workers: int
) -> None:
    n, why = auto_workers(cpus, "CPU affinity, no cgroup quota")
    assert n == workers
    assert why.startswith(f"{cpus} CPU")
    assert ("at most" in why) == (cpus - 1 > AUTO_WORKERS_MAX)


def test_auto_never_goes_below_zero() -> None:
    assert auto_workers(0, "x")[0] == 0


def test_auto_takes_the_quota_when_it_is_smaller_than_the_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_affinity(monkeypatch, 16)
    root = cgroup_v2(tmp_path, "200000 100000\n")
    assert dns_workers_for("auto", root) == (1, "2 CPUs: cgroup quota 200000/100000")


def test_auto_takes_the_affinity_when_it_is_smaller_than_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_affinity(monkeypatch, 3)
    root = cgroup_v2(tmp_path, "800000 100000\n")
    assert dns_workers_for("auto", root) == (2, "3 CPUs: CPU affinity (cgroup quota 800000/100000)")


def test_auto_is_capped_without_a_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_affinity(monkeypatch, 32)
    n, why = dns_workers_for("auto", cgroup_v2(tmp_path, "max 100000\n"))
    assert n == AUTO_WORKERS_MAX
    assert why == f"32 CPUs: CPU affinity, no cgroup quota; auto starts at most {AUTO_WORKERS_MAX}"


def test_auto_is_no_worker_on_one_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_affinity(monkeypatch, 4)
    assert dns_workers_for("auto", cgroup_v2(tmp_path, "50000 100000\n")) == (
        0,
        "1 CPU: cgroup quota 50000/100000",
    )


def test_a_number_is_taken_as_it_is_whatever_the_cpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_affinity(monkeypatch, 1)
    root = cgroup_v2(tmp_path, "100000 100000\n")
    assert dns_workers_for(3, root) == (3, "dns_workers: 3")
    assert dns_workers_for(0, root) == (0, "dns_workers: 0")


def test_auto_is_the_default_and_numbers_still_load() -> None:
    assert load_settings().dns_workers == "auto"
    assert load_settings(dns_workers="2").dns_workers == 2
    assert load_settings(dns_workers=0).dns_workers == 0


def _ask_blocking(address: tuple[str, int], name: str, deadline: float) -> dns.message.Message:
    """Ask over UDP from this thread, blocking the event loop: the server's own reader (on the loop)
    cannot answer meanwhile, so whatever answers is a worker process reading the shared socket."""
    query = dns.message.make_query(name, "A")
    while True:
        try:
            reply = dns.query.udp(query, address[0], port=address[1], timeout=2)
        except dns.exception.Timeout:
            reply = None
        if reply is not None and reply.rcode() == dns.rcode.NOERROR and reply.answer:
            return reply
        assert time.monotonic() < deadline, f"no worker answered {name}: {reply}"
        time.sleep(0.05)  # the worker is still applying the zone pushed to it


async def test_runtime_with_auto_under_a_two_cpu_quota_starts_one_answering_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_affinity(monkeypatch, 4)  # more than the quota allows, whatever this machine has
    root = cgroup_v2(tmp_path / "cgroup", "200000 100000\n")
    settings = load_settings(dns_listen="127.0.0.1:0", dns_workers="auto")
    with caplog.at_level(logging.INFO, logger="federation.dns.runtime"):
        runtime = await start_dns(settings, zones=("example.com",), cgroup_root=root)
    try:
        assert "dns: 1 extra worker process (2 CPUs: cgroup quota 200000/100000)" in caplog.messages
        assert runtime.workers is not None
        assert runtime.address is not None
        assert len(runtime.workers.pids) == 1
        os.kill(runtime.workers.pids[0], 0)  # a live process (ProcessLookupError otherwise)
        assert runtime.server is not None
        runtime.server.set_zone("example.com", [Record("www.example.com", "A", "default", "10.9.0.1", 60)])
        deadline = time.monotonic() + 20
        for _ in range(20):
            reply = _ask_blocking(runtime.address, "www.example.com", deadline)
            assert {rd.to_text() for rrset in reply.answer for rd in rrset} == {"10.9.0.1"}
    finally:
        await runtime.close()
    assert runtime.workers.pids == []


async def test_workers_exit_cleanly_when_stopped() -> None:
    """Workers are now started by default: a stop (every rolling update) must not abort them. A worker
    whose change reader was inside stdin's read at exit used to die with SIGABRT (-6) and a "Fatal
    Python error" on the controller's log, in most stops of two workers."""
    from federation.dns.lines import LineClassifier
    from federation.dns.server import DnsServer
    from federation.dns.workers import WorkerPool

    server = DnsServer(LineClassifier.default())
    server.set_zone("example.com", [Record("www.example.com", "A", "default", "10.9.0.2", 60)])
    address = await server.start("127.0.0.1", 0)
    try:
        for _ in range(3):
            pool = WorkerPool(server, 2)
            await pool.start(*address)
            assert len(pool.pids) == 2
            assert await pool.stop() == [0, 0]
    finally:
        await server.stop()
