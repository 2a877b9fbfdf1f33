"""NodePorts that really answer (sandbox data plane): each simulated node listens on its own loopback
address, the one in its ``sandbox.federation.io/address`` annotation.

For every TCP or UDP port of a NodePort or LoadBalancer Service, each Ready node listens on
``(node address, nodePort)`` while the Service has ready endpoints (the simulated Deployment has ready
replicas), and closes the socket otherwise, so a client or an SLB health check gets *connection
refused* exactly when kube-proxy would have no endpoint to send it to. A connection that starts with
an HTTP request gets a small text page naming the region, cluster, node and Service; any other first
bytes get one line naming them, then an echo; a connection that sends nothing is simply accepted. A
UDP datagram gets one datagram back: that line, then its own bytes (a closed UDP port answers with
ICMP port unreachable, which is how a UDP health check tells it is down).
With ``lb_prefix`` (the sandbox), a LoadBalancer Service's loopback ingress address answers the same way
on the Service's own ports, as the load balancer a cloud controller would have made (CloudController
mode). Store events (nodes, Services, Endpoints) trigger the re-sync; nothing is polled.
``http_error_rate`` (a fault, 0 by default) answers that fraction of HTTP requests with 500, drawn per
request: an app that fails some of its requests, as an SLB's HTTP health check or a client sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from typing import TYPE_CHECKING, Any, cast

from federation.sandbox.kube.behaviour import EP_KEY, NODE_KEY, SVC_KEY
from federation.sandbox.kube.store import Event
from federation.sandbox.loopback import require_loopback

if TYPE_CHECKING:
    from federation.sandbox.kube.api import ClusterApi

log = logging.getLogger(__name__)

ADDRESS_ANNOTATION = "sandbox.federation.io/address"
_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")
FIRST_BYTES_WAIT = 5.0  # seconds a connection may stay silent before it is closed


def node_address(node: dict[str, Any]) -> str | None:
    return ((node.get("metadata") or {}).get("annotations") or {}).get(ADDRESS_ANNOTATION)


def _ready(node: dict[str, Any]) -> bool:
    conds = (node.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class NodePorts:
    """The listening NodePorts of one simulated cluster."""

    def __init__(self, api: ClusterApi, *, cluster: str, region: str, lb_prefix: str | None = None) -> None:
        self.api = api
        # LoadBalancer Services whose ingress address is in this loopback prefix answer there as well
        self.lb_prefix = lb_prefix if lb_prefix and lb_prefix.startswith("127.") else None
        self.cluster = cluster
        self.region = region
        # (address, nodePort, protocol) -> (listening server or UDP transport, node, (namespace, service))
        self._servers: dict[tuple[str, int, str], tuple[Any, str, tuple[str, str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._running = False
        self._conns: set[asyncio.Task[None]] = set()
        self.http_error_rate = 0.0  # the fraction of HTTP requests answered 500 (a fault)
        self.http_errors = 0  # how many were
        self.rng = random.Random()

    def start(self) -> None:
        self._running = True
        self.api.store.listeners.append(self._on_event)
        self._task = asyncio.create_task(self._loop(), name=f"nodeports {self.cluster}")
        self._dirty.set()

    async def stop(self) -> None:
        self._running = False
        with contextlib.suppress(ValueError):
            self.api.store.listeners.remove(self._on_event)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for server, _, _ in self._servers.values():
            server.close()
        self._servers.clear()
        for t in list(self._conns):
            t.cancel()

    def _on_event(self, ev: Event) -> None:
        if self._running and ev.rkey in (NODE_KEY, SVC_KEY, EP_KEY):
            self._dirty.set()

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except Exception:  # keep serving; the next event retries
                log.exception("nodeports %s: sync failed", self.cluster)

    def _wanted(self) -> dict[tuple[str, int, str], tuple[str, tuple[str, str]]]:
        """(node address, nodePort, TCP|UDP) -> (node name, (namespace, service))."""
        store = self.api.store
        nodes = [
            (n["metadata"]["name"], addr)
            for _, n in store.iter_objects(NODE_KEY)
            if _ready(n) and (addr := node_address(n))
        ]
        out: dict[tuple[str, int, str], tuple[str, tuple[str, str]]] = {}
        for (ns, name), svc in store.iter_objects(SVC_KEY):
            spec = svc.get("spec") or {}
            if spec.get("type") not in ("NodePort", "LoadBalancer"):
                continue
            ep = store.get(EP_KEY, (ns, name))
            if not any(s.get("addresses") for s in (ep or {}).get("subsets") or ()):
                continue
            ingress = [
                i["ip"]
                for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
                if self.lb_prefix and str(i.get("ip", "")).startswith(self.lb_prefix + ".")
            ]
            for p in spec.get("ports") or ():
                proto = p.get("protocol", "TCP")
                if p.get("nodePort") and proto in ("TCP", "UDP"):
                    for node, addr in nodes:
                        out[(addr, int(p["nodePort"]), proto)] = (node, (ns, name))
                    if nodes:  # the cloud controller's load balancer, in front of the first Ready node
                        for ip in ingress:
                            out[(ip, int(p["port"]), proto)] = (min(nodes)[0], (ns, name))
        return out

    async def sync(self) -> None:
        wanted = self._wanted()
        for key in [k for k in self._servers if k not in wanted or self._servers[k][1:] != wanted[k]]:
            server, _, _ = self._servers.pop(key)
            server.close()
        for (addr, port, proto), (node, svc) in wanted.items():
            if (addr, port, proto) in self._servers:
                continue
            require_loopback(addr, f"node {node} address")
            if proto == "UDP":
                try:
                    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                        functools.partial(_UdpAnswer, self._who(node, svc)), local_addr=(addr, port)
                    )
                except OSError as exc:
                    log.warning(
                        "nodeports %s: cannot listen on udp %s:%s (%s)", self.cluster, addr, port, exc
                    )
                    continue
                self._servers[(addr, port, proto)] = (transport, node, svc)
                continue

            async def handle(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, node: str = node, svc: Any = svc
            ) -> None:
                task = asyncio.current_task()
                if task is not None:
                    self._conns.add(task)
                try:
                    await self._answer(reader, writer, node, svc)
                except asyncio.CancelledError:
                    pass  # stopping: asyncio's stream callback would report a cancelled handler as an error
                finally:
                    if task is not None:
                        self._conns.discard(task)

            try:
                server = await asyncio.start_server(handle, addr, port, reuse_address=True)
            except OSError as exc:
                log.warning("nodeports %s: cannot listen on %s:%s (%s)", self.cluster, addr, port, exc)
                continue
            self._servers[(addr, port, proto)] = (server, node, svc)

    def listening(self) -> list[tuple[str, int, str]]:
        return sorted(self._servers)

    def _who(self, node: str, svc: tuple[str, str]) -> str:
        return f"region: {self.region}\ncluster: {self.cluster}\nnode: {node}\nservice: {svc[0]}/{svc[1]}\n"

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, node: str, svc: tuple[str, str]
    ) -> None:
        who = self._who(node, svc)
        try:
            try:
                first = await asyncio.wait_for(reader.read(4096), FIRST_BYTES_WAIT)
            except TimeoutError:
                return
            if not first:
                return  # a TCP health check: connected, nothing to say
            if first.startswith(_METHODS):
                while b"\r\n\r\n" not in first and len(first) < 65536:
                    more = await asyncio.wait_for(reader.read(4096), FIRST_BYTES_WAIT)
                    if not more:
                        break
                    first += more
                failing = self.http_error_rate > 0 and self.rng.random() < self.http_error_rate
                body = (
                    b"injected fault: 500\n"
                    if failing
                    else f"Hello from the federation sandbox\n{who}".encode()
                )
                self.http_errors += failing
                status = "500 Internal Server Error" if failing else "200 OK"
                head = (
                    f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nX-Sandbox-Region: {self.region}\r\n"
                    f"X-Sandbox-Node: {node}\r\nConnection: close\r\n\r\n"
                )
                writer.write(head.encode() + (b"" if first.startswith(b"HEAD ") else body))
                await writer.drain()
                return
            writer.write(who.replace("\n", " ").strip().encode() + b"\n" + first)
            await writer.drain()
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _UdpAnswer(asyncio.DatagramProtocol):
    """A UDP NodePort: each datagram is answered with one line naming who answered, then its bytes."""

    def __init__(self, who: str) -> None:
        self.line = who.replace("\n", " ").strip().encode() + b"\n"
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(self.line + data, addr)
