"""Worker processes that answer the embedded server's UDP queries beside it, on the same port.

One Python process answers one query at a time; BIND 9 answers on every core. :class:`WorkerPool`
starts ``n`` processes (``python -m federation.dns.workers``) that read the server's own UDP socket,
inherited (``DnsServer.share_udp``), each from a thread blocked in ``recvfrom``: the kernel hands each
datagram to one waiting reader, so whichever process is free answers the next query, whatever the
client's address and port (with a socket per process bound with ``SO_REUSEPORT``, the kernel would pin
each client flow to one process by a hash, and a few busy flows can land on the same one while another
idles). A pool started without a server socket binds one per worker with ``SO_REUSEPORT`` instead.
Each worker holds its own
:class:`~federation.dns.server.DnsServer` with the same zones: the pool is the server's ``mirror``,
so every zone change (whole zone, some names, a removed zone, ``loaded``) is pushed to every worker
in the order it happened, and a worker rebuilds only what changed, as the server did. TCP stays with
the server (truncated answers and zone-sized questions are rare).

Frames on the pipes are a 4-byte length and a pickle (the parent's own data, never a client's).
Workers send back, once a second, the queries they answered per (line, rcode), added to the
server's ``query_counts`` so the metrics count every answer. A worker whose parent goes away (its
stdin closes) exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import struct
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import IO, Any

from federation.dns.lines import LineClassifier
from federation.dns.server import DnsServer, bind_udp

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # a worker imports dnspython and loads the line table before it binds
REPORT_INTERVAL = 1.0


def _frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("!I", len(body)) + body


def _read_frame(stream: IO[bytes]) -> Any:
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError
    (length,) = struct.unpack("!I", head)
    body = stream.read(length)
    if len(body) < length:
        raise EOFError
    return pickle.loads(body)  # frames from our own parent process


class WorkerPool:
    """``n`` worker processes answering UDP on ``server``'s port with copies of its zones."""

    def __init__(self, server: DnsServer, n: int, *, cidrs: Path | None = None) -> None:
        if n < 1:
            raise ValueError(f"dns_workers: expected at least 1 worker, got {n}")
        self.server = server
        self.n = n
        self.cidrs = cidrs
        self._procs: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._pending: list[bytes] = []  # changes made before the workers started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()  # orders the first frames against changes made meanwhile
        server.mirror = self._push

    @property
    def pids(self) -> list[int]:
        """The worker processes running now."""
        return [proc.pid for proc in self._procs if proc.returncode is None]

    def _push(self, change: tuple[Any, ...]) -> None:
        frame = _frame(change)
        with self._lock:
            if self._loop is None:
                self._pending.append(frame)
                return
        # zones are built off the loop (replica loads): hand the write to the loop, in order
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._write(frame)
        else:
            self._loop.call_soon_threadsafe(self._write, frame)

    def _write(self, frame: bytes) -> None:
        for proc in self._procs:
            if proc.stdin is not None and proc.returncode is None:
                proc.stdin.write(frame)

    async def start(self, host: str, port: int) -> None:
        """Start the workers on ``host:port`` (the server's: they read its UDP socket; a server not
        started yet has none, and each worker then binds the port with ``SO_REUSEPORT``, as the
        server must have) and wait until each answers there."""
        shared = self.server.share_udp()
        fds = () if shared is None else (shared.fileno(),)
        args = [sys.executable, "-m", "federation.dns.workers", host, str(port), str(fds[0]) if fds else "-"]
        if self.cidrs is not None:
            args.append(str(self.cidrs))
        for _ in range(self.n):
            proc = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=fds
            )
            self._procs.append(proc)
        with self._lock:
            self._loop = asyncio.get_running_loop()
            for frame in [*self._pending, _frame(("loaded", self.server.loaded))]:
                self._write(frame)
            self._pending.clear()
        try:
            async with asyncio.timeout(START_TIMEOUT):
                for proc in self._procs:
                    assert proc.stdout is not None
                    head = await proc.stdout.readexactly(4)
                    await proc.stdout.readexactly(struct.unpack("!I", head)[0])  # "ready"
        except (TimeoutError, asyncio.IncompleteReadError) as exc:
            await self.stop()
            raise OSError(f"dns workers did not start on {host}:{port}: {exc!r}") from None
        self._readers = [asyncio.create_task(self._collect(p), name="dns worker counts") for p in self._procs]
        log.info("dns: %d worker process(es) answering UDP on %s:%d", self.n, host, port)

    async def _collect(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await proc.stdout.readexactly(4)
                body = await proc.stdout.readexactly(struct.unpack("!I", head)[0])
                counts, stats = pickle.loads(body)  # from our own child process
                self.server.query_counts.update(counts)
                for key, n in stats.items():
                    self.server.stats[key] = self.server.stats.get(key, 0) + n
        if proc.returncode not in (None, 0, -signal.SIGTERM):
            log.warning("dns: a worker process exited with %s", proc.returncode)

    async def stop(self) -> list[int]:
        """Stop every worker; their exit statuses (0: a clean exit)."""
        for proc in self._procs:
            if proc.stdin is not None:
                proc.stdin.close()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._readers:
            task.cancel()
        codes = [proc.returncode for proc in self._procs if proc.returncode is not None]
        self._procs.clear()
        self._readers.clear()
        if self.server.mirror == self._push:
            self.server.mirror = None
        return codes


def _apply(server: DnsServer, change: tuple[Any, ...]) -> None:
    kind = change[0]
    if kind == "set":
        server.set_zone(change[1], change[2])
    elif kind == "replace":
        server.replace_names(change[1], change[2], change[3])
    elif kind == "remove":
        server.remove_zone(change[1])
    elif kind == "loaded":
        server.loaded = bool(change[1])


async def _worker(host: str, port: int, fd: int | None, cidrs: Path | None) -> None:
    server = DnsServer(LineClassifier.default(overlay_file=cidrs))
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    out = sys.stdout.buffer
    lock = threading.Lock()

    def send(message: Any) -> None:
        with lock:
            out.write(_frame(message))
            out.flush()

    caught_up = asyncio.Event()

    def read_changes() -> None:
        # Builds happen here, off the loop: the worker keeps answering while a big zone is built.
        try:
            while True:
                change = _read_frame(sys.stdin.buffer)
                _apply(server, change)
                if change[0] == "loaded" and not caught_up.is_set():
                    loop.call_soon_threadsafe(caught_up.set)
        except (EOFError, OSError, ValueError):
            pass
        loop.call_soon_threadsafe(caught_up.set)
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=read_changes, name="dns changes", daemon=True).start()
    # The pool sends the zones as they are, then the loaded flag: only then does this process take
    # queries (before, on the server's own socket, it would answer REFUSED for the zones not built).
    await caught_up.wait()
    if done.is_set():
        return
    sock = socket.socket(fileno=fd) if fd is not None else bind_udp(host, port, reuse_port=True)
    server.serve_udp(sock, thread=True)
    for sig in (signal.SIGINT, signal.SIGTERM):  # before "ready": a stop right after it ends cleanly
        loop.add_signal_handler(sig, done.set)
    send("ready")
    sent: Counter[tuple[str, str]] = Counter()
    sent_stats: Counter[str] = Counter()
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), REPORT_INTERVAL)
        counts = Counter(server.query_counts)
        stats = Counter(server.stats)
        delta, delta_stats = counts - sent, stats - sent_stats
        if delta or delta_stats:
            with contextlib.suppress(OSError, ValueError):
                await asyncio.to_thread(send, (dict(delta), dict(delta_stats)))
            sent, sent_stats = counts, stats
    # no server.stop(): shutting the inherited socket down would stop the server's own reads of it
    # (the UDP thread is a daemon; the process ends here)


def main(argv: list[str]) -> None:
    host, port = argv[0], int(argv[1])
    fd = None if argv[2] == "-" else int(argv[2])  # the server's UDP socket, inherited
    cidrs = Path(argv[3]) if len(argv) > 3 else None
    logging.basicConfig(level=os.environ.get("FEDCTL_LOG_LEVEL", "WARNING").upper())
    asyncio.run(_worker(host, port, fd, cidrs))
    # The thread reading the changes may still be inside stdin's read (SIGTERM came before the end of
    # the pipe): the interpreter's shutdown would then abort on stdin's lock ("Fatal Python error:
    # _enter_buffered_busy", exit status -6) at every stop of the controller. Every frame is flushed
    # as sent and nothing else needs closing, so leave without that shutdown.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
