"""The SLB emulator's data plane (sandbox only): load balancers that really answer on loopback.

Attached to a :class:`~federation.sandbox.aliyun.slb.SlbService`, it hands each new load balancer a
distinct loopback address ``127.B.R.N`` (B: this process's block, R: the region's, N: the instance), and
after every SLB write brings its sockets in line with the API state: each *running* TCP, HTTP or HTTPS
listener of an *active* load balancer listens on its port there (or on a mapped port, see
:class:`~federation.sandbox.loopback.PortPolicy`) and forwards each connection to a healthy backend's
``BackendServerPort`` on the address its ECS instance registered (the simulated node's NodePort).
HTTP is forwarded as TCP; HTTPS is terminated with the listener's uploaded certificate and forwarded
as plain HTTP, as the real service does; UDP keeps one backend per client address while it is in use.

Health checks follow the listener's settings (interval, timeout, healthy/unhealthy thresholds; TCP
connect, or HTTP HEAD (GET with ``HealthCheckMethod`` get) of ``HealthCheckURI`` with
``HealthCheckDomain``, passing on the ``HealthCheckHttpCode`` classes) and feed
``DescribeHealthStatus``: ``unavailable`` until threshold-many consecutive results judge a backend
(Alibaba Cloud docs, "Configure and manage CLB health checks": HEAD is the default method; a status
changes only after consecutive successes or failures), then normal or abnormal.
``interval_scale`` shrinks every interval (and timeout, down to a second) for tests. Connections go
to backends whose state is normal by weight (smooth weighted round robin; weight 0 takes none), or
while none is, to those not judged yet; one that refuses is skipped for the next; with none left the
client is closed. Nothing here dials outside 127.0.0.0/8: a non-loopback target raises
:class:`~federation.sandbox.loopback.NonLoopbackTarget`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from federation.sandbox.aliyun.slb import Certificate, Listener, LoadBalancer, SlbService
from federation.sandbox.loopback import SLB_BLOCKS, PortPolicy, random_block, require_loopback

log = logging.getLogger(__name__)

SERVED = ("tcp", "udp", "http", "https")
UDP_SESSION_IDLE = 60.0  # seconds a client's UDP session keeps its backend
CONNECT_TIMEOUT = 2.0
_CODE_CLASSES = {"http_2xx": 2, "http_3xx": 3, "http_4xx": 4, "http_5xx": 5}


async def probe_tcp(host: str, port: int, within: float) -> bool:
    """True when a TCP connection to (host, port) opens within ``within`` seconds."""
    require_loopback(host, "health check target")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def probe_http(
    host: str,
    port: int,
    within: float,
    *,
    uri: str = "/",
    domain: str | None = None,
    codes: str = "",
    method: str = "HEAD",
) -> bool:
    """True when ``METHOD uri`` answers with a status in one of ``codes`` (default 2xx and 3xx); HEAD
    unless the listener's ``HealthCheckMethod`` says get, as the real health check does."""
    require_loopback(host, "health check target")
    method = "GET" if method.lower() == "get" else "HEAD"
    wanted = {_CODE_CLASSES[c] for c in (codes or "http_2xx,http_3xx").split(",") if c in _CODE_CLASSES}
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                head = f"{method} {uri} HTTP/1.0\r\nHost: {domain or host}\r\n"
                req = head + "User-Agent: slb-health-check\r\n\r\n"
                writer.write(req.encode())
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
    parts = line.decode("latin-1").split()
    return len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) // 100 in wanted


class _UdpProbe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_result(None)  # ICMP port unreachable: nothing listens


async def probe_udp(host: str, port: int, within: float, *, request: str = "", expect: str = "") -> bool:
    """A UDP health check: send ``request``; an ICMP port unreachable fails it, an answer passes it
    (when ``expect`` is set, only an answer containing it), and silence passes only without ``expect``
    (Alibaba Cloud docs, "CLB health checks": UDP checks rely on ICMP unless a response is configured)."""
    require_loopback(host, "health check target")
    loop = asyncio.get_running_loop()
    probe = _UdpProbe()
    transport, _ = await loop.create_datagram_endpoint(lambda: probe, remote_addr=(host, port))
    try:
        transport.sendto((request or "fedctl-udp-health-check").encode())
        try:
            answer = await asyncio.wait_for(asyncio.shield(probe.answer), within)
        except TimeoutError:
            return not expect
        if answer is None:
            return False
        return expect.encode() in answer if expect else True
    finally:
        transport.close()


async def open_backend(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The forwarder's connection to a backend; refuses anything outside loopback."""
    require_loopback(host, "forwarding target")
    return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


@dataclass
class _Served:
    lb_id: str
    port: int
    protocol: str
    address: str
    bound_port: int
    server: Any  # asyncio.Server, or the DatagramTransport of a UDP listener
    cert_id: str | None
    checker: asyncio.Task[None] | None = None
    credit: dict[str, int] = field(default_factory=dict)  # smooth weighted round robin, per server id
    streaks: dict[str, tuple[bool, int]] = field(default_factory=dict)  # server id -> (last ok, count)
    checked: frozenset[str] = frozenset()  # the backends the last health-check round looked at
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # a new backend: check now, not later


class SlbDataPlane:
    """Loopback addresses, listening sockets, forwarding and health checks for one :class:`SlbService`."""

    def __init__(
        self,
        slb: SlbService,
        *,
        block: int | None = None,
        port_policy: PortPolicy | None = None,
        interval_scale: float = 1.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if block is not None and not 1 <= block <= 254:
            raise ValueError(f"block: the second octet must be 1-254, got {block}")
        if interval_scale <= 0:
            raise ValueError(f"interval_scale: must be > 0, got {interval_scale}")
        self.slb = slb
        self.block = block if block is not None else random_block(SLB_BLOCKS, random.SystemRandom())
        # regions get 127.<block>.<base + region index>: random, so that data planes sharing a machine
        # rarely pick the same addresses
        self._base = random.SystemRandom().randrange(256) if block is None else 0
        self.port_policy = port_policy or PortPolicy()
        self.interval_scale = interval_scale
        self.on_change = on_change
        self._served: dict[tuple[str, int, str], _Served] = {}
        self._regions: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._conns: set[asyncio.Task[None]] = set()
        slb.address_allocator = self.allocate
        slb.unchecked_status = "unavailable"  # API docs: "unavailable: the health check is not complete"

    # ---- addresses -----------------------------------------------------------------------------
    def allocate(self, region: str, lb_id: str) -> str:
        """A loopback address no other load balancer of this service has."""
        r = self._regions.setdefault(region, len(self._regions) + 1)
        if r > 255:
            raise RuntimeError("the data plane serves at most 255 regions")
        used = {lb.address for lb in self.slb.lbs.values()}
        for n in range(1, 255):
            addr = f"127.{self.block}.{(self._base + r) % 256}.{n}"
            if addr not in used:
                return addr
        raise RuntimeError(f"no loopback address left for {region} (254 load balancers per region)")

    # ---- reconciliation ------------------------------------------------------------------------
    def _wanted(self) -> dict[tuple[str, int, str], tuple[LoadBalancer, Listener]]:
        out = {}
        for lb in self.slb.lbs.values():
            if lb.status != "active":
                continue
            for li in lb.listeners.values():
                if li.status == "running" and li.protocol in SERVED:
                    out[(lb.lb_id, li.port, li.protocol)] = (lb, li)
        return out

    async def sync(self) -> None:
        """Open what is wanted and not served, close what is served and no longer wanted."""
        async with self._lock:
            wanted = self._wanted()
            changed = False
            for key, s in list(self._served.items()):
                if key not in wanted or wanted[key][1].extra.get("ServerCertificateId") != s.cert_id:
                    await self._close(self._served.pop(key))
                    changed = True
            for key, (lb, li) in wanted.items():
                if key not in self._served:
                    served = await self._open(lb, li)
                    if served is not None:
                        self._served[key] = served
                        changed = True
                elif not set(lb.backends) <= self._served[key].checked:
                    self._served[
                        key
                    ].wake.set()  # unchecked backends stay "unavailable" no longer than needed
            if changed and self.on_change is not None:
                self.on_change()

    async def _open(self, lb: LoadBalancer, li: Listener) -> _Served | None:
        require_loopback(lb.address, f"load balancer {lb.lb_id} address")
        key = (lb.lb_id, li.port, li.protocol)
        ctx = None
        cert_id = li.extra.get("ServerCertificateId") if li.protocol == "https" else None
        if cert_id is not None:
            cert = self.slb.certificates.get(str(cert_id))
            if cert is None:
                return None
            ctx = _tls_context(cert)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._conns.add(task)
            try:
                await self._forward(key, reader, writer)
            except asyncio.CancelledError:
                pass  # closing: asyncio's stream callback would report a cancelled handler as an error
            finally:
                if task is not None:
                    self._conns.discard(task)

        server: Any = None
        loop = asyncio.get_running_loop()
        for port in dict.fromkeys((self.port_policy.wanted(li.port), 0)):
            try:
                if li.protocol == "udp":
                    server, _ = await loop.create_datagram_endpoint(
                        functools.partial(_UdpFront, self, key), local_addr=(lb.address, port)
                    )
                else:
                    server = await asyncio.start_server(handle, lb.address, port, ssl=ctx, reuse_address=True)
                break
            except OSError as exc:
                log.info("slb data plane: %s:%s not bindable (%s), mapping it", lb.address, port, exc)
        if server is None:
            log.warning("slb data plane: could not listen for %s %s:%s", lb.lb_id, li.protocol, li.port)
            return None
        sock = server.get_extra_info("sockname") if li.protocol == "udp" else server.sockets[0].getsockname()
        bound = int(sock[1])
        served = _Served(lb.lb_id, li.port, li.protocol, lb.address, bound, server, cert_id)
        served.checker = asyncio.create_task(
            self._check_loop(served), name=f"slb health {lb.lb_id}:{li.port}"
        )
        log.info(
            "slb data plane: %s %s:%s listening on %s:%s", lb.lb_id, li.protocol, li.port, lb.address, bound
        )
        return served

    async def _close(self, s: _Served) -> None:
        if s.checker is not None:
            s.checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await s.checker
        s.server.close()
        if isinstance(s.server, asyncio.Server):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.server.wait_closed(), 1.0)

    async def close(self) -> None:
        async with self._lock:
            for s in self._served.values():
                await self._close(s)
            self._served.clear()
        for t in list(self._conns):
            t.cancel()
        if self.slb.address_allocator == self.allocate:
            self.slb.address_allocator = None
            self.slb.unchecked_status = "normal"

    def listeners(self) -> list[dict[str, Any]]:
        """What is served, for sandbox.json: each listener with the port it is really bound to."""
        out = []
        for (lb_id, port, proto), s in sorted(self._served.items()):
            lb = self.slb.lbs.get(lb_id)
            out.append(
                {
                    "load_balancer_id": lb_id,
                    "region": lb.region if lb else "",
                    "address": s.address,
                    "listener_port": port,
                    "protocol": proto,
                    "bound_port": s.bound_port,
                    "simulated_public_address": self.slb.public_addresses.get(lb_id),
                }
            )
        return out

    def bound_port(self, lb_id: str, port: int, protocol: str = "tcp") -> int | None:
        s = self._served.get((lb_id, port, protocol))
        return s.bound_port if s else None

    # ---- forwarding ----------------------------------------------------------------------------
    def _lookup(self, key: tuple[str, int, str]) -> tuple[LoadBalancer, Listener] | None:
        lb = self.slb.lbs.get(key[0])
        li = lb.listeners.get((key[1], key[2])) if lb else None
        return (lb, li) if lb is not None and li is not None else None

    def _candidates(self, s: _Served, lb: LoadBalancer, li: Listener) -> list[tuple[str, str]]:
        """(server id, address) of the backends to try: the one whose turn it is by weight (smooth
        weighted round robin), then the others as fallbacks."""
        ready: list[tuple[str, str, int]] = []
        unjudged: list[tuple[str, str, int]] = []
        hc = li.health_check
        checking = hc.get("HealthCheck", hc.get("HealthCheckSwitch", "on")) == "on"
        for sid, b in sorted(lb.backends.items()):
            inst = self.slb.instances.get((lb.region, sid))
            weight = int(b.get("Weight", 100))
            if inst is None or inst.address is None or weight == 0:
                continue
            # without a health check every backend takes traffic; with one, those found normal
            if not checking or self.slb.backend_status(lb, li, sid) == "normal":
                ready.append((sid, inst.address, weight))
            elif self.slb.backend_status(lb, li, sid) == "unavailable":
                unjudged.append((sid, inst.address, weight))
        ready = ready or unjudged  # none judged normal yet: those not judged at all rather than nobody
        if not ready:
            return []
        for sid, _, weight in ready:
            s.credit[sid] = s.credit.get(sid, 0) + weight
        chosen = max(ready, key=lambda r: s.credit[r[0]])
        s.credit[chosen[0]] -= sum(w for _, _, w in ready)
        return [(chosen[0], chosen[1])] + [(sid, a) for sid, a, _ in ready if sid != chosen[0]]

    async def _forward(
        self, key: tuple[str, int, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            found, s = self._lookup(key), self._served.get(key)
            if found is None or s is None:
                return
            lb, li = found
            for sid, address in self._candidates(s, lb, li):
                try:
                    b_reader, b_writer = await open_backend(address, li.backend_port)
                except (OSError, TimeoutError):
                    log.debug("slb data plane: backend %s (%s:%s) refused", sid, address, li.backend_port)
                    continue
                except ValueError as exc:  # NonLoopbackTarget: refused, never dialled
                    log.warning("slb data plane: %s", exc)
                    continue
                up = asyncio.create_task(_pipe(reader, b_writer))
                try:
                    await _pipe(b_reader, writer)  # until the backend closes (TLS has no half-close)
                finally:
                    up.cancel()
                    b_writer.close()
                return
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    # ---- health checks -------------------------------------------------------------------------
    async def _check_loop(self, s: _Served) -> None:
        key = (s.lb_id, s.port, s.protocol)
        while True:
            found = self._lookup(key)
            if found is None:
                return
            lb, li = found
            hc = li.health_check
            interval = float(hc.get("HealthCheckInterval", 2)) * self.interval_scale
            s.wake.clear()
            servers = sorted(lb.backends)
            s.checked = frozenset(servers)
            if hc.get("HealthCheck", hc.get("HealthCheckSwitch", "on")) == "on":
                results = await asyncio.gather(*(self._probe(lb, li, sid) for sid in servers))
                for sid, ok in zip(servers, results, strict=True):
                    self._record(s, lb, li, sid, ok)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(s.wake.wait(), interval)

    async def _probe(self, lb: LoadBalancer, li: Listener, server_id: str) -> bool:
        inst = self.slb.instances.get((lb.region, server_id))
        if inst is None or inst.address is None:
            return False  # an instance that answers nowhere is never healthy
        hc = li.health_check
        port = int(hc.get("HealthCheckConnectPort") or li.backend_port)
        http = li.protocol in ("http", "https") or hc.get("HealthCheckType") == "http"
        timeout_key = (
            "HealthCheckTimeout" if li.protocol in ("http", "https") else "HealthCheckConnectTimeout"
        )
        # scaled like the interval, but never below a second: a loaded machine must not look like a dead node
        timeout = max(
            float(hc.get(timeout_key, 5)) * self.interval_scale, min(float(hc.get(timeout_key, 5)), 1.0)
        )
        try:
            if li.protocol == "udp" and hc.get("HealthCheckType") not in ("tcp", "http"):
                return await probe_udp(
                    inst.address,
                    port,
                    timeout,
                    request=str(hc.get("healthCheckReq") or ""),
                    expect=str(hc.get("healthCheckExp") or ""),
                )
            if http:
                return await probe_http(
                    inst.address,
                    port,
                    timeout,
                    uri=str(hc.get("HealthCheckURI") or "/"),
                    domain=hc.get("HealthCheckDomain"),
                    codes=str(hc.get("HealthCheckHttpCode") or ""),
                    method=str(hc.get("HealthCheckMethod") or "head"),
                )
            return await probe_tcp(inst.address, port, timeout)
        except ValueError as exc:  # NonLoopbackTarget: reported, never dialled
            log.warning("slb data plane: %s", exc)
            return False

    def _record(self, s: _Served, lb: LoadBalancer, li: Listener, server_id: str, ok: bool) -> None:
        last, count = s.streaks.get(server_id, (ok, 0))
        count = count + 1 if last == ok else 1
        s.streaks[server_id] = (ok, count)
        key = (lb.lb_id, li.port, li.protocol, server_id)
        threshold = int(li.health_check.get("HealthyThreshold" if ok else "UnhealthyThreshold", 3))
        if count >= threshold:
            self.slb.checked[key] = "normal" if ok else "abnormal"


def _tls_context(cert: Certificate) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as d:
        crt, key = Path(d) / "tls.crt", Path(d) / "tls.key"
        crt.write_text(cert.cert_pem)
        key.write_text(cert.key_pem)
        key.chmod(0o600)
        ctx.load_cert_chain(crt, key)
    return ctx


class _UdpBack(asyncio.DatagramProtocol):
    """One client's session towards its backend: answers go back to the client through the front."""

    def __init__(self, front: _UdpFront, client: Any) -> None:
        self.front, self.client = front, client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.front.transport is not None:
            self.front.transport.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        self.front.drop(self.client)  # the backend refused: the next datagram picks another


class _UdpFront(asyncio.DatagramProtocol):
    """A UDP listener: each client address keeps one backend while it is in use (a session)."""

    def __init__(self, plane: SlbDataPlane, key: tuple[str, int, str]) -> None:
        self.plane, self.key = plane, key
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[Any, tuple[asyncio.DatagramTransport, float]] = {}
        self.pending: dict[Any, list[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        for back, _ in self.sessions.values():
            back.close()
        self.sessions.clear()

    def drop(self, client: Any) -> None:
        found = self.sessions.pop(client, None)
        if found is not None:
            found[0].close()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        now = asyncio.get_running_loop().time()
        session = self.sessions.get(addr)
        if session is not None and now - session[1] < UDP_SESSION_IDLE:
            self.sessions[addr] = (session[0], now)
            session[0].sendto(data)
            return
        self.drop(addr)
        if addr in self.pending:
            self.pending[addr].append(data)
            return
        self.pending[addr] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(addr))
        self.plane._conns.add(task)
        task.add_done_callback(self.plane._conns.discard)

    async def _connect(self, client: Any) -> None:
        queued = self.pending.get(client, [])
        try:
            found, s = self.plane._lookup(self.key), self.plane._served.get(self.key)
            if found is None or s is None:
                return
            lb, li = found
            for sid, address in self.plane._candidates(s, lb, li):
                try:
                    require_loopback(address, "forwarding target")
                    back, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                        functools.partial(_UdpBack, self, client), remote_addr=(address, li.backend_port)
                    )
                except (OSError, ValueError) as exc:
                    log.debug("slb data plane: udp backend %s: %s", sid, exc)
                    continue
                self.sessions[client] = (back, asyncio.get_running_loop().time())
                for data in queued:
                    back.sendto(data)
                return
        finally:
            self.pending.pop(client, None)
