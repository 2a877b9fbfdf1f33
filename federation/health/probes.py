"""The probes: thin and async. Each returns what it saw (ok, a one-line detail, a latency); deciding
what that means over time is the hysteresis machine's job.

* :func:`vip_probe` TCP connect, or HTTP/1.1 GET with a status check, of one ``address:port``;
* :func:`member_probe` ``GET /version`` (reachability, latency) then ``list nodes`` of a member;
* :func:`slb_probe` ``DescribeHealthStatus`` of one SLB through any object with that method.

Only addresses inside the configured probe networks are dialled (:class:`ProbeScope`): the sandbox
and the tests restrict them to 127.0.0.0/8, so a simulated public address is never dialled.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
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
