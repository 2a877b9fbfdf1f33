"""`fedctl sandbox`: a host cluster and regional member clusters on the simulator, with the controller.

The sandbox only wires stand-ins and configuration: it starts the Kubernetes simulator (a host cluster
and one member per region), applies the CRDs from ``crds/``, registers each member the way an operator
would (a Secret holding its kubeconfig plus a MemberCluster), applies the example FederatedApp, and
runs the very same controller that ``fedctl run`` runs, built by :mod:`federation.runtime`.

With ``dns_provider`` (``fedctl sandbox`` defaults to ``alidns``) it also runs the Alibaba Cloud
emulator in-process (domain ``example.com``, enterprise_standard edition so a 60 s TTL is allowed) and
a SQLite store under the workdir, and hands the controller the publisher that ``fedctl run`` would
build from the same settings (``federation.runtime.start_dns_side``): with ``alidns`` the records go to
the emulated alidns, whose DNS port answers them; with ``embedded`` the controller's own authoritative
server answers. Member Services are then of type LoadBalancer (the simulated cloud controller gives
them an address, which is each region's address in DNS until the regional SLB step lands).

``DIR/sandbox.json`` lists each cluster's kubeconfig path and region, the address of every service
the sandbox runs (a later stand-in registers itself with one call to :meth:`Sandbox.add_service`) and,
with DNS, ``dns`` (HOST:PORT answering the app's records), ``aliyun`` (the emulator's endpoint; its
AccessKey is in the 0600 ``DIR/aliyun.json``, never in sandbox.json) and ``database`` (the store URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from federation import gctune
from federation.api import constants as c
from federation.clusters.join import JoinSpec, join
from federation.clusters.kubeapi import NAMESPACES, KubeApi, KubeError, Resource
from federation.controller.manager import Controller, ControllerConfig
from federation.controller.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.controller.shutdown import stop_task
from federation.controller.steps import ReconcileStep
from federation.runtime import build_controller

log = logging.getLogger(__name__)

DEFAULT_REGIONS = ("cn-hangzhou", "cn-beijing", "eu-central-1")
LOOPBACK_ONLY = ("127.0.0.0/8",)
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
EXAMPLE_APP = ROOT / "deploy" / "examples" / "federatedapp-web.yaml"
SYSTEM_NAMESPACE = "federation-system"
DNS_ZONE = "example.com"
# Client populations of the shipped CIDR table whose nearest region differs for the example app
# (checked by tests/integration): (ECS subnet, who, the line it classifies to).
DNS_CLIENTS: tuple[tuple[str, str, str], ...] = (
    ("36.21.0.0/24", "China Telecom, Zhejiang", "cn_telecom_zhejiang"),
    ("123.125.0.0/24", "China Unicom, Beijing", "cn_unicom_beijing"),
    ("85.214.0.0/24", "Germany", "os_euro_de"),
)


def _load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def fallback_app(regions: Sequence[str]) -> dict[str, Any]:
    """A minimal FederatedApp over ``regions``, for when no example manifest is at hand."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3 * len(regions),
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": r} for r in regions]},
            "ports": [{"name": "http", "port": 80}],
            "dns": {"zone": "example.com", "hostname": "www.example.com"},
        },
    }


# --- what an operator does with kubectl, as functions (the sandbox and the benchmark use them) ---------


async def apply_crds(host: KubeApi) -> None:
    """Create the CRDs of ``crds/`` and wait until the API serves them."""
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in await asyncio.to_thread(_load_yaml_docs, path):
            try:
                await host.create(CRDS, doc)
            except KubeError as exc:
                if not exc.conflict:
                    raise
    for _ in range(200):  # the CRDs are served once Established
        try:
            await host.list(FEDERATEDAPPS, "default")
            await host.list(MEMBERCLUSTERS)
            return
        except KubeError:
            await asyncio.sleep(0.05)
    raise RuntimeError("the CRDs did not become available on the host cluster")


async def ensure_namespace(api: KubeApi, name: str) -> None:
    try:
        await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except KubeError as exc:
        if not exc.conflict:
            raise


async def register_member(host: KubeApi, name: str, region: str, kubeconfig: dict[str, Any]) -> None:
    """Join a member as an operator would with ``fedctl join`` (idempotent)."""
    await join(host, JoinSpec(name=name, region=region, namespace=SYSTEM_NAMESPACE), kubeconfig)


def example_app(regions: Sequence[str]) -> dict[str, Any]:
    """deploy/examples' FederatedApp when its regions are all in the sandbox, else :func:`fallback_app`."""
    if EXAMPLE_APP.exists():
        docs = [d for d in _load_yaml_docs(EXAMPLE_APP) if d.get("kind") == c.FEDERATEDAPP_KIND]
        if docs:
            app = docs[0]
            listed = [r["name"] for r in app["spec"]["placement"]["regions"]]
            if set(listed) <= set(regions):
                return app
    return fallback_app(regions)


@dataclass
class Sandbox:
    """The running sandbox: ``async with Sandbox(...) as sb``, or ``await sb.start()`` then ``stop()``."""

    workdir: Path
    regions: Sequence[str] = DEFAULT_REGIONS
    rollout_delay: float = 0.5
    controller_config: ControllerConfig | None = None
    run_controller: bool = True
    apply_example: bool = True
    steps: Sequence[ReconcileStep] = ()
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    dns_provider: str | None = None  # "alidns" | "embedded": run the DNS side (and the emulator, store)
    settings: Any = None  # federation.config.Settings the DNS side starts from (default: Settings())
    # SLB data plane: listener ports below 1024 go to port + offset (None: an ephemeral port) when
    # mapped, which is when the process is not root unless slb_map_privileged says otherwise
    slb_port_offset: int | None = None
    slb_map_privileged: bool | None = None
    slb_health_scale: float = 1.0  # < 1 makes SLB health checks faster than configured (tests)
    slb: bool = True  # with the emulator: the controller runs the regional SLB step (Managed mode)
    pods: bool = True  # members materialise ReplicaSets and Pods (off: a benchmark measures the controller)
    web: bool = False  # serve the dashboard (web_listen; any free port if that one is taken)
    sweeps: Any = None  # federation.health.sweeps.HealthConfig: run the health sweeps in the controller
    cen: bool = False  # with the emulator: the members' VPCs on one CEN with bandwidth, checked by the leader

    def __post_init__(self) -> None:
        from federation.sandbox.kube import KubeSimulator

        self.workdir = Path(self.workdir)
        self.sim = KubeSimulator(rollout_delay=self.rollout_delay, node_ports=True, pods=self.pods)
        self.kubeconfigs: dict[str, Path] = {}
        self.cluster_regions: dict[str, str] = {}
        self.host: KubeApi | None = None
        self.controller: Controller | None = None  # the first one started
        self._controllers: dict[Controller, asyncio.Task[None]] = {}
        self.emulator: Any = None  # AliyunEmulator
        self.db: Any = None  # federation.store.db.Database
        self.dns_runtime: Any = None  # federation.dns.runtime.DnsRuntime
        self.dns_address: tuple[str, int] | None = None  # where the app's records are answered
        self.database_url: str | None = None
        self.admin: Any = None  # the simulator's admin endpoint (faults from `fedctl sim kube fault`)
        self._slb_clients: list[Any] = []  # AlibabaClient of each controller's SLB step
        self.dashboard: Any = None  # federation.web.server.Dashboard

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- start/stop ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        kube_dir = self.workdir / "kubeconfigs"
        kube_dir.mkdir(exist_ok=True)
        host = await self.sim.add_cluster("host", region=self.regions[0], nodes=1)
        self._register_cluster("host", host.kubeconfig_path(kube_dir), "", host.url)
        for region in self.regions:
            cl = await self.sim.add_cluster(region, region=region, nodes=3)
            self._register_cluster(region, cl.kubeconfig_path(kube_dir), region, cl.url)
        self.host = await KubeApi.from_kubeconfig_file(self.kubeconfigs["host"], name="sandbox-host")
        await self.start_admin()
        await self.apply_crds()
        await self.ensure_namespace(SYSTEM_NAMESPACE)
        for region in self.regions:
            await self.register_member(region, region)
        if self.dns_provider:
            await self.start_dns()
            if self.cen:
                await self.connect_regions()
        if self.apply_example:
            app = self.example_app()
            text = yaml.safe_dump(app, sort_keys=False)  # for `fedctl dns plan -f`
            await asyncio.to_thread((self.workdir / "app.yaml").write_text, text)
            await self.apply_app(app)
        if self.run_controller:
            await self.start_controller()
        if self.web:
            await self.start_dashboard()
        self.write_manifest()

    async def start_dashboard(self) -> Any:
        """The dashboard, as ``fedctl run`` serves it, for the first controller (or none)."""
        from federation.config import Settings
        from federation.web.server import listen_address, serve_dashboard

        settings = self.settings if self.settings is not None else Settings()
        assert self.host is not None
        kwargs: dict[str, Any] = {
            "db": self.db,
            "controller": self.controller,
            "dns_runtime": self.dns_runtime,
            "lease": (SYSTEM_NAMESPACE, (self.controller_config or ControllerConfig()).lease_name),
        }
        try:
            self.dashboard = await serve_dashboard(settings, self.host, **kwargs)
        except OSError as exc:  # the configured port is taken: any free one on the same address
            host, _port = listen_address(settings.web_listen)
            log.info("dashboard: %s is taken (%s); using a free port", settings.web_listen, exc.strerror)
            self.dashboard = await serve_dashboard(settings, self.host, listen=f"{host}:0", **kwargs)
        self.add_service("web", self.dashboard.url)
        return self.dashboard

    async def start_admin(self) -> None:
        """The simulator's admin endpoint, and ``DIR/sim.json`` naming it (0600: it holds the admin
        token), so ``fedctl sim kube fault --out DIR --cluster cn-hangzhou down`` breaks a region of
        this sandbox as it would a standalone simulator's."""
        from federation.sandbox.kube.admin import AdminServer
        from federation.sandbox.kube.cli import SIM_JSON

        self.admin = AdminServer(self.sim)
        await self.admin.start()
        info = {
            "admin": {"url": self.admin.url, "token": self.admin.token},
            "pid": os.getpid(),
            "clusters": {
                n: {"url": cl.url, "region": cl.region, "kubeconfig": str(self.kubeconfigs.get(n, ""))}
                for n, cl in self.sim.clusters.items()
            },
        }
        fd = os.open(self.workdir / SIM_JSON, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f, indent=2)
        self.add_service("kube-admin", self.admin.url, faults=f"fedctl sim kube fault --out {self.workdir}")

    async def stop(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.close()
            self.dashboard = None
        for ctrl in list(self._controllers):
            await self.stop_controller(ctrl)
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None
        for client in self._slb_clients:
            await client.close()
        self._slb_clients.clear()
        if self.dns_runtime is not None:
            await self.dns_runtime.close()
            self.dns_runtime = None
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None
        if self.db is not None:
            await self.db.aclose()
            self.db = None
        if self.host is not None:
            await self.host.close()
            self.host = None
        await self.sim.stop()

    async def start_dns(self) -> None:
        """The Alibaba Cloud emulator, the store and the DNS publisher, configured as an operator would
        configure ``fedctl run`` against the real cloud (only the endpoint and the AccessKey differ)."""
        from pydantic import SecretStr

        from federation.config import Settings
        from federation.runtime import start_dns_side
        from federation.sandbox.aliyun import AliyunEmulator
        from federation.sandbox.aliyun.cli import CONFIG_NAME, _write_config
        from federation.sandbox.ecs import register_cluster_nodes
        from federation.sandbox.loopback import PortPolicy

        if self.dns_provider not in ("alidns", "embedded"):
            raise ValueError(f"dns_provider: {self.dns_provider!r} is not one of alidns, embedded")
        emu = AliyunEmulator(domains=[DNS_ZONE], edition="enterprise_standard")
        # SLBs answer on loopback and forward to the nodes' NodePorts; every member node is an ECS instance
        emu.attach_data_plane(
            port_policy=PortPolicy(map_privileged=self.slb_map_privileged, offset=self.slb_port_offset),
            interval_scale=self.slb_health_scale,
            on_change=self._slb_changed,
        )
        for region in self.regions:
            register_cluster_nodes(emu.slb, self.sim.cluster(region))
        # the emulator's DNS port answers only when alidns is where the records go: one answering server
        await emu.start(
            "127.0.0.1", 0, dns_host="127.0.0.1", dns_port=0 if self.dns_provider == "alidns" else None
        )
        self.emulator = emu
        aliyun_file = await asyncio.to_thread(
            _write_config,
            self.workdir,
            {
                "endpoint": emu.endpoint,
                "access_key_id": emu.access_key_id,
                "access_key_secret": emu.access_key_secret,
                "dns": f"{emu.dns_address[0]}:{emu.dns_address[1]}" if emu.dns_address else None,
                "domains": [DNS_ZONE],
                "edition": emu.edition,
                "admin_url": emu.admin_url,
                "admin_token": emu.admin_token,
                "pid": os.getpid(),
            },
        )
        assert aliyun_file.name == CONFIG_NAME
        self.database_url = f"sqlite:///{self.workdir / 'federation.db'}"
        base = self.settings if self.settings is not None else Settings()
        settings = base.model_copy(
            update={
                "database_url": self.database_url,
                "dns_provider": self.dns_provider,
                "dns_listen": "127.0.0.1:0",
                # auto would start a DNS process per spare core for a handful of queries, beside the
                # simulated clusters, the emulator and the SLB data plane that need those cores on a
                # developer's machine; a number set on purpose is kept
                "dns_workers": 0 if base.dns_workers == "auto" else base.dns_workers,
                "alibaba_access_key_id": emu.access_key_id,
                "alibaba_access_key_secret": SecretStr(emu.access_key_secret),
                "alibaba_endpoint": emu.endpoint,
            }
        )
        self.db, self.dns_runtime = await start_dns_side(settings, zones=(DNS_ZONE,))
        self.dns_address = self.dns_runtime.address or emu.dns_address
        assert self.dns_address is not None
        self.add_service("aliyun", emu.endpoint, config=str(aliyun_file), domains=[DNS_ZONE])
        self.add_service("database", self.database_url)
        self.add_service(
            "dns", f"{self.dns_address[0]}:{self.dns_address[1]}", provider=self.dns_provider, zone=DNS_ZONE
        )

    def _slb_changed(self) -> None:
        """Record every served SLB listener, with the port it really listens on, in sandbox.json."""
        dp = self.emulator.data_plane if self.emulator is not None else None
        if dp is not None:
            self.add_service("slb", f"127.{dp.block}.0.0/16", listeners=dp.listeners())

    def slb_listeners(self) -> list[dict[str, Any]]:
        """The SLB listeners that really answer: load balancer, address, listener and bound port."""
        dp = self.emulator.data_plane if self.emulator is not None else None
        return dp.listeners() if dp is not None else []

    async def start_controller(self, config: ControllerConfig | None = None) -> Controller:
        """Start one controller against the host (a test may start more, e.g. a standby)."""
        host = await KubeApi.from_kubeconfig_file(self.kubeconfigs["host"], name="controller-host")
        config = config or self.controller_config or ControllerConfig(namespace=SYSTEM_NAMESPACE)
        slb = None
        if self.emulator is not None and self.slb:
            # Managed mode: the controller's own SLB per (app, region), on the emulated SLB API
            from federation.cloud.alibaba.client import AlibabaClient
            from federation.cloud.alibaba.slb import SlbApi

            client = AlibabaClient(
                self.emulator.access_key_id,
                self.emulator.access_key_secret,
                self.regions[0],
                endpoint=self.emulator.endpoint,
            )
            self._slb_clients.append(client)
            slb = SlbApi(client)
        elif self.dns_runtime is not None and config.service_type != "LoadBalancer":
            # the Service's load-balancer address is each region's address in DNS
            config = dataclasses.replace(config, service_type="LoadBalancer")
        ctrl = build_controller(
            host, config, dns=self.dns_runtime, steps=self.steps, slb=slb, store=self.db, sweeps=self.sweeps
        )
        if self.cen and slb is not None:
            from federation.cloud.alibaba.cen import CenApi

            ctrl.check_network(CenApi(slb.client), interval=10.0)
        if self.controller is None:
            self.controller = ctrl
        self._controllers[ctrl] = asyncio.create_task(
            self._run_controller(ctrl), name=f"controller {config.identity}"
        )
        return ctrl

    @staticmethod
    async def _run_controller(ctrl: Controller) -> None:
        if ctrl.network is not None:
            await ctrl.network.start()
        try:
            await ctrl.run()
        finally:
            if ctrl.network is not None:
                await ctrl.network.stop()
            await ctrl.host_raw.close()

    async def connect_regions(self) -> None:
        """What a network team does before the fleet joins: one CEN, each member's VPC attached to it,
        a bandwidth plan per pair of areas and an inter-region limit for every pair of regions; the
        MemberClusters name their cenId and vpcId (so ``fedctl network check`` and ``NetworkReady``
        have something to say). Through the emulated Cbn API, as an operator would."""
        from itertools import combinations

        from federation.cloud.alibaba.cen import CenApi
        from federation.cloud.alibaba.client import AlibabaClient
        from federation.sandbox.aliyun.cen import area_of

        assert self.emulator is not None
        assert self.host is not None
        emu = self.emulator
        api = CenApi(
            AlibabaClient(emu.access_key_id, emu.access_key_secret, self.regions[0], endpoint=emu.endpoint)
        )
        try:
            cen_id = await api.create_cen("sandbox", client_token="sandbox-cen")
            for region in self.regions:
                vpc = "vpc-" + region.replace("-", "")
                await api.attach_child_instance(cen_id, vpc, region)
                while True:  # CEN takes one attachment at a time
                    children = await api.describe_attached_child_instances(cen_id)
                    if all(ch["Status"] == "Attached" for ch in children):
                        break
                    await asyncio.sleep(0.1)
                await self.host.merge_patch(MEMBERCLUSTERS, region, {"spec": {"cenId": cen_id, "vpcId": vpc}})
            spans = sorted(
                {tuple(sorted((area_of(a), area_of(b)))) for a, b in combinations(self.regions, 2)}
            )
            for i, (area_a, area_b) in enumerate(spans):
                pkg = await api.create_bandwidth_package(100, area_a, area_b, client_token=f"sandbox-bwp-{i}")
                await api.associate_bandwidth_package(cen_id, pkg)
            for a, b in combinations(self.regions, 2):
                await api.set_inter_region_bandwidth_limit(cen_id, a, b, 10)
        finally:
            await api.client.close()

    async def stop_controller(self, ctrl: Controller | None = None) -> None:
        """Stop one controller (default: the first); it gives its Lease up unless configured not to."""
        ctrl = ctrl or self.controller
        task = self._controllers.pop(ctrl, None) if ctrl is not None else None
        if ctrl is self.controller:
            self.controller = None
        if task is not None:
            await stop_task(task, what=f"controller {ctrl.config.identity if ctrl else ''}")

    # --- what an operator does with kubectl -------------------------------------------------------

    def _register_cluster(self, name: str, kubeconfig: Path, region: str, url: str) -> None:
        self.kubeconfigs[name] = kubeconfig
        self.cluster_regions[name] = region
        self.add_service(f"kube-{name}", url, kubeconfig=str(kubeconfig), region=region or None)

    def add_service(self, name: str, address: str, **info: Any) -> None:
        """Record a service of the sandbox in sandbox.json (the one line a new stand-in needs)."""
        self.services[name] = {"address": address, **{k: v for k, v in info.items() if v is not None}}
        if self.workdir.exists() and (self.workdir / "sandbox.json").exists():
            self.write_manifest()

    async def apply_crds(self) -> None:
        assert self.host is not None
        await apply_crds(self.host)

    async def ensure_namespace(self, name: str, api: KubeApi | None = None) -> None:
        api = api or self.host
        assert api is not None
        await ensure_namespace(api, name)

    async def register_member(self, name: str, region: str) -> None:
        """What an operator does to join a member: its kubeconfig in a Secret, and a MemberCluster."""
        assert self.host is not None
        await register_member(self.host, name, region, self.sim.cluster(name).kubeconfig_dict())

    def example_app(self) -> dict[str, Any]:
        return example_app(self.regions)

    async def apply_app(self, app: dict[str, Any]) -> dict[str, Any]:
        assert self.host is not None
        ns = app["metadata"].get("namespace", "default")
        await self.ensure_namespace(ns)
        try:
            return await self.host.create(FEDERATEDAPPS, app, ns)
        except KubeError as exc:
            if not exc.conflict:
                raise
            got = await self.host.get(FEDERATEDAPPS, app["metadata"]["name"], ns)
            assert got is not None
            return got

    # --- the manifest -----------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "clusters": {
                n: {
                    "kubeconfig": str(p),
                    "region": self.cluster_regions[n] or None,
                    "role": "host" if n == "host" else "member",
                }
                for n, p in self.kubeconfigs.items()
            },
            "services": self.services,
        }
        for name in ("dns", "aliyun", "database", "web"):  # the ones a user reaches for, at the top level
            if name in self.services:
                doc[name] = self.services[name]["address"]
        return doc

    def write_manifest(self) -> Path:
        path = self.workdir / "sandbox.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.manifest(), indent=2, sort_keys=True))
        tmp.replace(path)
        return path

    async def wait_dns_published(
        self, name: str = "web", namespace: str = "default", within: float = 30.0
    ) -> dict[str, str]:
        """Wait until the app's DNS is published; returns each region's address (empty on timeout)."""
        assert self.host is not None
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            app = await self.host.get(FEDERATEDAPPS, name, namespace)
            st = (app or {}).get("status") or {}
            conds = {cd.get("type"): cd.get("status") for cd in st.get("conditions") or []}
            if conds.get(c.COND_DNS_PUBLISHED) == "True":
                return {r["region"]: r["address"] for r in st.get("regions") or [] if r.get("address")}
            await asyncio.sleep(0.1)
        return {}

    def dns_hints(self, addresses: dict[str, str] | None = None) -> list[str]:
        """The DNS part of :meth:`hints`: dig commands for client populations that get different
        regions, ``fedctl dns`` against this sandbox's store and server, and draining a region."""
        if self.dns_address is None:
            return []
        h, p = self.dns_address
        fed = "fedctl"  # FEDCTL_DATABASE_URL comes from the export line
        hostname = f"www.{DNS_ZONE}"
        lines = [
            f"DNS: {hostname} is answered on {h}:{p} ({self.dns_provider}); each client population "
            "gets its nearest healthy region (dig is in Debian's bind9-dnsutils; each dig has its "
            "`fedctl dns query` twin):"
        ]
        if addresses:
            lines.append("  region addresses: " + ", ".join(f"{r} {a}" for r, a in addresses.items()))
        for cidr, who, line in DNS_CLIENTS:
            lines.append(f"  dig @{h} -p {p} {hostname} +subnet={cidr} +short   # {who} (line {line})")
            lines.append(f"  fedctl dns query {hostname} --client-ip {cidr} --server {h}:{p}")
        lines.append(f"  dig @{h} -p {p} {hostname} +short   # no client subnet: line default, every region")
        lines.append(f"  fedctl dns query {hostname} --client-ip 0.0.0.0/0 --server {h}:{p}")
        lines += [
            f"  {fed} dns show {hostname} --client-ip {DNS_CLIENTS[0][0]}",
            f"  {fed} dns log {hostname}   # every change with its reason",
        ]
        if addresses and set(addresses) == set(self.regions):
            regs = " ".join(
                f"--region {r}={a}{',unhealthy' if r == self.regions[0] else ''}"
                for r, a in addresses.items()
            )
            lines.append(
                f"  {fed} dns plan -f {self.workdir / 'app.yaml'} {regs}   "
                f"# what losing {self.regions[0]} would change"
            )
        listeners = self.slb_listeners()
        if listeners:
            lines.append("SLB listeners answering on loopback (curl a region; DNS answers these addresses):")
            for li in listeners:
                scheme = "https" if li["protocol"] == "https" else "http"
                port = (
                    ""
                    if li["bound_port"] == {"http": 80, "https": 443}.get(scheme)
                    else f":{li['bound_port']}"
                )
                flag = " -k" if scheme == "https" else ""
                note = f"{li['region']} {li['load_balancer_id']}"
                if li["bound_port"] != li["listener_port"]:
                    note += f" listener {li['listener_port']}"
                lines.append(f"  curl{flag} {scheme}://{li['address']}{port}/   # {note}")
        first = self.regions[0]
        lines += [
            f"Drain {first} (its clients move within seconds; re-run the digs), then bring it back:",
            f"  kubectl annotate mc {first} {c.ANNOTATION_REGION_HEALTH}={c.HEALTH_OVERRIDE_UNHEALTHY}",
            f"  kubectl annotate mc {first} {c.ANNOTATION_REGION_HEALTH}-",
        ]
        return lines

    def hints(self, addresses: dict[str, str] | None = None) -> str:
        host = self.kubeconfigs["host"]
        exports = f"export KUBECONFIG={host}"
        if self.database_url:
            exports += f" FEDCTL_DATABASE_URL={self.database_url}"
        lines = [
            "The sandbox is up. In another shell, first:",
            f"  {exports}",
            "Then try:",
            "  kubectl get fapp -A",
            "  kubectl get mc",
            "  kubectl describe fapp web",
            "  fedctl status",
        ]
        for region in self.regions:
            lines.append(f"  kubectl --kubeconfig {self.kubeconfigs[region]} get deploy,svc -A   # {region}")
        if self.dns_address is None:
            lines.append(
                f"  kubectl annotate mc {self.regions[0]} "
                f"{c.ANNOTATION_REGION_HEALTH}={c.HEALTH_OVERRIDE_UNHEALTHY}   # drain a region"
            )
        lines += self.dns_hints(addresses)
        if self.dashboard is not None:
            lines.append(
                f"Dashboard: {self.dashboard.url}  (JSON API under /api/v1/, Prometheus at /metrics)"
            )
        if self.admin is not None:
            first = self.regions[0]
            lines += [
                f"Break {first} and watch the health sweeps react (then heal it):",
                f"  fedctl sim kube fault --out {self.workdir} --cluster {first} down    # then: clear",
                f"  fedctl sim kube fault --out {self.workdir} --cluster {first} deployment-fail default/web"
                "    # then: deployment-heal default/web",
                "  fedctl health web",
                "  fedctl health transitions --since 10m",
            ]
        if self.cen and self.emulator is not None:
            emu = self.emulator
            lines += [
                "The regions are joined by one CEN; check each pair (attached, bandwidth, RTT):",
                f"  FEDCTL_ALIBABA_ENDPOINT={emu.endpoint} FEDCTL_ALIBABA_ACCESS_KEY_ID={emu.access_key_id} "
                f'FEDCTL_ALIBABA_ACCESS_KEY_SECRET=$(python3 -c "import json;print(json.load(open('
                f"'{self.workdir / 'aliyun.json'}'))['access_key_secret'])\") fedctl network check",
            ]
        lines.append(f"Everything is listed in {self.workdir / 'sandbox.json'}. Ctrl-C stops it all.")
        return "\n".join(lines)


async def _serve(
    workdir: Path, rollout_delay: float, dns_provider: str | None, settings: Any, **options: Any
) -> None:
    from federation.health.sweeps import HealthConfig

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    sandbox = Sandbox(
        workdir,
        rollout_delay=rollout_delay,
        dns_provider=dns_provider,
        settings=settings,
        controller_config=ControllerConfig(namespace=SYSTEM_NAMESPACE, identity="sandbox"),
        # the health sweeps probe loopback only (the emulated SLBs' VIPs are on 127.x)
        sweeps=HealthConfig(probe_networks=LOOPBACK_ONLY),
        **options,
        web=True,
        cen=bool(dns_provider),
    )
    try:
        await sandbox.start()
        addresses: dict[str, str] = {}
        if dns_provider:  # the hints show the regions' addresses; Ctrl-C meanwhile still stops at once
            waiting = asyncio.create_task(sandbox.wait_dns_published())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not waiting.done():
                waiting.cancel()
                return
            addresses = waiting.result()
        click.echo(sandbox.hints(addresses))
        await stop.wait()
        click.echo("stopping the sandbox ...")
    finally:
        await sandbox.stop()


@click.command("sandbox")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for kubeconfigs and sandbox.json (default: a new temporary directory).",
)
@click.option(
    "--rollout-delay",
    type=float,
    default=0.5,
    show_default=True,
    help="Seconds a simulated Deployment takes to become ready.",
)
@click.option(
    "--dns-provider",
    type=click.Choice(["alidns", "embedded", "none"]),
    default="alidns",
    show_default=True,
    help="Where the controller publishes DNS: the emulated alidns (its DNS port answers), the "
    "embedded authoritative server, or nowhere.",
)
@click.option(
    "--slb-map-ports",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Serve SLB listener ports below 1024 on another port (recorded in sandbox.json): auto "
    "does it when not running as root.",
)
@click.option(
    "--slb-port-offset",
    type=click.IntRange(1, 64511),
    default=None,
    help="A mapped SLB listener port is port + OFFSET (e.g. 8000: 80 -> 8080); default: an ephemeral port.",
)
@click.pass_context
def sandbox(
    ctx: click.Context,
    workdir: Path | None,
    rollout_delay: float,
    dns_provider: str,
    slb_map_ports: str,
    slb_port_offset: int | None,
) -> None:
    """Run a host and three regional member clusters on the simulator, the Alibaba Cloud emulator and
    a DNS server, with the controller."""
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="fedctl-sandbox-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)  # kubeconfigs with bearer tokens live here
    settings = ctx.find_root().obj  # fedctl's settings (None when called on its own)
    gctune.tune(settings.gc_threshold if settings is not None else gctune.DEFAULT_THRESHOLD)
    asyncio.run(
        _serve(
            workdir,
            rollout_delay,
            None if dns_provider == "none" else dns_provider,
            settings,
            slb_map_privileged={"auto": None, "always": True, "never": False}[slb_map_ports],
            slb_port_offset=slb_port_offset,
        )
    )
