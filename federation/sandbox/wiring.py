"""`fedctl sandbox`: a host cluster and regional member clusters on the simulator, with the controller.

The sandbox only wires stand-ins and configuration: it starts the Kubernetes simulator (a host cluster
and one member per region), applies the CRDs from ``crds/``, registers each member the way an operator
would (a Secret holding its kubeconfig plus a MemberCluster), applies the example FederatedApp, and
runs the very same :class:`~federation.controller.manager.Controller` that ``fedctl run`` runs.

``DIR/sandbox.json`` lists each cluster's kubeconfig path and region and the address of every service
the sandbox runs; a later stand-in (cloud emulator, DNS server, dashboard) registers itself with one
call to :meth:`Sandbox.add_service`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
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

from federation.api import constants as c
from federation.clusters.kubeapi import NAMESPACES, SECRETS, KubeApi, KubeError, Resource
from federation.controller.manager import Controller, ControllerConfig
from federation.controller.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.controller.steps import ReconcileStep

log = logging.getLogger(__name__)

DEFAULT_REGIONS = ("cn-hangzhou", "cn-beijing", "eu-central-1")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
EXAMPLE_APP = ROOT / "deploy" / "examples" / "federatedapp-web.yaml"
SYSTEM_NAMESPACE = "federation-system"


def _load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def fallback_app(regions: Sequence[str]) -> dict[str, Any]:
    """A minimal FederatedApp over ``regions``, for when no example manifest is at hand."""
    return {
        "apiVersion": c.API_VERSION, "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3 * len(regions),
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
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
    """A Secret with the member's kubeconfig and a MemberCluster pointing at it (idempotent)."""
    encoded = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": f"{name}-kubeconfig", "namespace": SYSTEM_NAMESPACE},
              "data": {c.DEFAULT_KUBECONFIG_KEY: encoded}}
    mc = {"apiVersion": c.API_VERSION, "kind": c.MEMBERCLUSTER_KIND, "metadata": {"name": name},
          "spec": {"region": region, "kubeconfigSecretRef": {"name": f"{name}-kubeconfig",
                                                             "namespace": SYSTEM_NAMESPACE}}}
    for res, body, ns in ((SECRETS, secret, SYSTEM_NAMESPACE), (MEMBERCLUSTERS, mc, None)):
        try:
            await host.create(res, body, ns)
        except KubeError as exc:
            if not exc.conflict:
                raise


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

    def __post_init__(self) -> None:
        from federation.sandbox.kube import KubeSimulator

        self.workdir = Path(self.workdir)
        self.sim = KubeSimulator(rollout_delay=self.rollout_delay)
        self.kubeconfigs: dict[str, Path] = {}
        self.cluster_regions: dict[str, str] = {}
        self.host: KubeApi | None = None
        self.controller: Controller | None = None  # the first one started
        self._controllers: dict[Controller, asyncio.Task[None]] = {}

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
        await self.apply_crds()
        await self.ensure_namespace(SYSTEM_NAMESPACE)
        for region in self.regions:
            await self.register_member(region, region)
        if self.apply_example:
            await self.apply_app(self.example_app())
        if self.run_controller:
            await self.start_controller()
        self.write_manifest()

    async def stop(self) -> None:
        for ctrl in list(self._controllers):
            await self.stop_controller(ctrl)
        if self.host is not None:
            await self.host.close()
            self.host = None
        await self.sim.stop()

    async def start_controller(self, config: ControllerConfig | None = None) -> Controller:
        """Start one controller against the host (a test may start more, e.g. a standby)."""
        host = await KubeApi.from_kubeconfig_file(self.kubeconfigs["host"], name="controller-host")
        config = config or self.controller_config or ControllerConfig(namespace=SYSTEM_NAMESPACE)
        ctrl = Controller(host, config, steps=self.steps)
        if self.controller is None:
            self.controller = ctrl
        self._controllers[ctrl] = asyncio.create_task(self._run_controller(ctrl),
                                                      name=f"controller {config.identity}")
        return ctrl

    @staticmethod
    async def _run_controller(ctrl: Controller) -> None:
        try:
            await ctrl.run()
        finally:
            await ctrl.host_raw.close()

    async def stop_controller(self, ctrl: Controller | None = None) -> None:
        """Stop one controller (default: the first); it gives its Lease up unless configured not to."""
        ctrl = ctrl or self.controller
        task = self._controllers.pop(ctrl, None) if ctrl is not None else None
        if ctrl is self.controller:
            self.controller = None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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
        return {
            "clusters": {n: {"kubeconfig": str(p), "region": self.cluster_regions[n] or None,
                             "role": "host" if n == "host" else "member"}
                         for n, p in self.kubeconfigs.items()},
            "services": self.services,
        }

    def write_manifest(self) -> Path:
        path = self.workdir / "sandbox.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.manifest(), indent=2, sort_keys=True))
        tmp.replace(path)
        return path

    def hints(self) -> str:
        host = self.kubeconfigs["host"]
        lines = ["The sandbox is up. Try:",
                 f"  kubectl --kubeconfig {host} get fapp -A",
                 f"  kubectl --kubeconfig {host} get mc",
                 f"  kubectl --kubeconfig {host} describe fapp web",
                 f"  fedctl status --kubeconfig {host}"]
        for region in self.regions:
            lines.append(f"  kubectl --kubeconfig {self.kubeconfigs[region]} get deploy,svc -A   # {region}")
        lines.append(f"  kubectl --kubeconfig {host} annotate mc {self.regions[0]} "
                     f"{c.ANNOTATION_REGION_HEALTH}={c.HEALTH_OVERRIDE_UNHEALTHY}   # drain a region")
        lines.append(f"Everything is listed in {self.workdir / 'sandbox.json'}. Ctrl-C stops it all.")
        return "\n".join(lines)


async def _serve(workdir: Path, rollout_delay: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    sandbox = Sandbox(workdir, rollout_delay=rollout_delay,
                      controller_config=ControllerConfig(namespace=SYSTEM_NAMESPACE, identity="sandbox"))
    try:
        await sandbox.start()
        click.echo(sandbox.hints())
        await stop.wait()
        click.echo("stopping the sandbox ...")
    finally:
        await sandbox.stop()


@click.command("sandbox")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for kubeconfigs and sandbox.json (default: a new temporary directory).")
@click.option("--rollout-delay", type=float, default=0.5, show_default=True,
              help="Seconds a simulated Deployment takes to become ready.")
def sandbox(workdir: Path | None, rollout_delay: float) -> None:
    """Run a host and three regional member clusters on the simulator, with the controller."""
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="fedctl-sandbox-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)  # kubeconfigs with bearer tokens live here
    asyncio.run(_serve(workdir, rollout_delay))
