"""The objects an app wants in one member cluster, and whether a live object already matches: pure.

``render_*`` build the Namespace, Deployment and Service for (app, region, replicas) from the spec and
that region's override. ``needs_update`` compares only what we manage: every field we set must be
present with the same value in the live object (fields the API server fills in, such as defaults,
``clusterIP`` or ``nodePort``, are ignored), plus a hash of the rendered spec kept in an annotation,
which catches the few fields the server may rewrite in canonical form (resource quantities). That is
what makes the steady state write-free.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Literal

from federation.api import constants as c
from federation.api.federatedapp import FederatedApp

ANNOTATION_SPEC_HASH = "federation.io/spec-hash"
ANNOTATION_REGION = "federation.io/region"

Obj = dict[str, Any]
Ownership = Literal["ours", "absent", "foreign"]


def spec_hash(spec: Obj) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _pod_spec(app: FederatedApp, region: str) -> Obj:
    pod: Obj = copy.deepcopy(app.spec.template.spec)
    ov = app.spec.override_for(region)
    if ov is None:
        return pod
    containers: list[Obj] = pod["containers"]
    target = (
        next((ct for ct in containers if ct.get("name") == ov.container), None)
        if ov.container
        else containers[0]
    )
    if target is None:
        return pod
    if ov.image:
        target["image"] = ov.image
    if ov.env:
        env = [e for e in target.get("env") or [] if e.get("name") not in {x.name for x in ov.env}]
        env.extend({"name": e.name, "value": e.value} for e in ov.env)
        target["env"] = env
    if ov.resources is not None:
        res = dict(target.get("resources") or {})
        for part in ("limits", "requests"):
            extra = getattr(ov.resources, part)
            if extra:
                res[part] = {**(res.get(part) or {}), **{k: str(v) for k, v in extra.items()}}
        target["resources"] = res
    return pod


def render_namespace(app: FederatedApp) -> Obj:
    # Shared by every app of that host namespace, so it carries no single app's identity.
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": app.namespace,
            "labels": {c.LABEL_MANAGED_BY: c.MANAGED_BY, c.LABEL_APP_NAMESPACE: app.namespace},
        },
    }


def _meta(app: FederatedApp, region: str, spec: Obj) -> Obj:
    return {
        "name": app.name,
        "namespace": app.namespace,
        "labels": app.ownership_labels(),
        "annotations": {ANNOTATION_SPEC_HASH: spec_hash(spec), ANNOTATION_REGION: region},
    }


def render_deployment(app: FederatedApp, region: str, replicas: int) -> Obj:
    tmpl_meta: Obj = {"labels": app.pod_labels()}
    if app.spec.template.metadata is not None and app.spec.template.metadata.annotations:
        tmpl_meta["annotations"] = dict(app.spec.template.metadata.annotations)
    selector = app.effective_selector().model_dump(by_alias=True, exclude_none=True)
    spec: Obj = {
        "replicas": replicas,
        "selector": selector,
        "template": {"metadata": tmpl_meta, "spec": _pod_spec(app, region)},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(app, region, spec), "spec": spec}


def render_service(
    app: FederatedApp, region: str, service_type: str = "NodePort", annotations: dict[str, str] | None = None
) -> Obj:
    ports = [
        {"name": p.name, "port": p.port, "targetPort": p.target_port_or_port(), "protocol": p.transport()}
        for p in app.spec.ports
    ]
    spec: Obj = {"type": service_type, "selector": {c.LABEL_APP: app.name}, "ports": ports}
    meta = _meta(app, region, spec)
    if annotations:
        meta["annotations"] = {**annotations, **meta["annotations"]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def ownership(obj: Obj | None, app: FederatedApp) -> Ownership:
    """Whether a live object is ours (this app's labels), absent, or someone else's."""
    if obj is None:
        return "absent"
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if (
        labels.get(c.LABEL_MANAGED_BY) == c.MANAGED_BY
        and labels.get(c.LABEL_APP) == app.name
        and labels.get(c.LABEL_APP_NAMESPACE) == app.namespace
    ):
        return "ours"
    return "foreign"


def _subset(want: Any, have: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(_subset, want, have))
    if isinstance(want, (int, float)) and isinstance(have, str):
        return str(want) == have
    return bool(want == have)


def needs_update(desired: Obj, actual: Obj) -> bool:
    """True when the live object differs from the rendered one in anything we manage."""
    dm, am = desired["metadata"], actual.get("metadata") or {}
    if not _subset(dm.get("labels") or {}, am.get("labels") or {}):
        return True
    if not _subset(dm.get("annotations") or {}, am.get("annotations") or {}):
        return True
    # Resource quantities may come back canonicalised ("500m" -> "0.5"): the spec hash covers them.
    return not _subset(
        _without_resources(desired.get("spec") or {}), _without_resources(actual.get("spec") or {})
    )


def _without_resources(spec: Obj) -> Obj:
    """``spec`` with its containers' ``resources`` left out: copies along that path only (this runs for
    every object of every reconcile; the rest is shared with ``spec``, which stays untouched)."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return spec
    pod = template.get("spec")
    if not isinstance(pod, dict) or not isinstance(pod.get("containers"), list):
        return spec
    containers = [
        {k: v for k, v in ct.items() if k != "resources"} if isinstance(ct, dict) else ct
        for ct in pod["containers"]
    ]
    return {**spec, "template": {**template, "spec": {**pod, "containers": containers}}}


def merge_for_update(desired: Obj, actual: Obj) -> Obj:
    """The body to PUT: the live object with our labels, annotations and spec laid over it.

    Labels and annotations others added are kept; server-allocated Service fields (clusterIP,
    nodePort of ports whose name and type survive) are carried over, as the API requires.
    """
    body = copy.deepcopy(actual)
    body.pop("status", None)
    meta = body.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **desired["metadata"]["labels"]}
    meta["annotations"] = {**(meta.get("annotations") or {}), **desired["metadata"]["annotations"]}
    spec = copy.deepcopy(desired["spec"])
    if desired.get("kind") == "Service":
        old = actual.get("spec") or {}
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if key in old:
                spec[key] = old[key]
        with_node_ports = ("NodePort", "LoadBalancer")
        if spec.get("type") in with_node_ports and old.get("type") in with_node_ports:
            node_ports = {p.get("name"): p.get("nodePort") for p in old.get("ports") or []}
            for p in spec["ports"]:
                if node_ports.get(p["name"]):
                    p["nodePort"] = node_ports[p["name"]]
        body["spec"] = {**{k: v for k, v in old.items() if k not in ("ports", "selector", "type")}, **spec}
    else:
        body["spec"] = spec
    return body
