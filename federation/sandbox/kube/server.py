"""The HTTP face of one simulated cluster: auth, faults, discovery, OpenAPI, resource verbs and watch.

Wire shapes follow the Kubernetes API concepts doc ("API verbs", "Efficient detection of changes",
"Watch bookmarks", "Receiving resources as Tables") and the discovery endpoints client-go reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from aiohttp import web

from federation.api import safeyaml
from federation.api.objectmeta import too_large_message
from federation.api.safeyaml import REQUEST_BODY_LIMIT
from federation.sandbox.kube import openapi
from federation.sandbox.kube.errors import ApiError, bad_request, method_not_allowed, status_body
from federation.sandbox.kube.jsonpath import evaluate, set_path
from federation.sandbox.kube.resources import ResourceType
from federation.sandbox.kube.selectors import parse_field_selector, parse_label_selector
from federation.sandbox.kube.store import CLOSE, Watcher
from federation.sandbox.kube.table import to_table

if TYPE_CHECKING:
    from federation.sandbox.kube.cluster import SimCluster

log = logging.getLogger(__name__)

KUBE_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.4",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2024-08-14T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _truthy(v: str | None) -> bool:
    return v in ("true", "1", "True")


class ClusterServer:
    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.api = cluster.api
        self.watch_tasks: set[asyncio.Task[Any]] = set()
        self.requests: Counter[str] = Counter()  # requests received, by HTTP method
        # (method, path, query string) of the latest requests, for tests that pin what a client sent
        self.log: deque[tuple[str, str, str]] = deque(maxlen=10_000)
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    # ----- entry ---------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests[request.method] += 1
        self.log.append((request.method, request.path, request.query_string))
        try:
            fail = await self.cluster.faults.before_request(request.method)
            if fail is not None:
                code, retry = fail
                reason = "TooManyRequests" if code == 429 else "InternalError"
                msg = (
                    "the server has received too many requests and has asked us to try again later"
                    if code == 429
                    else 'an error on the server ("simulated fault") has prevented the request '
                    "from succeeding"
                )
                headers = {"Retry-After": str(retry)} if code in (429, 503) else None
                return json_response(
                    status_body(code, reason, msg, {"retryAfterSeconds": retry} if headers else None),
                    code,
                    headers,
                )
            self._authenticate(request)
            return await self._route(request)
        except ApiError as e:
            return json_response(e.status(), e.code, e.headers or None)
        except web.HTTPException:
            raise
        except Exception as e:  # a simulator bug must still answer like an apiserver: 500 + Status
            log.exception("%s %s failed", request.method, request.path)
            return json_response(status_body(500, "InternalError", f"Internal error occurred: {e}"), 500)

    def _authenticate(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        if auth == self.cluster.auth_header:
            return
        if not auth and request.path in PUBLIC_PATHS:
            return  # anonymous access to health and version, as the default RBAC allows
        raise ApiError(401, "Unauthorized", "Unauthorized")

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        parts = [p for p in path.split("/") if p]
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return json_response(KUBE_VERSION)
        if path == "/":
            return json_response(
                {
                    "paths": [
                        "/api",
                        "/api/v1",
                        "/apis",
                        "/healthz",
                        "/livez",
                        "/openapi/v2",
                        "/openapi/v3",
                        "/readyz",
                        "/version",
                    ]
                }
            )
        if parts[:1] == ["openapi"]:
            return self._openapi(request, parts)
        if parts[:1] == ["api"]:
            if len(parts) == 1:
                return json_response(
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [
                            {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.cluster.port}"}
                        ],
                    }
                )
            if len(parts) == 2:
                return self._resource_list("", parts[1])
            return await self._resource(request, "", parts[1], parts[2:])
        if parts[:1] == ["apis"]:
            if len(parts) == 1:
                return self._group_list(request)
            if len(parts) == 2:
                g = self._group(parts[1])
                if g is None:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return json_response(g)
            if len(parts) == 3:
                return self._resource_list(parts[1], parts[2])
            return await self._resource(request, parts[1], parts[2], parts[3:])
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # ----- discovery -----------------------------------------------------------------------------
    def _group(self, name: str) -> dict[str, Any] | None:
        versions = self.api.groups().get(name)
        if not versions:
            return None
        vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        preferred = vs[0]
        for rt in self.api.types.values():
            if rt.group == name and rt.storage_version:
                preferred = next((x for x in vs if x["version"] == rt.storage_version), preferred)
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": vs,
            "preferredVersion": preferred,
        }

    def _group_list(self, request: web.Request) -> web.Response:
        # We answer legacy discovery (APIGroupList) even when aggregated discovery is asked first:
        # client-go falls back on the response Content-Type (application/json).
        groups = [g for g in (self._group(n) for n in sorted(self.api.groups()) if n) if g is not None]
        for g in groups:
            g.pop("kind")
            g.pop("apiVersion")
        return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    def _resource_list(self, group: str, version: str) -> web.Response:
        rts = [rt for rt in self.api.types.values() if rt.group == group and rt.version == version]
        if not rts:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resources: list[dict[str, Any]] = []
        for rt in sorted(rts, key=lambda r: r.plural):
            resources.extend(rt.discovery())
        gv = f"{group}/{version}" if group else version
        return json_response(
            {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
        )

    def _openapi(self, request: web.Request, parts: list[str]) -> web.Response:
        if parts == ["openapi", "v2"]:
            accept = request.headers.get("Accept", "")
            if "protobuf" in accept and "json" not in accept:
                # No protobuf encoding here; kube-apiserver answers 406 for an unsupported Accept.
                raise ApiError(
                    406, "NotAcceptable", "only the following media types are accepted: application/json"
                )
            return json_response(openapi.v2_document(self.api))
        if parts == ["openapi", "v3"]:
            return json_response(openapi.v3_index(self.api))
        if len(parts) >= 4 and parts[:2] == ["openapi", "v3"]:
            doc = openapi.v3_group_version(self.api, "/".join(parts[2:]))
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(
                doc, headers={"Cache-Control": "public, immutable"} if request.query.get("hash") else None
            )
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # ----- authorization and pod logs --------------------------------------------------------------
    async def _access_review(self, request: web.Request, name: str | None) -> web.Response:
        """SelfSubjectAccessReview: create-only and never stored. The simulated identity may do
        everything except what :attr:`SimCluster.denied` lists (``verb group/resource``)."""
        if request.method != "POST" or name is not None:
            raise method_not_allowed()
        body = await self._body(request)
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        if not attrs.get("verb") or not attrs.get("resource"):
            raise ApiError(
                422,
                "Invalid",
                "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes: "
                "Invalid value: resourceAttributes.verb and resource are required",
            )
        group = attrs.get("group") or ""
        what = f"{attrs['verb']} {group + '/' if group else ''}{attrs['resource']}"
        if attrs.get("subresource"):
            what += "/" + attrs["subresource"]
        allowed = what not in self.cluster.denied
        status: dict[str, Any] = {"allowed": allowed}
        if not allowed:
            status["reason"] = f"the simulated identity is denied {what}"
        return json_response(
            {
                "kind": "SelfSubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {},
                "spec": body.get("spec") or {},
                "status": status,
            },
            201,
        )

    def _pod_log(self, request: web.Request, ns: str | None, name: str | None) -> web.Response:
        if request.method != "GET":
            raise method_not_allowed()
        pod = self.api.get(self.api.resolve("", "v1", "pods"), ns, name or "")
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        text = self.cluster.pods.logs.get((ns or "", name or ""))
        if text is None:
            container = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "")
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating',
            )
        return web.Response(text=text, content_type="text/plain")

    # ----- resources -----------------------------------------------------------------------------
    async def _resource(
        self, request: web.Request, group: str, version: str, parts: list[str]
    ) -> web.StreamResponse:
        ns: str | None = None
        if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] not in ("status", "finalize"):
            ns, parts = parts[1], parts[2:]
        rt = self.api.resolve(group, version, parts[0])
        if ns is not None and not rt.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        if rt.kind == "SelfSubjectAccessReview":
            return await self._access_review(request, name)
        if sub == "log" and rt.kind == "Pod" and len(parts) == 3:
            return self._pod_log(request, ns, name)
        if len(parts) > 3 or (
            sub is not None
            and not (
                (sub == "status" and rt.status_subresource)
                or (sub == "scale" and rt.scale)
                or (sub == "finalize" and rt.kind == "Namespace")
            )
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        q = request.query
        method = request.method
        dry_run = bool(q.get("dryRun"))
        strict = q.get("fieldValidation") == "Strict"
        api = self.api
        if name is None:
            if method == "GET":
                if _truthy(q.get("watch")):
                    return await self._watch(request, rt, ns)
                return self._list(request, rt, ns)
            if method == "POST":
                body = await self._body(request)
                obj = api.create(rt, ns, body, dry_run=dry_run, strict=strict, owned=True)
                return json_response(obj, 201)
            if method == "DELETE":
                return await self._delete_collection(request, rt, ns)
            raise method_not_allowed()
        if sub == "scale":
            return await self._scale(request, rt, ns, name)
        if sub == "finalize":
            sub = None
        if method == "GET":
            if sub is None and _truthy(q.get("watch")):
                return await self._watch(request, rt, ns, name)
            return self._one(request, rt, api.get(rt, ns, name))
        if method == "PUT":
            body = await self._body(request)
            return json_response(
                api.update(rt, ns, name, body, subresource=sub, dry_run=dry_run, strict=strict, owned=True)
            )
        if method == "PATCH":
            raw = await self._read(request)
            obj = api.patch(
                rt,
                ns,
                name,
                request.headers.get("Content-Type", ""),
                raw,
                subresource=sub,
                dry_run=dry_run,
                strict=strict,
                force=_truthy(q.get("force")),
                field_manager=q.get("fieldManager"),
            )
            created = getattr(obj, "created", False)
            return json_response(obj, 201 if created else 200)
        if method == "DELETE" and sub is None:
            options = await self._delete_options(request)
            obj, deleted_now = api.delete(rt, ns, name, options, dry_run=dry_run)
            if deleted_now and not rt.crd_name and rt.kind not in ("Namespace",):
                return json_response(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": name,
                            "group": rt.group,
                            "kind": rt.plural,
                            "uid": obj["metadata"].get("uid"),
                        },
                    }
                )
            return json_response(obj)
        raise method_not_allowed()

    async def _read(self, request: web.Request) -> bytes:
        """The request body, refused with the API server's 413 above its 3 MiB limit."""
        raw = await request.read()
        if len(raw) > REQUEST_BODY_LIMIT:
            raise ApiError(413, "RequestEntityTooLarge", too_large_message())
        return raw

    async def _body(self, request: web.Request) -> Any:
        raw = await self._read(request)
        if not raw:
            raise bad_request("the body of the request is empty")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            try:
                return safeyaml.load(raw)
            except yaml.YAMLError as exc:
                raise bad_request(f"the body of the request could not be decoded: {exc}") from exc

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        raw = await self._read(request)
        options: dict[str, Any] = {}
        if raw:
            try:
                loaded = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise bad_request(f"invalid DeleteOptions: {exc}") from exc
            if isinstance(loaded, dict):
                options = loaded
        q = request.query
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        if q.get("orphanDependents"):
            options["orphanDependents"] = _truthy(q["orphanDependents"])
        pol = options.get("propagationPolicy")
        if pol is not None and pol not in ("Orphan", "Background", "Foreground"):
            raise ApiError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                f'Unsupported value: "{pol}": supported values: "Foreground", '
                f'"Background", "Orphan", "nil"',
            )
        return options

    def _wants_table(self, request: web.Request) -> bool:
        return "as=Table" in request.headers.get("Accept", "")

    def _one(self, request: web.Request, rt: ResourceType, obj: dict[str, Any]) -> web.Response:
        if self._wants_table(request):
            return json_response(
                to_table(
                    rt,
                    [obj],
                    {"resourceVersion": obj["metadata"]["resourceVersion"]},
                    request.query.get("includeObject", "Metadata"),
                )
            )
        return json_response(obj)

    def _list(self, request: web.Request, rt: ResourceType, ns: str | None) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit") or 0)
        except ValueError as exc:
            raise bad_request(f"limit: invalid value {q.get('limit')!r}") from exc
        fexpr = q.get("fieldSelector")
        result = self.api.list(
            rt,
            ns,
            label=parse_label_selector(q.get("labelSelector")),
            field=parse_field_selector(fexpr, rt.plural),
            field_expr=fexpr,
            limit=limit,
            cont=q.get("continue") or None,
        )
        if self._wants_table(request):
            return json_response(
                to_table(rt, result["items"], result["metadata"], q.get("includeObject", "Metadata"))
            )
        return json_response(result)

    async def _delete_collection(
        self, request: web.Request, rt: ResourceType, ns: str | None
    ) -> web.Response:
        q = request.query
        options = await self._delete_options(request)
        fexpr = q.get("fieldSelector")
        result = self.api.list(
            rt,
            ns,
            label=parse_label_selector(q.get("labelSelector")),
            field=parse_field_selector(fexpr, rt.plural),
            field_expr=fexpr,
        )
        items = []
        for o in result["items"]:
            with contextlib.suppress(ApiError):
                obj, _ = self.api.delete(
                    rt,
                    o["metadata"].get("namespace"),
                    o["metadata"]["name"],
                    options,
                    dry_run=bool(q.get("dryRun")),
                )
                items.append(obj)
        return json_response({**result, "items": items})

    # ----- scale subresource ---------------------------------------------------------------------
    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        assert rt.scale is not None
        spec_r = evaluate(rt.scale.spec_replicas_path, obj)
        status_r = evaluate(rt.scale.status_replicas_path, obj)
        selector = ""
        if rt.crd_name is None:
            sel = (obj.get("spec") or {}).get("selector") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items()))
        elif rt.scale.label_selector_path:
            found = evaluate(rt.scale.label_selector_path, obj)
            selector = str(found[0]) if found else ""
        md = obj["metadata"]
        status: dict[str, Any] = {"replicas": int(status_r[0]) if status_r else 0}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: md[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in md
            },
            "spec": {"replicas": int(spec_r[0]) if spec_r else 0},
            "status": status,
        }

    async def _scale(self, request: web.Request, rt: ResourceType, ns: str | None, name: str) -> web.Response:
        assert rt.scale is not None
        api = self.api
        obj = api.get(rt, ns, name)
        scale = self._scale_of(rt, obj)
        if request.method == "GET":
            return json_response(scale)
        if request.method == "PUT":
            new_scale = await self._body(request)
        elif request.method == "PATCH":
            from federation.sandbox.kube.patch import json_patch, merge_patch

            raw = await self._read(request)
            ctype = request.headers.get("Content-Type", "").split(";")[0]
            p = orjson.loads(raw)
            new_scale = (
                json_patch(scale, p) if ctype == "application/json-patch+json" else merge_patch(scale, p)
            )
        else:
            raise method_not_allowed()
        replicas = ((new_scale or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas}: must be greater than or equal to 0",
                {
                    "name": name,
                    "group": "autoscaling",
                    "kind": "Scale",
                    "causes": [
                        {
                            "reason": "FieldValueInvalid",
                            "field": "spec.replicas",
                            "message": f"Invalid value: {replicas}: must be greater than or equal to 0",
                        }
                    ],
                },
            )
        want_rv = ((new_scale or {}).get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != obj["metadata"]["resourceVersion"]:
            from federation.sandbox.kube.errors import conflict

            raise conflict(rt.plural, rt.group, name)
        import copy

        body = copy.deepcopy(obj)
        set_path(body, rt.scale.spec_replicas_path, replicas)
        updated = api.update(rt, ns, name, body, dry_run=bool(request.query.get("dryRun")), owned=True)
        return json_response(self._scale_of(rt, updated))

    # ----- watch ---------------------------------------------------------------------------------
    async def _watch(
        self, request: web.Request, rt: ResourceType, ns: str | None, name: str | None = None
    ) -> web.StreamResponse:
        q = request.query
        store = self.api.store
        label = parse_label_selector(q.get("labelSelector"))
        fexpr = q.get("fieldSelector")
        field = parse_field_selector(fexpr, rt.plural)
        if name is not None:
            field = parse_field_selector(f"metadata.name={name}", rt.plural)
        matcher = None
        if label is not None or field is not None:

            def matcher(o: dict[str, Any], lab: Any = label, fld: Any = field) -> bool:
                return (lab is None or lab(o)) and (fld is None or fld(o))

        w = Watcher(rt.key, ns if rt.namespaced else None, matcher, rt.api_version)
        rv_param = q.get("resourceVersion") or ""
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        send_initial = _truthy(q.get("sendInitialEvents"))
        timeout = q.get("timeoutSeconds")
        initial: list[bytes] = []
        expired: str | None = None
        present = self.api._present
        tabler = _TableEvents(rt, q.get("includeObject", "Metadata")) if self._wants_table(request) else None
        if send_initial or rv_param in ("", "0"):
            # "Efficient detection of changes": without a resourceVersion, a watch starts with synthetic
            # ADDED events for every current object.
            for _k, o in store.iter_objects(rt.key, w.namespace):
                if w.matches(o):
                    obj = present(rt, o) if tabler is None else tabler(o)
                    initial.append(orjson.dumps({"type": "ADDED", "object": obj}) + b"\n")
        else:
            try:
                since = store.events_since(int(rv_param))
            except ValueError as exc:
                raise bad_request(f"resourceVersion: invalid value {rv_param!r}") from exc
            if since is None:
                expired = f"too old resource version: {rv_param} ({store.compacted_rv})"
            else:
                for ev in since:
                    if ev.rkey == rt.key:
                        w.offer(ev)
        if expired is None:
            store.add_watcher(w)
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
        )
        resp.enable_chunked_encoding()
        task = asyncio.current_task()
        if task is not None:
            self.watch_tasks.add(task)
        try:
            await resp.prepare(request)
            if expired is not None:
                # The apiserver reports an expired watch as HTTP 200 and an ERROR event carrying a
                # 410 Expired Status (Kubernetes API concepts: "410 Gone responses"; watch never
                # returns the code on the HTTP status line: kubernetes/kubernetes#25151).
                await resp.write(
                    orjson.dumps({"type": "ERROR", "object": status_body(410, "Expired", expired)}) + b"\n"
                )
                return resp
            if initial:
                await resp.write(b"".join(initial))
            if send_initial and bookmarks:
                await resp.write(self._bookmark(rt, store.rv, initial_end=True))
            await self._pump(resp, rt, w, bookmarks, float(timeout) if timeout else None, tabler)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            store.remove_watcher(w)
            if task is not None:
                self.watch_tasks.discard(task)
        return resp

    def _bookmark(self, rt: ResourceType, rv: int, initial_end: bool = False) -> bytes:
        md: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return (
            orjson.dumps(
                {
                    "type": "BOOKMARK",
                    "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": md},
                }
            )
            + b"\n"
        )

    async def _pump(
        self,
        resp: web.StreamResponse,
        rt: ResourceType,
        w: Watcher,
        bookmarks: bool,
        limit_s: float | None,
        tabler: _TableEvents | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s if limit_s else None
        interval = self.cluster.bookmark_interval
        present_needed = rt.crd_name is not None
        store = self.api.store
        while True:
            wait = interval if bookmarks else None
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    return
                wait = left if wait is None else min(wait, left)
            try:
                async with asyncio.timeout(wait):  # None: no limit
                    item = await w.queue.get()
            except TimeoutError:
                # The timer may fire in the loop turn that queued an event (the event stays queued):
                # a bookmark then would claim a version the client has not seen, and a client that
                # resumes from it (after the deadline below ends this watch) would lose that event
                # for good. Events are queued as the store writes them, so an empty queue means
                # every matching event up to store.rv has been sent.
                if bookmarks and w.queue.empty():
                    await resp.write(self._bookmark(rt, store.rv))
                continue
            chunks: list[bytes] = []
            while True:
                if item is CLOSE:
                    if chunks:
                        await resp.write(b"".join(chunks))
                    return
                etype, ev = item
                if tabler is not None:
                    chunks.append(ev.wire(tabler(ev.obj), etype))
                elif present_needed and ev.obj.get("apiVersion") != rt.api_version:
                    chunks.append(ev.wire(self.api._present(rt, ev.obj), etype))
                elif etype is not None:
                    chunks.append(ev.wire(None, etype))
                else:
                    chunks.append(ev.wire())
                if len(chunks) >= 512 or w.queue.empty():
                    break
                item = w.queue.get_nowait()
            await resp.write(b"".join(chunks))


class _TableEvents:
    """Watch events as Tables (`kubectl get -w`, watch Table support since kubernetes/kubernetes#71548):
    column definitions ride on the first event only."""

    def __init__(self, rt: ResourceType, include: str) -> None:
        self.rt = rt
        self.include = include
        self.first = True

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any]:
        table = to_table(
            self.rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, self.include
        )
        if not self.first:
            table["columnDefinitions"] = []
        self.first = False
        return table
