"""One simulated cluster: its API state, HTTP listener on its own loopback port, faults, simulated
controllers, seeded nodes and namespaces, and its kubeconfig."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import logging
import secrets
import ssl
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from federation.logsetup import register_secret
from federation.sandbox.kube.api import ClusterApi, now_iso
from federation.sandbox.kube.behaviour import Behaviours
from federation.sandbox.kube.faults import Faults
from federation.sandbox.kube.nodeports import ADDRESS_ANNOTATION, NodePorts
from federation.sandbox.kube.podrun import PodRunner
from federation.sandbox.kube.server import KUBE_VERSION, ClusterServer
from federation.sandbox.kube.workloads import Workloads

log = logging.getLogger(__name__)

# First characters of ECS instance ids per region, so providerIDs look like the real ones.
_INSTANCE_PREFIX = {
    "cn-hangzhou": "bp1",
    "cn-shanghai": "uf6",
    "cn-beijing": "2ze",
    "cn-shenzhen": "wz9",
    "cn-qingdao": "m5e",
    "cn-zhangjiakou": "8vb",
    "cn-hongkong": "j6c",
    "ap-southeast-1": "t4n",
    "us-west-1": "rj9",
    "eu-central-1": "gw8",
}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class SimCluster:
    def __init__(
        self,
        name: str,
        *,
        region: str,
        zones: list[str],
        nodes: int,
        rollout_delay: float,
        progress_deadline: float,
        bookmark_interval: float,
        history_size: int,
        ssl_context: ssl.SSLContext | None,
        ca_pem: bytes | None,
        index: int,
        token: str | None = None,
        node_prefix: str | None = None,
        lb_prefix: str | None = None,
        pods: bool = True,
    ) -> None:
        self.name = name
        self.index = index
        # "127.a.b": node i answers on 127.a.b.(i+1); None: NodePorts do not really answer
        self.node_prefix = node_prefix
        self.nodeports: NodePorts | None = None
        self.region = region
        self.zones = zones
        self.node_count = nodes
        self.bookmark_interval = bookmark_interval
        self.ssl_context = ssl_context
        self.ca_pem = ca_pem
        self.token = token or secrets.token_urlsafe(32)
        register_secret(self.token)
        self.auth_header = f"Bearer {self.token}"
        self.api = ClusterApi(history_size)
        self.faults = Faults()
        self.faults.on_change.append(self._fault_changed)
        self.behaviours = Behaviours(
            self.api,
            rollout_delay=rollout_delay,
            progress_deadline=progress_deadline,
            # with a data plane, LoadBalancer Services get loopback addresses that answer (nodeports.py)
            lb_prefix=lb_prefix or f"47.{96 + index % 100}",
        )
        self.pods = PodRunner(self.api)  # run-to-completion Pods (the join preflight's readers)
        # the ReplicaSets and Pods behind each Deployment; Endpoints list its ready Pods
        self.workloads = Workloads(
            self.api,
            plan=self.behaviours.pools_of,
            is_failing=lambda key: key in self.behaviours.failing,
            on_pods_changed=self.behaviours.pods_changed,
        )
        self.materialise_pods = pods
        if pods:
            self.behaviours.pod_source = self.workloads.ready_pods
        self.denied: set[str] = set()  # "verb group/resource" the simulated identity may not do
        self.server = ClusterServer(self)
        self.port = 0
        self.host = "127.0.0.1"
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._down = False

    # ----- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    async def start(self, port: int = 0, seed: bool = True) -> None:
        if seed:
            self._seed()
        self.behaviours.start()
        self.pods.start()
        if self.materialise_pods:
            self.workloads.start()
        if self.node_prefix is not None:
            self.nodeports = NodePorts(
                self.api, cluster=self.name, region=self.region, lb_prefix=self.behaviours.lb_prefix
            )
            self.nodeports.start()
        self._runner = web.AppRunner(
            self.server.app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await self._listen(port)
        if self.faults.mode == "down":
            await self._go_down()

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(
            self._runner, self.host, port, ssl_context=self.ssl_context, reuse_address=True
        )
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.behaviours.stop()
        self.pods.stop()
        self.workloads.stop()
        if self.nodeports is not None:
            await self.nodeports.stop()
            self.nodeports = None
        self.api.store.close_watchers()
        await self._drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _drop_connections(self) -> None:
        for t in list(self.server.watch_tasks):
            t.cancel()
        runner = self._runner
        if runner is not None and runner.server is not None:
            for conn in list(runner.server.connections):
                conn.force_close()
                tr = conn.transport
                if tr is not None:
                    tr.abort()

    async def _go_down(self) -> None:
        """Connection refused from now on: close the listening socket and every open connection."""
        if self._down or self._site is None:
            return
        self._down = True
        await self._site.stop()
        self._site = None
        self.api.store.close_watchers()
        await self._drop_connections()

    async def _come_up(self) -> None:
        if not self._down:
            return
        for _ in range(50):
            try:
                await self._listen(self.port)
                break
            except OSError:
                await asyncio.sleep(0.1)  # the port may linger briefly after close
        self._down = False

    async def _fault_changed(self, faults: Faults, previous: str | None) -> None:
        if faults.mode == "down":
            await self._go_down()
        elif previous == "down":
            await self._come_up()

    # ----- seeded state ---------------------------------------------------------------------------
    def _seed(self) -> None:
        ns_rt = self.api.resolve("", "v1", "namespaces")
        for ns in SYSTEM_NAMESPACES:
            if self.api.store.get(ns_rt.key, ("", ns)) is None:
                self.api.create(ns_rt, None, {"metadata": {"name": ns}})
        for i in range(self.node_count):
            self.add_node(i)
        svc_rt = self.api.resolve("", "v1", "services")
        if self.api.store.get(svc_rt.key, ("default", "kubernetes")) is None:
            self.api.create(
                svc_rt,
                "default",
                {
                    "metadata": {
                        "name": "kubernetes",
                        "labels": {"component": "apiserver", "provider": "kubernetes"},
                    },
                    "spec": {
                        "clusterIP": "10.96.0.1",
                        "ports": [{"name": "https", "port": 443, "targetPort": 6443}],
                    },
                },
            )

    def add_node(self, i: int) -> dict[str, Any]:
        zone = self.zones[i % len(self.zones)] if self.zones else f"{self.region}-a"
        ip = f"192.168.{i // 250}.{i % 250 + 10}"
        name = f"{self.region}.{ip}"
        digest = hashlib.sha256(f"{self.name}/{i}".encode()).hexdigest()
        instance = f"i-{_INSTANCE_PREFIX.get(self.region, digest[:3])}{digest[3:20]}"
        now = now_iso()
        cond = [
            {
                "type": t,
                "status": "False",
                "reason": r,
                "message": m,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for t, r, m in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            )
        ]
        cond.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        )
        capacity = {"cpu": "4", "memory": "16133236Ki", "pods": "64", "ephemeral-storage": "123722704Ki"}
        node: dict[str, Any] = {
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "ecs.g6.xlarge",
                    "topology.kubernetes.io/region": self.region,
                    "topology.kubernetes.io/zone": zone,
                    "failure-domain.beta.kubernetes.io/region": self.region,
                    "failure-domain.beta.kubernetes.io/zone": zone,
                },
            },
            "spec": {"providerID": f"{self.region}.{instance}", "podCIDR": f"172.20.{i}.0/24"},
            "status": {
                "capacity": capacity,
                "allocatable": dict(capacity),
                "conditions": cond,
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "nodeInfo": {
                    "kubeletVersion": KUBE_VERSION["gitVersion"] + "-aliyun.1",
                    "kubeProxyVersion": KUBE_VERSION["gitVersion"] + "-aliyun.1",
                    "containerRuntimeVersion": "containerd://1.6.28",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "osImage": "Alibaba Cloud Linux 3",
                    "kernelVersion": "5.10.134-16.al8.x86_64",
                    "machineID": digest[:32],
                    "systemUUID": digest[32:64],
                    "bootID": digest[:36],
                },
            },
        }
        if self.node_prefix is not None:
            if not 0 <= i < 254:
                raise ValueError(f"node index {i}: the data plane gives a cluster at most 254 nodes")
            # where this node's NodePorts really answer (see nodeports.py)
            node["metadata"]["annotations"] = {ADDRESS_ANNOTATION: f"{self.node_prefix}.{i + 1}"}
        rt = self.api.resolve("", "v1", "nodes")
        existing = self.api.store.get(rt.key, ("", name))
        if existing is not None:
            return existing
        created = self.api.create(rt, None, node)
        # the kubelet's heartbeat Lease, as `kubectl describe node` looks it up
        lease_rt = self.api.resolve("coordination.k8s.io", "v1", "leases")
        self.api.create(
            lease_rt,
            "kube-node-lease",
            {
                "metadata": {
                    "name": name,
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": name, "uid": created["metadata"]["uid"]}
                    ],
                },
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": 40,
                    "renewTime": now.replace("Z", ".000000Z"),
                },
            },
        )
        return created

    # ----- controls ------------------------------------------------------------------------------
    def set_node_ready(self, node_name: str, ready: bool) -> None:
        self.behaviours.set_node_ready(node_name, ready)

    def fail_deployment(self, ns: str, name: str, failing: bool) -> None:
        self.behaviours.fail_deployment(ns, name, failing)

    def set_cloud_controller(self, enabled: bool) -> None:
        self.behaviours.set_cloud_controller(enabled)

    def request_log(self) -> list[tuple[str, str, str]]:
        """(method, path, query string) of the requests received, oldest first (the latest 10 000)."""
        return list(self.server.log)

    def request_counts(self) -> dict[str, int]:
        """Requests this cluster's API received so far, by HTTP method (faulted ones included)."""
        return dict(self.server.requests)

    def node_names(self) -> list[str]:
        return [k[1] for k, _ in self.api.store.iter_objects("/nodes")]

    # ----- kubeconfig ----------------------------------------------------------------------------
    def kubeconfig_dict(self) -> dict[str, Any]:
        cluster: dict[str, Any] = {"server": self.url}
        if self.ca_pem:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        user = f"{self.name}-admin"
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": self.name, "cluster": cluster}],
            "users": [{"name": user, "user": {"token": self.token}}],
            "contexts": [
                {"name": self.name, "context": {"cluster": self.name, "user": user, "namespace": "default"}}
            ],
            "current-context": self.name,
        }

    def kubeconfig_path(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{self.name}.kubeconfig"
        p.touch(mode=0o600, exist_ok=True)
        p.chmod(0o600)
        p.write_text(yaml.safe_dump(self.kubeconfig_dict(), sort_keys=False))
        return p

    # ----- snapshot ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        st = self.api.store
        return {
            "name": self.name,
            "region": self.region,
            "zones": self.zones,
            "nodes": self.node_count,
            "port": self.port,
            "token": self.token,
            "rv": st.rv,
            "objects": {rkey: list(b.values()) for rkey, b in st.objects.items() if b},
            "ips": self.api.ips.snapshot(),
            "failing": sorted(list(k) for k in self.behaviours.failing),
            "cloud_controller": self.behaviours.cloud_controller,
            "lb_next": self.behaviours.lb_next,
            "faults": self.faults.describe(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        st = self.api.store
        crd_key = "apiextensions.k8s.io/customresourcedefinitions"
        for rkey, objs in data["objects"].items():
            bucket = st.bucket(rkey)
            for o in objs:
                md = o["metadata"]
                key = (md.get("namespace", "") or "", md["name"])
                bucket[key] = copy.deepcopy(o)
                st._index(rkey, key, bucket[key])
        st._sorted.clear()
        st.rv = int(data["rv"])
        st.compacted_rv = st.rv  # watch history does not survive a restore: clients re-list (410)
        for crd in st.objects.get(crd_key, {}).values():
            self.api._sync_crd_types(crd)
        self.api.ips.restore(data["ips"])
        self.behaviours.failing = {(a, b) for a, b in data.get("failing", [])}
        self.behaviours.cloud_controller = bool(data.get("cloud_controller", True))
        self.behaviours.lb_next = int(data.get("lb_next", 10))
        f = data.get("faults") or {}
        if f.get("mode"):
            with contextlib.suppress(ValueError):
                self.faults.set_from(f)
