"""The dashboard's HTTP server (aiohttp): the pages, the JSON API under ``/api/v1``, ``/metrics``,
``/healthz`` and ``/readyz``.

Read-only by construction: it reads the host cluster through its own ungated-for-reads, closed-for-
writes client (list+watch caches of FederatedApps and MemberClusters, so a standby replica or
``fedctl dashboard`` on a laptop serves the same pages as the leader), and the store through
:class:`~federation.store.db.Database`; the only routes are GETs (and the login form's POST).

Security: it binds loopback unless told otherwise; with a token (``web_token``) every route but
``/healthz`` and ``/readyz`` wants ``Authorization: Bearer TOKEN`` or the cookie the login form sets;
pages are static files that put every value in the DOM as text (never markup), under a Content
Security Policy that allows only this origin's script and style; every JSON body passes the log
redactor, so a registered secret (the AccessKey secret, a database password) cannot leave even if
some status message carried it. Nothing reads Secrets.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from federation.clusters.kubeapi import EVENTS, LEASES, KubeApi, KubeError
from federation.controller.informer import Informer, Obj
from federation.controller.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.logsetup import redact
from federation.web import views
from federation.web.metrics import DashboardMetrics, exposition

log = logging.getLogger(__name__)

COOKIE = "fedctl_token"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/static/style.css", "/favicon.svg"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGES = ("index.html",)
MAX_LIMIT = 1000
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BadRequest(ValueError):
    """A query parameter that cannot be used; the message names it."""


def parse_time(value: str | None, name: str, now: datetime) -> datetime | None:
    """ISO 8601 (``2026-01-01T10:00:00Z``), or a duration back from now (``15m``, ``2h``, ``7d``)."""
    if not value:
        return None
    m = _DURATION.match(value.strip())
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: expected an ISO 8601 time or a duration like 15m, got {value!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"{name}: expected an integer, got {value!r}") from None
    if not lo <= n <= hi:
        raise BadRequest(f"{name}: must be between {lo} and {hi}, got {n}")
    return n


def _static(name: str) -> bytes:
    return (resources.files("federation.web") / "static" / name).read_bytes()


class Dashboard:
    """One dashboard: ``await dash.start(host, port)``, ``dash.url``, ``await dash.close()``.

    ``host`` is the host cluster's client (only its connection is used, through a client that refuses
    writes); ``db`` the store (None: the DNS and health parts say there is none); ``controller`` the
    replica serving it (who it is, whether it leads, its queues), None for ``fedctl dashboard``;
    ``dns_runtime`` the DNS side (its embedded server's query counts, readiness).
    """

    def __init__(
        self,
        host: KubeApi,
        *,
        settings: Any,
        db: Any | None = None,
        controller: Any | None = None,
        dns_runtime: Any | None = None,
        token: str | None = None,
        lease: tuple[str, str] | None = None,
    ) -> None:
        self.api = KubeApi(host.api_client, name="web", write_gate=lambda: False, timeout=host.timeout)
        self.settings = settings
        self.db = db
        self.controller = controller
        self.dns_runtime = dns_runtime
        self.token = token or None
        if lease is None and controller is not None:
            lease = (controller.config.namespace, controller.config.lease_name)
        self.lease = lease or (getattr(settings, "namespace", "federation-system"), "fedctl-controller")
        self.apps = Informer(self.api, FEDERATEDAPPS, self._changed)
        self.members = Informer(self.api, MEMBERCLUSTERS, self._changed)
        self.version = 0
        self.metrics = DashboardMetrics(self)
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None
        self._lease_cache: tuple[float, dict[str, Any] | None] = (0.0, None)
        self._classifier: Any = None
        self._latency: Any = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def _changed(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self.version += 1

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self.apps.start()
        self.members.start()
        app = self.make_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname() if sockets else (host, port)
        self.address = (str(bound[0]), int(bound[1]))
        return self.address

    @property
    def url(self) -> str:
        assert self.address is not None
        h, p = self.address
        return f"http://{f'[{h}]' if ':' in h else h}:{p}/"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.apps.stop()
        await self.members.stop()

    @property
    def synced(self) -> bool:
        return self.apps.synced.is_set() and self.members.synced.is_set()

    def dns_serving(self) -> tuple[bool, str]:
        rt = self.dns_runtime
        if rt is None:
            return True, "no DNS side in this process"
        server = getattr(rt, "server", None)
        if server is None:
            return True, "publishing to alidns"
        if getattr(server, "address", None) is None:
            return False, "the embedded DNS server is not listening"
        return True, "embedded DNS server listening on {}:{}".format(*server.address)

    # --- the aiohttp application -------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers, self._auth])
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/readyz", self.readyz)
        r.add_get("/metrics", self.metrics_handler)
        r.add_get("/login", self.login_form)
        r.add_post("/login", self.login)
        for path in ("/", "/dns", "/apps/{namespace}/{name}"):
            r.add_get(path, self.page)
        r.add_get("/static/{file}", self.static)
        r.add_get("/favicon.svg", self.favicon)
        api = {
            "/api/v1/overview": self.api_overview,
            "/api/v1/leader": self.api_leader,
            "/api/v1/apps": self.api_apps,
            "/api/v1/apps/{namespace}/{name}": self.api_app,
            "/api/v1/regions": self.api_regions,
            "/api/v1/members": self.api_members,
            "/api/v1/dns/records": self.api_dns_records,
            "/api/v1/dns/lines": self.api_dns_lines,
            "/api/v1/dns/resolve": self.api_dns_resolve,
            "/api/v1/dns/latency": self.api_dns_latency,
            "/api/v1/dns/changes": self.api_dns_changes,
            "/api/v1/health/states": self.api_health_states,
            "/api/v1/health/transitions": self.api_health_transitions,
            "/api/v1/health/schedule": self.api_health_schedule,
            "/api/v1/openapi.json": self.api_openapi,
        }
        for path, handler in api.items():
            r.add_get(path, self._json(handler))
        return app

    @web.middleware
    async def _headers(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        resp = await handler(request)
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        supplied = ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            supplied = header[7:].strip()
        elif COOKIE in request.cookies:
            supplied = request.cookies[COOKIE]
        return hmac.compare_digest(supplied.encode(), self.token.encode())

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in OPEN_PATHS or self._authorized(request):
            return await handler(request)
        if request.path.startswith("/api/") or request.path == "/metrics":
            return web.json_response(
                {"error": "unauthorized: send Authorization: Bearer <web_token>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="fedctl"'},
            )
        raise web.HTTPFound("/login")

    def _json(
        self, fn: Callable[[web.Request], Awaitable[Any]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                body = await fn(request)
                status = 200
            except BadRequest as exc:
                body, status = {"error": str(exc)}, 400
            except web.HTTPException:
                raise
            except KubeError as exc:
                body, status = {"error": f"host cluster: {exc}"}, 502
            except Exception as exc:
                log.exception("web: %s failed", request.path)
                body, status = {"error": f"{type(exc).__name__}: {exc}"}, 500
            text = redact(json.dumps(body, default=str))
            return web.Response(text=text, status=status, content_type="application/json")

        return handler

    # --- probes, metrics, static -------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        problems = []
        if not self.synced:
            problems.append("the host cluster caches have not synced")
        ok, why = self.dns_serving()
        if not ok:
            problems.append(why)
        if problems:
            return web.Response(text="not ready: " + "; ".join(problems) + "\n", status=503)
        return web.Response(text="ready\n")

    async def metrics_handler(self, request: web.Request) -> web.Response:
        body, content_type = await asyncio.get_running_loop().run_in_executor(None, exposition, self.metrics)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        types = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or name.startswith(".") or suffix not in types:
            raise web.HTTPNotFound()
        try:
            data = _static(name)
        except (FileNotFoundError, IsADirectoryError):
            raise web.HTTPNotFound() from None
        return web.Response(body=data, content_type=types[suffix], charset="utf-8")

    async def favicon(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("favicon.svg"), content_type="image/svg+xml")

    async def login_form(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("login.html"), content_type="text/html", charset="utf-8")

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        supplied = str(form.get("token") or "")
        if self.token is None or hmac.compare_digest(supplied.encode(), self.token.encode()):
            resp = web.HTTPFound("/")
            if self.token is not None:
                resp.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
            raise resp
        raise web.HTTPFound("/login?failed=1")

    # --- reads -------------------------------------------------------------------------------------

    def _apps(self) -> list[Obj]:
        return sorted(self.apps.cache.values(), key=views.app_key)

    def _members(self) -> list[Obj]:
        return sorted(self.members.cache.values(), key=lambda m: str((m.get("metadata") or {}).get("name")))

    async def _store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.db is None:
            return None
        return await self.db.run(fn, *args, **kwargs)

    async def _lease(self) -> dict[str, Any] | None:
        at, cached = self._lease_cache
        if time.monotonic() - at < 1.0:
            return cached
        ns, name = self.lease
        try:
            lease = await self.api.get(LEASES, name, ns)
        except KubeError:
            lease = None
        self._lease_cache = (time.monotonic(), lease)
        return lease

    async def leader(self) -> dict[str, Any]:
        lease = await self._lease()
        spec = (lease or {}).get("spec") or {}
        ctrl = self.controller
        return {
            "holder": spec.get("holderIdentity") or None,
            "renewTime": spec.get("renewTime"),
            "lease": "/".join(self.lease),
            "self": ctrl.config.identity if ctrl is not None else None,
            "selfIsLeader": bool(ctrl.is_leader) if ctrl is not None else None,
            "role": (
                "dashboard"
                if ctrl is None
                else ("leader" if ctrl.is_leader else ("replica" if ctrl.sharding else "standby"))
            ),
            # sharded: the shards this replica holds (its apps); None unsharded
            "shards": sorted(ctrl.sharding.held()) if ctrl is not None and ctrl.sharding else None,
        }

    async def _health_reasons(self) -> dict[tuple[str, str], str]:
        from federation.store.health import latest_health

        try:
            states = await self._store(latest_health) or []
        except Exception as exc:  # history is optional on the overview
            log.debug("web: health states unreadable: %s", exc)
            return {}
        out: dict[tuple[str, str], str] = {}
        for s in states:
            if s.app and s.state != "healthy" and s.reason:
                out.setdefault((s.app, s.region), f"{s.target_kind}: {s.reason}")
        return out

    # --- API handlers ------------------------------------------------------------------------------

    async def api_overview(self, request: web.Request) -> Any:
        reasons = await self._health_reasons()
        return {
            "leader": await self.leader(),
            "synced": self.synced,
            "store": self.db.display_url if self.db is not None else None,
            "apps": [views.app_summary(a, reasons) for a in self._apps()],
            "members": [views.member_row(m) for m in self._members()],
        }

    async def api_leader(self, request: web.Request) -> Any:
        return await self.leader()

    async def api_apps(self, request: web.Request) -> Any:
        reasons = await self._health_reasons()
        return {"items": [views.app_summary(a, reasons) for a in self._apps()]}

    async def api_app(self, request: web.Request) -> Any:
        from federation.store.health import latest_health, list_transitions, sample_history

        ns, name = request.match_info["namespace"], request.match_info["name"]
        app = self.apps.get(f"{ns}/{name}")
        if app is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"FederatedApp {ns}/{name} not found"}),
                content_type="application/json",
            )
        key = f"{ns}/{name}"
        try:
            events, _ = await self.api.list(EVENTS, ns)
        except KubeError as exc:
            log.debug("web: events of %s unreadable: %s", key, exc)
            events = []
        evs = views.app_events(events, app)
        regions = set(views.spec_regions(app)) | {
            str(r.get("region")) for r in (app.get("status") or {}).get("regions") or []
        }
        states: list[Any] = []
        transitions: list[Any] = []
        samples: dict[str, list[Any]] = {}
        since = datetime.now(UTC) - timedelta(hours=1)
        if self.db is not None:
            try:
                every = await self._store(latest_health)
                states = [s for s in every if s.app == key or (s.app is None and s.region in regions)]
                own = await self._store(list_transitions, app=key, limit=200)
                shared = [
                    t
                    for region in sorted(regions)
                    for t in await self._store(list_transitions, region=region, limit=100)
                    if t.app is None
                ]
                transitions = sorted([*own, *shared], key=lambda t: t.at, reverse=True)
                for s in states:
                    hist = await self._store(
                        sample_history, s.target_kind, s.target_id, since=since, limit=300
                    )
                    samples[f"{s.target_kind}:{s.target_id}"] = hist
            except Exception as exc:
                log.debug("web: health history of %s unreadable: %s", key, exc)
        return {
            "app": views.app_summary(app, {}),
            "leader": await self.leader(),
            "events": evs,
            "placement": [e for e in evs if e["reason"] in views.PLACEMENT_REASONS],
            "health": {
                "states": views.plain(states),
                "transitions": views.plain(transitions),
                "samples": {k: views.plain(v) for k, v in samples.items()},
                "since": since.isoformat(),
            },
        }

    async def api_regions(self, request: web.Request) -> Any:
        return {"items": views.regions_view(self._apps(), self._members())}

    async def api_members(self, request: web.Request) -> Any:
        return {"items": [views.member_row(m) for m in self._members()]}

    def _zones(self) -> list[str]:
        zones = {
            str(((a.get("spec") or {}).get("dns") or {}).get("zone") or "").lower().rstrip(".")
            for a in self.apps.cache.values()
        }
        return sorted(z for z in zones if z)

    async def _records(self, name: str | None = None) -> list[Any]:
        from federation.store.dnslog import list_published_records

        out: list[Any] = []
        for zone in self._zones():
            rows = await self._store(list_published_records, zone, name=name) or []
            out.extend(p.record for p in rows)
        return out

    def _hostnames(self) -> list[str]:
        names = {
            str(((a.get("spec") or {}).get("dns") or {}).get("hostname") or "").lower().rstrip(".")
            for a in self.apps.cache.values()
        }
        return sorted(n for n in names if n)

    async def api_dns_records(self, request: web.Request) -> Any:
        from federation.dns.lookup import records_by_name

        name = (request.query.get("name") or "").lower().rstrip(".") or None
        records = await self._records(name)
        return {
            "store": self.db is not None,
            "hostnames": self._hostnames(),
            "records": records_by_name(records),
        }

    async def api_dns_lines(self, request: web.Request) -> Any:
        from federation.dns.lines import default_catalogue
        from federation.dns.lookup import line_tree

        name = (request.query.get("name") or "").lower().rstrip(".")
        hostnames = self._hostnames()
        if not name:
            if not hostnames:
                return {"name": None, "hostnames": [], "lines": []}
            name = hostnames[0]
        records = await self._records(name)
        tree = line_tree(records, name, default_catalogue())
        return {
            "name": name,
            "hostnames": hostnames,
            "store": self.db is not None,
            "published": sum(1 for t in tree if t.published),
            "lines": [views.plain(t) for t in tree],
        }

    async def classifier(self) -> Any:
        if self._classifier is None:
            from federation.dns.lines import LineClassifier

            overlay = getattr(self.settings, "dns_cidrs", None)
            self._classifier = await asyncio.to_thread(LineClassifier.default, overlay_file=overlay)
        return self._classifier

    async def api_dns_resolve(self, request: web.Request) -> Any:
        from federation.dns.lookup import resolve_client

        client = (request.query.get("client") or "").strip()
        if not client:
            raise BadRequest("client: required (an IP address or a CIDR, e.g. 36.21.0.0/24)")
        records = await self._records()
        names = sorted(
            {r.name for r in records if r.rtype in ("A", "AAAA", "CNAME")} | set(self._hostnames())
        )
        try:
            out = resolve_client(await self.classifier(), records, client, names)
        except ValueError as exc:
            raise BadRequest(f"client: {exc}") from None
        out["answers"] = {n: {"line": line, "values": v} for n, (line, v) in out["answers"].items()}
        return out

    async def api_dns_latency(self, request: web.Request) -> Any:
        from federation.dns.lookup import sample_medians
        from federation.dns.runtime import latency_from_settings

        if self._latency is None:
            self._latency = latency_from_settings(self.settings)
        matrix = self._latency
        if self.db is not None:
            try:
                samples = await self.db.run(sample_medians, matrix.catalogue, datetime.now(UTC))
                matrix = matrix.with_samples(samples)
            except Exception as exc:
                log.debug("web: latency samples unreadable: %s", exc)
        wanted = [r for r in (request.query.get("regions") or "").split(",") if r]
        regions = wanted or sorted(
            {str(v.get("region")) for v in map(views.member_row, self._members()) if v.get("region")}
            | {r for a in self.apps.cache.values() for r in views.spec_regions(a)}
        )
        rows = []
        for line in matrix.catalogue:
            cells = []
            for region in regions:
                rtt, source = matrix.lookup(line.code, region)
                cells.append({"region": region, "rtt_ms": rtt, "source": source})
            rows.append({"line": line.code, "parent": line.parent, "vantage": line.vantage, "cells": cells})
        return {"regions": regions, "lines": rows}

    def _page(self, request: web.Request) -> tuple[int, int, datetime | None, datetime | None]:
        now = datetime.now(UTC)
        limit = parse_int(request.query.get("limit"), "limit", 100, 1, MAX_LIMIT)
        offset = parse_int(request.query.get("offset"), "offset", 0, 0, 10**9)
        since = parse_time(request.query.get("since"), "since", now)
        until = parse_time(request.query.get("until"), "until", now)
        return limit, offset, since, until

    @staticmethod
    def _paged(request: web.Request, rows: list[Any], limit: int, offset: int) -> dict[str, Any]:
        more = len(rows) > limit
        nxt = None
        if more:
            q = dict(request.query)
            q["offset"] = str(offset + limit)
            nxt = str(request.rel_url.with_query(q))
        return {"items": rows[:limit], "offset": offset, "limit": limit, "next": nxt}

    async def api_dns_changes(self, request: web.Request) -> Any:
        from federation.store.dnslog import list_dns_changes

        limit, offset, since, until = self._page(request)
        name = (request.query.get("name") or "").lower().rstrip(".") or None
        rows = (
            await self._store(
                list_dns_changes,
                app=request.query.get("app") or None,
                name=name,
                since=since,
                until=until,
                limit=limit + 1,
                offset=offset,
            )
            or []
        )
        return self._paged(request, [views.change_row(r) for r in rows], limit, offset)

    async def api_health_states(self, request: web.Request) -> Any:
        from federation.store.health import latest_health

        signal = request.query.get("signal") or None
        try:
            rows = await self._store(
                latest_health,
                app=request.query.get("app") or None,
                region=request.query.get("region") or None,
                target_kind=signal,
            )
        except ValueError as exc:
            raise BadRequest(f"signal: {exc}") from None
        return {"items": views.plain(rows or [])}

    async def api_health_transitions(self, request: web.Request) -> Any:
        from federation.store.health import list_transitions

        limit, offset, since, until = self._page(request)
        rows = (
            await self._store(
                list_transitions,
                app=request.query.get("app") or None,
                region=request.query.get("region") or None,
                target_kind=request.query.get("signal") or None,
                since=since,
                until=until,
                limit=limit + 1,
                offset=offset,
            )
            or []
        )
        return self._paged(request, views.plain(rows), limit, offset)

    async def api_health_schedule(self, request: web.Request) -> Any:
        """The sweeps' jobs with their next run (the leader's; a standby runs none)."""
        sweeps = getattr(self.controller, "sweeps", None) if self.controller is not None else None
        scheduler = getattr(sweeps, "scheduler", None)
        jobs = scheduler.schedule() if scheduler is not None else []
        return {
            "running": bool(scheduler is not None and scheduler.started),
            "jobs": [
                {
                    "id": j.id,
                    "intervalSeconds": j.interval_seconds,
                    "nextRun": j.next_run.isoformat() if j.next_run is not None else None,
                    "running": j.running,
                }
                for j in jobs
            ],
        }

    async def api_openapi(self, request: web.Request) -> Any:
        return json.loads(_static("openapi.json"))


def listen_address(value: str) -> tuple[str, int]:
    """``web_listen`` as (host, port); the error names the setting."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"web_listen: expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve_dashboard(
    settings: Any,
    host: KubeApi,
    *,
    listen: str | None = None,
    **kwargs: Any,
) -> Dashboard:
    """A started :class:`Dashboard` on ``listen`` (default ``web_listen``), with ``web_token``."""
    token = getattr(settings, "web_token", None)
    dash = Dashboard(
        host, settings=settings, token=token.get_secret_value() if token is not None else None, **kwargs
    )
    address = listen_address(str(listen or getattr(settings, "web_listen", "127.0.0.1:8080")))
    try:
        await dash.start(*address)
    except BaseException:
        await dash.close()
        raise
    return dash


class WebService:
    """The dashboard as a part of a controller process (:class:`federation.runtime.Runtime`'s ``web``
    slot): started before the controller's work, on ``web_listen``, for leader and standby alike."""

    def __init__(self, settings: Any, host: KubeApi, **kwargs: Any) -> None:
        self.settings = settings
        self.host = host
        self.kwargs = kwargs
        self.dashboard: Dashboard | None = None

    async def start(self) -> None:
        try:
            self.dashboard = await serve_dashboard(self.settings, self.host, **self.kwargs)
        except OSError as exc:
            raise OSError(exc.errno, f"web_listen {self.settings.web_listen}: {exc.strerror}") from None
        log.info("web: dashboard, JSON API and /metrics on %s", self.dashboard.url)

    async def stop(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.close()
            self.dashboard = None
