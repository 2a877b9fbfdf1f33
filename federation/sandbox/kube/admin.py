"""The simulator's admin endpoint: flip faults, node readiness, failing deployments and the cloud
controller on a running simulator, and snapshot its state. Loopback only, its own bearer token (kept in
DIR/sim.json, never in the kubeconfigs)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from federation.logsetup import register_secret
from federation.sandbox.kube.errors import ApiError, status_body
from federation.sandbox.kube.simulator import KubeSimulator


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class AdminServer:
    def __init__(self, sim: KubeSimulator, token: str | None = None) -> None:
        self.sim = sim
        self.token = token or secrets.token_urlsafe(32)
        register_secret(self.token)
        self.port = 0
        self._runner: web.AppRunner | None = None
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/clusters", self.clusters)
        app.router.add_post("/clusters/{name}/faults", self.faults)
        app.router.add_post("/clusters/{name}/nodes/{node}/ready", self.node_ready)
        app.router.add_post("/clusters/{name}/deployments/{ns}/{dep}/fail", self.fail_deployment)
        app.router.add_post("/clusters/{name}/cloud-controller", self.cloud_controller)
        app.router.add_post("/snapshot", self.snapshot)
        self.app = app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(status_body(401, "Unauthorized", "Unauthorized"), 401)
        try:
            resp: web.StreamResponse = await handler(request)
            return resp
        except ApiError as e:
            return _json(e.status(), e.code)
        except (KeyError, ValueError) as e:
            return _json(status_body(400, "BadRequest", str(e).strip("'\"")), 400)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = getattr(server, "sockets", [])[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        body = orjson.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise ValueError("body: expected a JSON object")
        return body

    async def clusters(self, request: web.Request) -> web.Response:
        return _json(
            {
                n: {"url": c.url, "region": c.region, "faults": c.faults.describe(), "nodes": c.node_names()}
                for n, c in self.sim.clusters.items()
            }
        )

    async def faults(self, request: web.Request) -> web.Response:
        c = self.sim.cluster(request.match_info["name"])
        body = await self._body(request)
        mode = body.get("mode")
        if mode in (None, "clear"):
            c.faults.clear()
        else:
            c.faults.set_from(body)
        return _json(c.faults.describe())

    async def node_ready(self, request: web.Request) -> web.Response:
        c = self.sim.cluster(request.match_info["name"])
        body = await self._body(request)
        c.set_node_ready(request.match_info["node"], bool(body.get("ready", True)))
        return _json({"node": request.match_info["node"], "ready": bool(body.get("ready", True))})

    async def fail_deployment(self, request: web.Request) -> web.Response:
        c = self.sim.cluster(request.match_info["name"])
        body = await self._body(request)
        c.fail_deployment(
            request.match_info["ns"], request.match_info["dep"], bool(body.get("failing", True))
        )
        return _json({"failing": bool(body.get("failing", True))})

    async def cloud_controller(self, request: web.Request) -> web.Response:
        c = self.sim.cluster(request.match_info["name"])
        body = await self._body(request)
        c.set_cloud_controller(bool(body.get("enabled", True)))
        return _json({"enabled": bool(body.get("enabled", True))})

    async def snapshot(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        path = Path(str(body["path"]))
        self.sim.save(path)
        return _json({"path": str(path)})
