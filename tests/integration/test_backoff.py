"""No hot loop when the outside world refuses: a throttled alidns action, or a member refusing every write,
costs a handful of calls while it lasts (per-app exponential backoff, the publisher's pause after a
refusal, no re-enqueue on our own status writes, stable condition text), and the app recovers within one
backoff period once the fault clears.

The fault is held for 30 s while a drained region is restored (the moment that used to loop). The
backoff runs from 0.5 s to 12 s (``retry_base_delay``/``retry_max_delay``; production: 0.2 s to 300 s)
so that "within one backoff period" fits in a test.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from federation.api import constants as c
from federation.sandbox.wiring import Sandbox
from tests.integration.conftest import APP, NAMESPACE, Running, fast_config
from tests.waiting import wait_for

HOLD = 30.0  # seconds the fault stays on
BASE_BACKOFF = 0.5  # the first retry delay
MAX_BACKOFF = 12.0  # the longest per-app retry delay and publisher pause in these tests
JITTER = 1.25  # the queue spreads a delay by +-25%
KEY = f"{NAMESPACE}/{APP}"

pytestmark = pytest.mark.slow


def count_requests(sb: Sandbox, cluster: str) -> collections.Counter[str]:
    """Requests one simulated cluster serves, as "METHOD path"."""
    seen: collections.Counter[str] = collections.Counter()
    server = sb.sim.clusters[cluster].server
    route = server._route

    def counting(request: Any, _route: Callable[..., Any] = route) -> Any:
        seen[f"{request.method} {request.path}"] += 1
        return _route(request)

    server._route = counting  # type: ignore[method-assign]
    return seen


def status_patches(seen: collections.Counter[str]) -> int:
    return sum(n for k, n in seen.items() if k.startswith("PATCH ") and k.endswith(f"/{APP}/status"))


def writes_received(sb: Sandbox, cluster: str) -> int:
    """Write requests a simulated cluster received so far, refused ones included."""
    received = sb.sim.clusters[cluster].server.requests
    return sum(received[m] for m in ("POST", "PUT", "PATCH", "DELETE"))


@pytest.fixture
async def alidns(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(fast_config(), retry_base_delay=BASE_BACKOFF, retry_max_delay=MAX_BACKOFF)
    sb = Sandbox(tmp_path, rollout_delay=0.1, dns_provider="alidns", controller_config=config)
    await sb.start()
    try:
        run = Running(sb, "alidns")
        await wait_for(run.published, 20, "the example app Ready with its DNS published")
        assert sb.dns_runtime is not None
        sb.dns_runtime.publisher.refusal_max = MAX_BACKOFF
        yield run
    finally:
        await sb.stop()


async def test_a_throttled_alidns_action_is_called_a_handful_of_times_then_recovers(alidns: Running) -> None:
    run, sb = alidns, alidns.sb
    assert sb.emulator is not None
    assert sb.controller is not None
    await run.set_drained("cn-hangzhou", True)

    async def hangzhou_out_of_dns() -> bool:
        return (await run.regions())["cn-hangzhou"].get("servingDNS") is False

    await wait_for(hangzhou_out_of_dns, 15, "cn-hangzhou out of DNS")
    assert await sb.controller.wait_idle(10)

    rule = sb.emulator.faults.set("alidns", "AddDomainRecord", throttle=1.0)
    host_requests = count_requests(sb, "host")
    await run.set_drained("cn-hangzhou", False)  # its record must be added back: throttled
    await asyncio.sleep(HOLD)

    assert 1 <= rule.hits <= 9, f"{rule.hits} AddDomainRecord calls in {HOLD:.0f}s of throttling"
    assert status_patches(host_requests) <= 10, host_requests
    assert sb.controller.app_queue.failures(KEY) >= 3  # the reconcile failed: backoff applies
    dns_cond = next(cd for cd in (await run.status())["conditions"] if cd["type"] == c.COND_DNS_PUBLISHED)
    assert (dns_cond["status"], dns_cond["reason"]) == ("False", "ProviderError")
    assert "Throttling.User" in dns_cond["message"]
    assert "RequestId" not in dns_cond["message"]

    sb.emulator.faults.clear("alidns", "AddDomainRecord")
    await wait_for(run.published, MAX_BACKOFF * JITTER + 5, "recovery within one backoff period")
    assert (await run.regions())["cn-hangzhou"]["servingDNS"] is True


@pytest.mark.parametrize(("status", "hold"), [(429, HOLD), (500, 10.0)])
async def test_a_member_refusing_every_write_is_written_to_a_handful_of_times_then_recovers(
    tmp_path: Path, status: int, hold: float
) -> None:
    config = dataclasses.replace(fast_config(), retry_base_delay=BASE_BACKOFF, retry_max_delay=MAX_BACKOFF)
    sb = Sandbox(tmp_path, rollout_delay=0.1, controller_config=config, dns_provider=None)
    await sb.start()
    try:
        run = Running(sb, "none")
        ctrl = sb.controller
        assert ctrl is not None

        async def ready() -> bool:
            return await run.condition(c.COND_READY) == "True"

        await wait_for(ready, 20, "the example app Ready")
        await run.set_drained("cn-hangzhou", True)

        async def hangzhou_desired(n: int) -> bool:
            return (await run.regions())["cn-hangzhou"].get("desiredReplicas") == n

        await wait_for(lambda: hangzhou_desired(0), 15, "cn-hangzhou drained")
        assert await ctrl.wait_idle(10)

        member = sb.sim.clusters["cn-hangzhou"]
        member.faults.set("error", status=status, writes_only=True)
        writes_before = writes_received(sb, "cn-hangzhou")
        host_requests = count_requests(sb, "host")
        await run.set_drained("cn-hangzhou", False)  # its Deployment must be scaled up again: refused
        await asyncio.sleep(hold)

        writes = writes_received(sb, "cn-hangzhou") - writes_before
        assert 1 <= writes <= 9, f"{writes} writes to the member in {hold:.0f}s of {status} answers"
        assert status_patches(host_requests) <= 10, host_requests
        assert ctrl.app_queue.failures(KEY) >= 3
        ready_cond = next(cd for cd in (await run.status())["conditions"] if cd["type"] == c.COND_READY)
        assert ready_cond["status"] == "False"
        assert f"{status}" in ready_cond["message"]

        member.faults.clear()
        await wait_for(ready, MAX_BACKOFF * JITTER + 5, "recovery within one backoff period")
        assert (await run.regions())["cn-hangzhou"]["desiredReplicas"] > 0
    finally:
        await sb.stop()
