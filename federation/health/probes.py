"""The probes: thin and async. Each returns what it saw (ok, a one-line detail, a latency); deciding
what that means over time is the hysteresis machine's job.

* :func:`vip_probe` TCP connect, or HTTP/1.1 GET with a status check, of one ``address:port``;
* :func:`tcp_probe_many` the TCP connects of a whole sweep at once (thousands of targets);
* :func:`member_probe` ``GET /version`` (reachability, latency) then ``list nodes`` of a member;
* :func:`slb_probe` ``DescribeHealthStatus`` of one SLB through any object with that method.

Only addresses inside the configured probe networks are dialled (:class:`ProbeScope`): the sandbox
and the tests restrict them to 127.0.0.0/8, so a simulated public address is never dialled.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

ALL_NETWORKS = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class ProbeScope:
    """The networks probes may dial."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, cidrs: Iterable[str]) -> ProbeScope:
        nets = []
        for cidr in cidrs:
            try:
                nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"health_probe_networks: {cidr!r} is not a network: {exc}") from None
        return cls(tuple(nets))

    def allows(self, address: str) -> bool:
        return _allows(self.networks, address)


@functools.lru_cache(maxsize=65536)
def _allows(networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a hostname: resolving it would dial a DNS server we do not control
    return any(ip.version == n.version and ip in n for n in networks)


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    ok: bool
    detail: str
    latency_ms: float | None = None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def vip_probe(
    address: str, port: int, *, kind: str = "TCP", path: str = "/", limit: float = 1.0, host: str = ""
) -> ProbeOutcome:
    """Connect to ``address:port`` (and for HTTP, GET ``path`` expecting a 2xx or 3xx)."""
    where = f"VIP {address}:{port}"
    started = time.perf_counter()
    if kind.upper() != "HTTP":
        return await _tcp_connect(address, port, limit, where, started)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(address, port)
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {host or address}\r\nUser-Agent: fedctl-health\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(request.encode())
            await writer.drain()
            line = await reader.readline()
    except ConnectionRefusedError:
        return ProbeOutcome(False, f"{where} refused")
    except TimeoutError:
        return ProbeOutcome(False, f"{where} timed out after {limit:g}s")
    except OSError as exc:
        return ProbeOutcome(False, f"{where} {exc.strerror or type(exc).__name__}".rstrip())
    finally:
        if writer is not None:
            writer.close()
    parts = line.decode("latin-1").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return ProbeOutcome(False, f"{where} answered no HTTP status", _ms(started))
    code = int(parts[1])
    if 200 <= code < 400:
        return ProbeOutcome(True, f"{where} HTTP {code}", _ms(started))
    return ProbeOutcome(False, f"{where} HTTP {code}", _ms(started))


async def _tcp_connect(address: str, port: int, limit: float, where: str, started: float) -> ProbeOutcome:
    """A bare non-blocking connect and close: no transport or stream objects (thousands per sweep)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(limit):
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except ConnectionRefusedError:
        return ProbeOutcome(False, f"{where} refused")
    except TimeoutError:
        return ProbeOutcome(False, f"{where} timed out after {limit:g}s")
    except OSError as exc:
        return ProbeOutcome(False, f"{where} {exc.strerror or type(exc).__name__}".rstrip())
    finally:
        sock.close()
    return ProbeOutcome(True, f"{where} accepted", _ms(started))


# close() with SO_LINGER 0 resets the connection instead of a FIN handshake: no TIME_WAIT socket per
# probe on the prober's side (HAProxy closes its health-check connections the same way).
_LINGER_RESET = struct.pack("ii", 1, 0)


async def tcp_probe_many(
    dests: Sequence[tuple[str, int, float]], *, concurrency: int = 1000
) -> list[ProbeOutcome]:
    """TCP connects of every ``(address, port, timeout)``, at most ``concurrency`` in flight; the
    outcomes in the order of ``dests``.

    A sweep probes thousands of VIPs; a coroutine, a future, a timeout context and a selector
    registration per connect cost more than the connect itself. On Linux the sockets are watched by
    one private epoll whose descriptor the event loop reads (one callback for every socket that
    became writable), and one timer expires the late ones. Elsewhere it falls back to one
    :func:`vip_probe` per target.
    """
    if not dests:
        return []
    if not hasattr(select, "epoll"):  # pragma: no cover - Linux is what the controller runs on
        return await _probe_each(dests, concurrency)
    return await _EpollConnects(dests, max(1, concurrency)).run()


async def _probe_each(dests: Sequence[tuple[str, int, float]], concurrency: int) -> list[ProbeOutcome]:
    out: list[ProbeOutcome] = [ProbeOutcome(False, "not probed")] * len(dests)
    it = iter(enumerate(dests))

    async def worker() -> None:
        for i, (address, port, limit) in it:
            out[i] = await vip_probe(address, port, limit=limit)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(dests))))))
    return out


class _EpollConnects:
    """One batch of non-blocking connects watched by a private epoll (see :func:`tcp_probe_many`)."""

    TICK = 0.05  # how often connects past their timeout are looked for

    def __init__(self, dests: Sequence[tuple[str, int, float]], concurrency: int) -> None:
        self.dests = dests
        self.concurrency = concurrency
        self.out: list[ProbeOutcome | None] = [None] * len(dests)
        # fd -> (index, socket, deadline, started)
        self.inflight: dict[int, tuple[int, socket.socket, float, float]] = {}
        self.next = 0
        self.ep = select.epoll()
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.timer: asyncio.TimerHandle | None = None

    async def run(self) -> list[ProbeOutcome]:
        loop = self.loop
        loop.add_reader(self.ep.fileno(), self._ready)
        self.timer = loop.call_later(self.TICK, self._expire)
        try:
            self._start()
            self._check_done()
            await self.done
        finally:
            loop.remove_reader(self.ep.fileno())
            if self.timer is not None:
                self.timer.cancel()
            for _, sock, _, _ in self.inflight.values():
                sock.close()
            self.inflight.clear()
            self.ep.close()
        return [o if o is not None else ProbeOutcome(False, "not probed") for o in self.out]

    def _start(self) -> None:
        dests, inflight, out = self.dests, self.inflight, self.out
        n = len(dests)
        register = self.ep.register
        while len(inflight) < self.concurrency and self.next < n:
            i = self.next
            self.next += 1
            address, port, limit = dests[i]
            started = time.perf_counter()
            try:
                sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
            except OSError as exc:  # e.g. out of file descriptors: this probe fails, the sweep goes on
                out[i] = ProbeOutcome(False, f"VIP {address}:{port} {exc.strerror or type(exc).__name__}")
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            err = sock.connect_ex((address, port))
            if err == errno.EINPROGRESS:
                fd = sock.fileno()
                register(fd, select.EPOLLOUT)
                inflight[fd] = (i, sock, started + limit, started)
                continue
            sock.close()
            out[i] = _connected(address, port, err, started)

    def _ready(self) -> None:
        inflight, out, dests = self.inflight, self.out, self.dests
        for fd, _ in self.ep.poll(0, max(1, len(inflight))):
            entry = inflight.pop(fd, None)
            if entry is None:
                continue
            i, sock, _, started = entry
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            sock.close()  # also leaves the epoll set
            address, port, _ = dests[i]
            out[i] = _connected(address, port, err, started)
        self._start()
        self._check_done()

    def _expire(self) -> None:
        now = time.perf_counter()
        late = [fd for fd, (_, _, deadline, _) in self.inflight.items() if deadline <= now]
        for fd in late:
            i, sock, _, _ = self.inflight.pop(fd)
            sock.close()
            address, port, limit = self.dests[i]
            self.out[i] = ProbeOutcome(False, f"VIP {address}:{port} timed out after {limit:g}s")
        if late:
            self._start()
            self._check_done()
        if not self.done.done():
            self.timer = self.loop.call_later(self.TICK, self._expire)

    def _check_done(self) -> None:
        if not self.inflight and self.next >= len(self.dests) and not self.done.done():
            self.done.set_result(None)


def _connected(address: str, port: int, err: int, started: float) -> ProbeOutcome:
    if err == 0:
        return ProbeOutcome(True, f"VIP {address}:{port} accepted", _ms(started))
    if err == errno.ECONNREFUSED:
        return ProbeOutcome(False, f"VIP {address}:{port} refused")
    return ProbeOutcome(False, f"VIP {address}:{port} {os.strerror(err)}")


class MemberApi(Protocol):
    async def version(self) -> dict[str, Any]: ...

    async def list(self, resource: Any, namespace: str | None = None) -> tuple[list[dict[str, Any]], str]: ...


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    api: ProbeOutcome
    nodes: list[dict[str, Any]] | None  # None when the API did not answer


async def member_probe(api: MemberApi, *, limit: float, nodes_resource: Any) -> MemberOutcome:
    """``GET /version`` (its round trip is the API latency), then the node list."""
    from federation.clusters.kubeapi import KubeError

    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            version = await api.version()
        latency = _ms(started)
        async with asyncio.timeout(limit):
            nodes, _ = await api.list(nodes_resource)
    except TimeoutError:
        return MemberOutcome(
            ProbeOutcome(False, f"member API unreachable: no answer within {limit:g}s"), None
        )
    except KubeError as exc:
        status = f" (HTTP {exc.status})" if exc.status else ""
        return MemberOutcome(ProbeOutcome(False, f"member API unreachable: {exc.reason}{status}"), None)
    git = str(version.get("gitVersion") or "")
    return MemberOutcome(ProbeOutcome(True, f"member API {git} answered in {latency:g} ms", latency), nodes)


class SlbHealthApi(Protocol):
    async def describe_health_status(
        self, region: str, lb_id: str, *, port: int | None = None, protocol: str | None = None
    ) -> list[dict[str, Any]]: ...


async def slb_probe(
    api: SlbHealthApi, region: str, lb_ids: Sequence[str], *, limit: float
) -> dict[str, list[dict[str, Any]] | str]:
    """Backend health of a region's SLBs, one call each, together: lb id -> backends, or an error."""

    async def one(lb_id: str) -> list[dict[str, Any]] | str:
        try:
            async with asyncio.timeout(limit):
                return await api.describe_health_status(region, lb_id)
        except TimeoutError:
            return f"DescribeHealthStatus {lb_id}: no answer within {limit:g}s"
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"DescribeHealthStatus {lb_id}: {first}"

    answers = await asyncio.gather(*(one(i) for i in lb_ids))
    return dict(zip(lb_ids, answers, strict=True))
