"""`KubeSimulator`: many simulated clusters in one asyncio process, each on its own loopback port, sharing
one generated CA (HTTPS by default)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from pathlib import Path
from typing import Any

from federation.sandbox.kube import tls
from federation.sandbox.kube.cluster import SimCluster
from federation.sandbox.loopback import CCM_BLOCKS, NODE_BLOCKS, random_block

log = logging.getLogger(__name__)


class KubeSimulator:
    """Start with ``await sim.add_cluster(...)``; stop with ``await sim.stop()``."""

    def __init__(
        self,
        rollout_delay: float = 0.5,
        *,
        https: bool = True,
        progress_deadline: float | None = None,
        bookmark_interval: float = 5.0,
        history_size: int = 10_000,
        host: str = "127.0.0.1",
        node_ports: bool = False,
        pods: bool = True,
    ) -> None:
        """``node_ports``: every node gets its own loopback address (one random /16 per simulator) and
        serves the NodePorts of Services with ready endpoints there (see nodeports.py). ``pods``:
        Deployments get ReplicaSets and Pods (workloads.py); a benchmark of thousands of apps may turn
        them off to measure the controller rather than the simulator."""
        self.pods = pods
        self.rollout_delay = rollout_delay
        self.progress_deadline = (
            progress_deadline if progress_deadline is not None else max(3 * rollout_delay, 1.0)
        )
        self.bookmark_interval = bookmark_interval
        self.history_size = history_size
        self.host = host
        self.https = https
        self.cert: tls.ServingCert | None = tls.generate() if https else None
        self._ssl = self.cert.ssl_context() if self.cert else None
        self.clusters: dict[str, SimCluster] = {}
        # nodes answer on 127.<block>.<base + cluster index>.<node>: random per simulator, so that
        # simulators sharing a machine rarely pick the same addresses (and NodePorts)
        self.node_block = random_block(NODE_BLOCKS) if node_ports else None
        self._node_base = random.SystemRandom().randrange(256)
        # LoadBalancer Services' ingress addresses (the simulated cloud controller's SLBs), likewise
        self.lb_block = random_block(CCM_BLOCKS) if node_ports else None

    def _make(
        self, name: str, region: str | None, zones: list[str] | None, nodes: int, token: str | None = None
    ) -> SimCluster:
        if name in self.clusters:
            raise ValueError(f"cluster {name!r} already exists")
        region = region or name
        return SimCluster(
            name,
            region=region,
            zones=list(zones or [f"{region}-a", f"{region}-b"]),
            nodes=nodes,
            rollout_delay=self.rollout_delay,
            progress_deadline=self.progress_deadline,
            bookmark_interval=self.bookmark_interval,
            history_size=self.history_size,
            ssl_context=self._ssl,
            ca_pem=self.cert.ca_pem if self.cert else None,
            index=len(self.clusters),
            token=token,
            pods=self.pods,
            node_prefix=(
                f"127.{self.node_block}.{(self._node_base + len(self.clusters)) % 256}"
                if self.node_block is not None
                else None
            ),
            lb_prefix=(
                f"127.{self.lb_block}.{(self._node_base + len(self.clusters)) % 256}"
                if self.lb_block is not None
                else None
            ),
        )

    async def add_cluster(
        self,
        name: str,
        *,
        region: str | None = None,
        zones: list[str] | None = None,
        nodes: int = 3,
        port: int = 0,
    ) -> SimCluster:
        c = self._make(name, region, zones, nodes)
        c.host = self.host
        self.clusters[name] = c
        await c.start(port)
        log.info("simulated cluster %s (%s) listening on %s", name, c.region, c.url)
        return c

    def cluster(self, name: str) -> SimCluster:
        try:
            return self.clusters[name]
        except KeyError:
            raise KeyError(f"no simulated cluster named {name!r}") from None

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.clusters.values()), return_exceptions=True)

    def write_kubeconfigs(self, directory: str | Path) -> dict[str, Path]:
        return {n: c.kubeconfig_path(directory) for n, c in self.clusters.items()}

    # ----- snapshot / restore --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": 1, "clusters": [c.snapshot() for c in self.clusters.values()]}
        if self.cert:
            data["tls"] = {
                "ca": self.cert.ca_pem.decode(),
                "cert": self.cert.cert_pem.decode(),
                "key": self.cert.key_pem.decode(),
            }
        return data

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        tmp = p.with_suffix(p.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.snapshot(), f)
        tmp.replace(p)
        return p

    async def restore(self, path: str | Path) -> list[SimCluster]:
        """Recreate the clusters of a snapshot (same names, tokens, CA and, when free, ports)."""
        data = json.loads(await asyncio.to_thread(Path(path).read_text))
        t = data.get("tls")
        if t and self.https:
            self.cert = tls.ServingCert(t["ca"].encode(), t["cert"].encode(), t["key"].encode())
            self._ssl = self.cert.ssl_context()
        out = []
        for cd in data["clusters"]:
            c = self._make(cd["name"], cd["region"], cd["zones"], cd["nodes"], token=cd["token"])
            c.host = self.host
            c.restore(cd)
            self.clusters[c.name] = c
            try:
                await c.start(cd.get("port", 0), seed=False)
            except OSError:
                await c.start(0, seed=False)
            out.append(c)
        return out
