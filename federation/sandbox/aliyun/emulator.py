"""AliyunEmulator: the HTTP front of the alidns, SLB and CEN emulations, with auth, faults and inspection.

One aiohttp server on loopback answers the RPC API of all three products at ``/`` (the product is told
apart by ``Version``, as the real endpoints differ only by host name), plus a small admin API under
``/_emulator/`` (state, call counts, faults, backend health, snapshots) guarded by a token. The
emulator's alidns records are served over UDP/TCP DNS by the project's one DNS server
(``federation.dns.server.DnsServer``), each zone pushed again on every change.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from federation.logsetup import register_secret
from federation.sandbox.aliyun.alidns import EDITIONS, AlidnsService
from federation.sandbox.aliyun.cen import CenService
from federation.sandbox.aliyun.ecs import EcsService
from federation.sandbox.aliyun.faults import THROTTLE_MESSAGES, Faults
from federation.sandbox.aliyun.protocol import (
    ApiError,
    Params,
    error_body,
    missing,
    new_request_id,
    sign,
    string_to_sign,
)
from federation.sandbox.aliyun.slb import SlbService
from federation.sandbox.aliyun.slbdata import SlbDataPlane
from federation.sandbox.loopback import PortPolicy

log = logging.getLogger(__name__)

VERSIONS = {"2015-01-09": "Alidns", "2014-05-15": "Slb", "2017-09-12": "Cbn", "2014-05-26": "Ecs"}
TIMESTAMP_WINDOW = 15 * 60  # seconds of clock skew the gateway accepts (Alibaba "Request signatures")
ADMIN_PREFIX = "/_emulator"
ADMIN_HEADER = "X-Emulator-Token"


def _random_key(prefix: str, n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


class _Reset(Exception):
    """The reset fault: the connection is already aborted; no answer follows."""


class AliyunEmulator:
    """A stateful Alibaba Cloud OpenAPI emulator for alidns, SLB and CEN (see docs/alibaba-emulator.md)."""

    def __init__(
        self,
        domains: Iterable[str] = ("example.com",),
        edition: str = "enterprise_standard",
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        slb_quota_per_region: int = 60,
        cen_transition_delay: float = 1.0,
        seed: int | None = None,
        lines: Iterable[Any] | None = None,
        classifier: Any = None,
    ) -> None:
        if edition not in EDITIONS:
            raise ValueError(f"edition: {edition!r} is not one of {', '.join(EDITIONS)}")
        self.edition = edition
        self.access_key_id = access_key_id or _random_key("LTAI", 20)
        self.access_key_secret = access_key_secret or _random_key("", 30)
        register_secret(self.access_key_secret)
        self.keys: dict[str, str] = {self.access_key_id: self.access_key_secret}
        self.admin_token = secrets.token_hex(16)
        register_secret(self.admin_token)
        self.faults = Faults(seed)
        if lines is None:
            from federation.dns.lines import default_catalogue

            lines = default_catalogue()
        self._dns: Any = None
        self._classifier = classifier  # federation.dns.lines.LineClassifier; None: the shipped table
        self._dns_types: set[str] = set()
        self.alidns = AlidnsService(lines, on_change=self._zone_changed)
        self.slb = SlbService(quota_per_region=slb_quota_per_region)
        self.cen = CenService(transition_delay=cen_transition_delay)
        self.ecs = EcsService(self.slb)  # the instances the SLB service knows, and their security groups
        for d in domains:
            self.alidns.add_domain(d, edition)
        self._counts: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()  # "Product.Action Code" of every error answered
        self._nonces: dict[str, float] = {}
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self.dns_address: tuple[str, int] | None = None
        self.data_plane: SlbDataPlane | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, dns_host: str | None = None, dns_port: int | None = 0
    ) -> None:
        """Serve the API on (host, port) and, unless ``dns_port`` is None, DNS on (dns_host, dns_port)."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/", self._handle_api)
        app.router.add_get(f"{ADMIN_PREFIX}/state", self._admin_state)
        app.router.add_get(f"{ADMIN_PREFIX}/calls", self._admin_calls)
        app.router.add_get(f"{ADMIN_PREFIX}/faults", self._admin_faults_get)
        app.router.add_post(f"{ADMIN_PREFIX}/faults", self._admin_faults_set)
        app.router.add_delete(f"{ADMIN_PREFIX}/faults", self._admin_faults_clear)
        app.router.add_post(f"{ADMIN_PREFIX}/backend-health", self._admin_backend_health)
        app.router.add_post(f"{ADMIN_PREFIX}/instances", self._admin_instances)
        app.router.add_post(f"{ADMIN_PREFIX}/snapshot", self._admin_snapshot)
        app.router.add_post(f"{ADMIN_PREFIX}/restore", self._admin_restore)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if not sockets:
            raise RuntimeError(f"could not listen on {host}:{port}")
        self._host, self._port = sockets[0].getsockname()[:2]
        if dns_port is not None:
            from federation.dns import server as dns_server
            from federation.dns.lines import LineClassifier

            self._dns_types = set(getattr(dns_server, "SUPPORTED_TYPES", {"A", "AAAA", "CNAME", "TXT"}))
            self._dns = dns_server.DnsServer(self._classifier or LineClassifier.default())
            try:
                self.dns_address = await self._dns.start(dns_host or host, dns_port)
            except BaseException:
                self._dns = None  # never started: nothing to stop but the HTTP side
                await self.stop()
                raise
            for domain in self.alidns.domains:
                self._zone_changed(domain)
        log.info("aliyun emulator listening on %s (dns %s)", self.endpoint, self.dns_address)

    def attach_data_plane(
        self,
        *,
        block: int | None = None,
        port_policy: PortPolicy | None = None,
        interval_scale: float = 1.0,
        on_change: Callable[[], None] | None = None,
    ) -> SlbDataPlane:
        """Make SLB answer for real (the sandbox): loopback addresses, listening listeners, forwarding
        and health checks (see :mod:`federation.sandbox.aliyun.slbdata`). Call before creating SLBs."""
        if self.data_plane is not None:
            raise RuntimeError("a data plane is attached already")
        self.data_plane = SlbDataPlane(
            self.slb, block=block, port_policy=port_policy, interval_scale=interval_scale, on_change=on_change
        )
        return self.data_plane

    async def stop(self) -> None:
        self._stopping.set()
        self.faults.clear()
        if self.data_plane is not None:
            await self.data_plane.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._dns is not None:
            await self._dns.stop()
            self._dns = None

    async def __aenter__(self) -> AliyunEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def endpoint(self) -> str:
        return f"{self._host}:{self._port}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.endpoint}{ADMIN_PREFIX}"

    # ---- inspection and hooks ------------------------------------------------------------------
    def call_counts(self) -> dict[str, int]:
        """Authenticated calls per ``Product.Action`` (faulted ones too), e.g. ``Slb.CreateLoadBalancer``."""
        return dict(self._counts)

    def error_counts(self) -> dict[str, int]:
        """Error answers per ``Product.Action Code`` (injected faults included), e.g.
        ``Alidns.AddDomainRecord DomainRecordDuplicate``."""
        return dict(self._errors)

    def reset_call_counts(self) -> None:
        self._counts.clear()
        self._errors.clear()

    def state(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "edition": self.edition,
            "alidns": self.alidns.state(),
            "slb": self.slb.state(),
            "slb_data_plane": self.data_plane.listeners() if self.data_plane is not None else None,
            "cen": self.cen.state(),
            "faults": self.faults.rules(),
            "calls": self.call_counts(),
            "errors": self.error_counts(),
        }

    def set_backend_health(self, lb_id: str, server_id: str, status: str) -> None:
        """What DescribeHealthStatus reports for ``server_id`` behind ``lb_id``: normal | abnormal."""
        self.slb.set_backend_health(lb_id, server_id, status)

    def register_instance(
        self, region: str, instance_id: str, *, private_ip: str = "", address: str | None = None
    ) -> None:
        """Make ``instance_id`` an ECS instance of ``region``, so SLB accepts it as a backend."""
        self.slb.register_instance(region, instance_id, private_ip=private_ip, address=address)

    def add_domain(self, name: str, edition: str | None = None) -> None:
        self.alidns.add_domain(name, edition or self.edition)

    _STATE_FIELDS = {
        "alidns": ("domains", "records", "wrr", "_next_id", "_seq"),
        "slb": (
            "lbs",
            "tokens",
            "health",
            "checked",
            "instances",
            "certificates",
            "public_addresses",
            "_regions",
            "_counter",
            "quota_per_region",
        ),
        "cen": ("cens", "children", "packages", "tokens"),
    }

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of every service's state, for :meth:`restore`."""
        return {
            svc: {f: copy.deepcopy(getattr(getattr(self, svc), f)) for f in fields}
            for svc, fields in self._STATE_FIELDS.items()
        }

    def restore(self, snap: dict[str, Any]) -> None:
        for svc, fields in snap.items():
            for f, value in fields.items():
                setattr(getattr(self, svc), f, copy.deepcopy(value))
        for domain in self.alidns.domains:
            self._zone_changed(domain)

    def _zone_changed(self, domain: str) -> None:
        if self._dns is not None:
            # Only the types the shared server answers; URL forwarding, MX, ... stay API-side.
            served = self._dns_types
            self._dns.set_zone(domain, [r for r in self.alidns.records_for_dns(domain) if r.rtype in served])

    # ---- the API -------------------------------------------------------------------------------
    def _authenticate(self, method: str, params: dict[str, str]) -> None:
        key_id = params.get("AccessKeyId")
        if not key_id:
            raise missing("AccessKeyId")
        secret = self.keys.get(key_id)
        if secret is None:
            raise ApiError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        for name in ("Signature", "SignatureNonce", "Timestamp"):
            if not params.get(name):
                raise missing(name)
        if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
            raise ApiError("InvalidSignatureMethod", "Specified signature method is not supported.")
        try:
            ts = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise ApiError(
                "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
            ) from None
        now = time.time()
        if abs(now - ts) > TIMESTAMP_WINDOW:
            raise ApiError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        to_sign = string_to_sign(method, params)
        if not secrets.compare_digest(sign(secret, to_sign), params["Signature"]):
            # The SDK splits this message on ':' and compares the tail with its own string-to-sign.
            raise ApiError(
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{to_sign}",
            )
        nonce = params["SignatureNonce"]
        # Nonces are kept in arrival order, so expired ones are always at the front: O(1) per request.
        while self._nonces:
            oldest = next(iter(self._nonces))
            if now - self._nonces[oldest] <= TIMESTAMP_WINDOW:
                break
            del self._nonces[oldest]
        if nonce in self._nonces:
            raise ApiError("SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces[nonce] = now

    async def _handle_api(self, request: web.Request) -> web.Response:
        request_id = new_request_id()
        params: dict[str, str] = dict(request.query)
        if request.can_read_body and request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            params.update({k: str(v) for k, v in form.items()})
        version = params.get("Version") or request.headers.get("x-acs-version") or ""
        product: str | None = VERSIONS.get(version)
        try:
            self._authenticate(request.method, params)
            if product is None:
                raise ApiError("InvalidVersion", f"Specified parameter Version {version!r} is not valid.")
            action = params.get("Action") or request.headers.get("x-acs-action", "")
            if not action:
                raise missing("Action")
            services: dict[str, dict[str, Any]] = {
                "Alidns": self.alidns.actions,
                "Slb": self.slb.actions,
                "Cbn": self.cen.actions,
                "Ecs": self.ecs.actions,
            }
            handler = services[product].get(action)
            if handler is None:
                raise ApiError(
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                    404,
                )
            self._counts[f"{product}.{action}"] += 1
            verdict = self.faults.decide(product, action)
            if verdict.latency:
                await asyncio.sleep(verdict.latency)
            if verdict.hang is not None:
                await self._hang(verdict.hang)
            if verdict.throttle:
                raise ApiError(verdict.throttle, THROTTLE_MESSAGES[verdict.throttle])
            failing = bool(verdict.error_status or verdict.reset)
            if failing and not verdict.error_after:
                self._fail(request, verdict)
            result = handler(Params(params))
            if product == "Slb" and self.data_plane is not None:
                await self.data_plane.sync()  # the answer comes once the listener really (no longer) listens
            if failing:
                self._fail(request, verdict)
        except ApiError as err:
            self._errors[f"{product}.{params.get('Action', '')} {err.code}"] += 1
            return web.json_response(error_body(err, request_id, product), status=err.status)
        except _Reset:
            return web.Response(status=500)  # never written: the transport is gone
        except Exception:  # a bug in the emulator must still answer like the service does
            log.exception("emulator: %s %s failed", product, params.get("Action"))
            return web.json_response(error_body(self._server_error(500), request_id, product), status=500)
        return web.json_response({"RequestId": request_id, **result})

    @classmethod
    def _fail(cls, request: web.Request, verdict: Any) -> None:
        """Answer with the verdict's 5xx, or drop the connection without a word."""
        if verdict.reset:
            if request.transport is not None:
                request.transport.abort()  # RST: the client sees its connection reset, no answer
            raise _Reset
        raise cls._server_error(verdict.error_status)

    @staticmethod
    def _server_error(status: int) -> ApiError:
        if status == 503:
            return ApiError(
                "ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503
            )
        return ApiError(
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
            status,
        )

    async def _hang(self, released: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(released.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    # ---- admin ---------------------------------------------------------------------------------
    def _check_admin(self, request: web.Request) -> None:
        if not secrets.compare_digest(request.headers.get(ADMIN_HEADER, ""), self.admin_token):
            raise web.HTTPUnauthorized(text="missing or wrong admin token")

    async def _admin_json(self, request: web.Request) -> dict[str, Any]:
        self._check_admin(request)
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="body: not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body: must be a JSON object")
        return body

    async def _admin_state(self, request: web.Request) -> web.Response:
        self._check_admin(request)
        return web.json_response(self.state())

    async def _admin_calls(self, request: web.Request) -> web.Response:
        self._check_admin(request)
        return web.json_response(self.call_counts())

    async def _admin_faults_get(self, request: web.Request) -> web.Response:
        self._check_admin(request)
        return web.json_response(self.faults.rules())

    async def _admin_faults_set(self, request: web.Request) -> web.Response:
        body = await self._admin_json(request)
        allowed = {
            "product",
            "action",
            "throttle",
            "throttle_code",
            "error_rate",
            "error_status",
            "reset",
            "after",
            "latency",
            "hang",
            "times",
        }
        unknown = set(body) - allowed
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown field(s): {', '.join(sorted(unknown))}")
        try:
            rule = self.faults.set(**body)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response(rule.to_dict())

    async def _admin_faults_clear(self, request: web.Request) -> web.Response:
        self._check_admin(request)
        product, action = request.query.get("product"), request.query.get("action")
        self.faults.clear(product, action)
        return web.json_response(self.faults.rules())

    async def _admin_backend_health(self, request: web.Request) -> web.Response:
        body = await self._admin_json(request)
        try:
            self.set_backend_health(str(body["lb_id"]), str(body["server_id"]), str(body["status"]))
        except KeyError as exc:
            raise web.HTTPBadRequest(text=f"{exc.args[0]}: required or unknown") from None
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"ok": True})

    async def _admin_instances(self, request: web.Request) -> web.Response:
        """Register ECS instances: ``{"instances": [{"region", "instance_id", "private_ip", "address"}]}``."""
        body = await self._admin_json(request)
        items = body.get("instances")
        if not isinstance(items, list):
            raise web.HTTPBadRequest(text="instances: must be a list")
        for i, item in enumerate(items):
            try:
                self.register_instance(
                    str(item["region"]),
                    str(item["instance_id"]),
                    private_ip=str(item.get("private_ip") or ""),
                    address=item.get("address"),
                )
            except (KeyError, TypeError) as exc:
                raise web.HTTPBadRequest(text=f"instances[{i}]: {exc} required") from None
            except ValueError as exc:
                raise web.HTTPBadRequest(text=f"instances[{i}].{exc}") from None
        return web.json_response({"ok": True, "registered": len(items)})

    async def _admin_snapshot(self, request: web.Request) -> web.Response:
        self._check_admin(request)
        snap_id = secrets.token_hex(4)
        self._snapshots[snap_id] = self.snapshot()
        return web.json_response({"id": snap_id})

    async def _admin_restore(self, request: web.Request) -> web.Response:
        body = await self._admin_json(request)
        snap = self._snapshots.get(str(body.get("id")))
        if snap is None:
            raise web.HTTPNotFound(text="id: no such snapshot")
        self.restore(snap)
        if self.data_plane is not None:
            await self.data_plane.sync()
        return web.json_response({"ok": True})
