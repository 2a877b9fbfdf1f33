"""Fixtures of the controller tests: a simulated host and three members over real loopback sockets."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from federation.api import constants as c
from federation.clusters.kubeapi import DEPLOYMENTS, SERVICES, KubeApi, KubeError
from federation.controller.manager import ControllerConfig
from federation.controller.resources import FEDERATEDAPPS
from federation.sandbox.wiring import SYSTEM_NAMESPACE, Sandbox
from tests.waiting import wait_for

REGIONS = ("cn-hangzhou", "cn-beijing", "eu-central-1")


def fast_config(identity: str = "ctrl-a", **kw: Any) -> ControllerConfig:
    """Short leases and probe periods so the tests finish in seconds."""
    base: dict[str, Any] = {
        "namespace": SYSTEM_NAMESPACE,
        "identity": identity,
        "lease_duration": 2.0,
        "renew_deadline": 1.5,
        "retry_period": 0.25,
        "probe_interval": 0.5,
        "member_timeout": 1.0,
        "resync": 30.0,
        "status_refresh": 60.0,
    }
    base.update(kw)
    return ControllerConfig(**base)


def make_app(
    name: str = "web",
    replicas: int = 6,
    strategy: str = "Spread",
    regions: tuple[str, ...] = REGIONS,
    **placement: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": strategy, "regions": [{"name": r} for r in regions], **placement},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            "dns": {"zone": "example.com", "hostname": f"{name}.example.com"},
        },
    }


class World:
    """The sandbox plus direct clients to every cluster (what an operator's kubectl would see)."""

    def __init__(self, sb: Sandbox, members: dict[str, KubeApi]) -> None:
        self.sb = sb
        self.members = members

    @property
    def host(self) -> KubeApi:
        assert self.sb.host is not None
        return self.sb.host

    async def app(self, name: str = "web") -> dict[str, Any] | None:
        return await self.host.get(FEDERATEDAPPS, name, "shop")

    async def create_app(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.sb.apply_app(copy.deepcopy(body))

    async def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        await self.host.merge_patch(FEDERATEDAPPS, name, {"spec": spec}, "shop")

    async def deployment(self, region: str, name: str = "web") -> dict[str, Any] | None:
        return await self.members[region].get(DEPLOYMENTS, name, "shop")

    async def service(self, region: str, name: str = "web") -> dict[str, Any] | None:
        return await self.members[region].get(SERVICES, name, "shop")

    async def replicas(self, name: str = "web") -> dict[str, int | str | None]:
        """Replicas of the app's Deployment per member: None if absent, "unreachable" if we cannot tell."""
        out: dict[str, int | str | None] = {}
        for region in self.members:
            try:
                dep = await self.deployment(region, name)
            except KubeError:
                out[region] = "unreachable"
                continue
            out[region] = None if dep is None else dep["spec"]["replicas"]
        return out

    async def condition(self, cond: str, name: str = "web") -> tuple[str, str] | None:
        app = await self.app(name)
        for cd in ((app or {}).get("status") or {}).get("conditions") or []:
            if cd["type"] == cond:
                return cd["status"], cd["reason"]
        return None

    async def ready(self, name: str = "web") -> bool:
        app = await self.app(name)
        st = (app or {}).get("status") or {}
        gen = (app or {}).get("metadata", {}).get("generation")
        return st.get("observedGeneration") == gen and (await self.condition("Ready", name)) == (
            "True",
            "AllRegionsReady",
        )

    async def wait_replicas(
        self, expected: dict[str, int | str | None], name: str = "web", within: float = 15.0
    ) -> None:
        async def check() -> bool:
            return await self.replicas(name) == expected

        await wait_for(check, within, f"replicas {expected}")

    async def wait_ready(self, name: str = "web", within: float = 15.0) -> None:
        try:
            await wait_for(lambda: self.ready(name), within, f"app {name} Ready")
        except AssertionError as exc:  # say what the app looked like, not just "False"
            app = await self.app(name)
            raise AssertionError(
                f"{exc}; metadata.generation "
                f"{(app or {}).get('metadata', {}).get('generation')}, "
                f"status {(app or {}).get('status')}"
            ) from None

    async def events(self, reason: str) -> list[dict[str, Any]]:
        from federation.clusters.kubeapi import EVENTS

        items, _ = await self.host.list(EVENTS, "shop")
        return [e for e in items if e.get("reason") == reason]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    sb = Sandbox(tmp_path, regions=REGIONS, rollout_delay=0.1, run_controller=False, apply_example=False)
    await sb.start()
    members = {r: await KubeApi.from_kubeconfig_file(sb.kubeconfigs[r], name=f"test-{r}") for r in REGIONS}
    try:
        yield World(sb, members)
    finally:
        for api in members.values():
            await api.close()
        await stop_or_explain(sb)


async def stop_or_explain(sb: Sandbox, within: float = 30.0) -> None:
    """Stop the sandbox; if that hangs, fail with every pending task's stack (what is stuck, and where)."""
    try:
        await asyncio.wait_for(sb.stop(), within)
    except TimeoutError:
        import io

        out = io.StringIO()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.print_stack(file=out)
        raise AssertionError(
            f"sandbox did not stop within {within}s; pending tasks:\n{out.getvalue()}"
        ) from None
