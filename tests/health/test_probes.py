"""The batched TCP prober a VIP sweep uses: every target's outcome, in order, within its timeout,
never more connects in flight than asked (loopback only)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from federation.health.probes import tcp_probe_many, vip_probe


@pytest.fixture
async def listening() -> AsyncIterator[int]:
    """A listener on 127.0.0.1 that accepts and closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops further SYNs, a connect never completes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fill = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fill.append(s)
    try:
        yield port
    finally:
        for s in fill:
            s.close()
        srv.close()


async def test_accepted_refused_and_timed_out_each_in_its_place(listening: int, black_hole: int) -> None:
    await asyncio.sleep(0.05)  # the queue-filling handshakes are done
    dests = [
        ("127.0.0.1", listening, 1.0),
        ("127.0.0.7", listening, 1.0),  # nothing listens on this address
        ("127.0.0.1", black_hole, 0.2),
        ("127.0.0.1", listening, 1.0),
    ]
    out = await tcp_probe_many(dests, concurrency=10)
    assert [o.ok for o in out] == [True, False, False, True]
    assert out[0].detail == f"VIP 127.0.0.1:{listening} accepted"
    assert out[0].latency_ms is not None
    assert out[0].latency_ms >= 0
    assert out[1].detail == f"VIP 127.0.0.7:{listening} refused"
    assert out[2].detail == f"VIP 127.0.0.1:{black_hole} timed out after 0.2s"
    # the same words as the single probe, so reasons read alike whichever path probed
    single = await vip_probe("127.0.0.7", listening, limit=1.0)
    assert single.detail == out[1].detail


async def test_many_targets_through_few_slots(listening: int) -> None:
    dests = [("127.0.0.1", listening, 1.0) if i % 3 else ("127.0.0.9", listening, 1.0) for i in range(300)]
    out = await tcp_probe_many(dests, concurrency=7)
    assert [o.ok for o in out] == [bool(i % 3) for i in range(300)]
    assert await tcp_probe_many([], concurrency=7) == []


async def test_cancelled_sweep_closes_its_sockets(black_hole: int) -> None:
    await asyncio.sleep(0.05)
    import os

    before = len(os.listdir("/proc/self/fd"))
    task = asyncio.ensure_future(tcp_probe_many([("127.0.0.1", black_hole, 30.0)] * 20, concurrency=20))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(os.listdir("/proc/self/fd")) <= before
