"""Joining a member cluster to the federation: its kubeconfig into a Secret, and a MemberCluster.

``fedctl join`` is what an operator runs once per member (what ``kubefedctl join`` and
``karmadactl join`` do for their projects). Two details matter for users:

- The stored kubeconfig is *self-contained*: one context, one cluster, one user, with every file
  reference (``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile``) inlined,
  because the controller reads it from a Secret on another machine where those paths mean nothing.
- Joining is idempotent and safe to repeat: an existing Secret is updated in place, an existing
  MemberCluster keeps its status and may not move to another region (the CRD makes ``spec.region``
  immutable; we say so before the API server has to).

Nothing here logs or prints the kubeconfig or its credentials.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from federation.api import constants as c
from federation.clusters.kubeapi import NAMESPACES, SECRETS, KubeApi, KubeError
from federation.clusters.resources import MEMBERCLUSTERS

# kubeconfig keys that name a file, and the inline key that replaces each.
_FILE_KEYS = {
    "cluster": {"certificate-authority": "certificate-authority-data"},
    "user": {"client-certificate": "client-certificate-data", "client-key": "client-key-data"},
}


class JoinError(Exception):
    """The member cannot be joined as asked; the message says why and names the field."""


@dataclass(frozen=True)
class JoinSpec:
    name: str
    region: str
    namespace: str = "federation-system"
    zones: tuple[str, ...] = ()
    vpc_id: str | None = None
    vswitch_ids: tuple[str, ...] = ()
    cen_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def secret_name(self) -> str:
        return f"{self.name}-kubeconfig"


def self_contained_kubeconfig(
    config: dict[str, Any], *, context: str | None = None, base_dir: Path | None = None
) -> dict[str, Any]:
    """The one context ``context`` (default: current-context) of ``config``, with files inlined."""
    if not isinstance(config, dict) or not config.get("contexts"):
        raise JoinError("kubeconfig: no contexts")
    ctx_name = context or config.get("current-context")
    if not ctx_name:
        raise JoinError("kubeconfig: no current-context; pass --context")
    ctx = _named(config, "contexts", ctx_name, "context")
    cluster = copy.deepcopy(_named(config, "clusters", ctx.get("cluster"), "cluster"))
    user = copy.deepcopy(_named(config, "users", ctx.get("user"), "user"))
    base = base_dir or Path.cwd()
    for section, obj in (("cluster", cluster), ("user", user)):
        for file_key, data_key in _FILE_KEYS[section].items():
            if obj.get(file_key):
                content = _read(base, obj.pop(file_key), f"{section}.{file_key}")
                obj[data_key] = base64.b64encode(content).decode()
    if user.get("tokenFile"):
        user["token"] = _read(base, user.pop("tokenFile"), "user.tokenFile").decode().strip()
    if "exec" in user or "auth-provider" in user:
        # An exec plugin runs a binary on the operator's machine; the controller's pod won't have it.
        raise JoinError(
            f"kubeconfig user {ctx.get('user')!r} authenticates with an exec/auth-provider "
            "plugin; join with a token or client certificate "
            "(see deploy/member/member-rbac.yaml)"
        )
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": ctx_name,
        "clusters": [{"name": ctx["cluster"], "cluster": cluster}],
        "users": [{"name": ctx["user"], "user": user}],
        "contexts": [{"name": ctx_name, "context": {"cluster": ctx["cluster"], "user": ctx["user"]}}],
    }


def _named(config: dict[str, Any], section: str, name: Any, key: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key)
            if isinstance(value, dict):
                return value
    raise JoinError(f"kubeconfig: {section[:-1]} {name!r} not found")


def _read(base: Path, path: str, what: str) -> bytes:
    p = Path(path).expanduser()
    p = p if p.is_absolute() else base / p
    try:
        return p.read_bytes()
    except OSError as exc:
        raise JoinError(f"kubeconfig {what}: cannot read {p}: {exc.strerror}") from None


def member_objects(spec: JoinSpec, kubeconfig: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Secret and the MemberCluster that register the member (pure)."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec.secret_name,
            "namespace": spec.namespace,
            "labels": {c.LABEL_MANAGED_BY: c.MANAGED_BY},
        },
        "data": {c.DEFAULT_KUBECONFIG_KEY: base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()},
    }
    mc_spec: dict[str, Any] = {
        "region": spec.region,
        "kubeconfigSecretRef": {
            "name": spec.secret_name,
            "namespace": spec.namespace,
            "key": c.DEFAULT_KUBECONFIG_KEY,
        },
    }
    if spec.zones:
        mc_spec["zones"] = list(spec.zones)
    if spec.vpc_id:
        mc_spec["vpcId"] = spec.vpc_id
    if spec.vswitch_ids:
        mc_spec["vSwitchIds"] = list(spec.vswitch_ids)
    if spec.cen_id:
        mc_spec["cenId"] = spec.cen_id
    if spec.labels:
        mc_spec["labels"] = dict(spec.labels)
    mc = {
        "apiVersion": c.API_VERSION,
        "kind": c.MEMBERCLUSTER_KIND,
        "metadata": {"name": spec.name},
        "spec": mc_spec,
    }
    return secret, mc


async def join(host: KubeApi, spec: JoinSpec, kubeconfig: dict[str, Any]) -> str:
    """Create or update the member's Secret and MemberCluster; returns "joined" or "updated"."""
    secret, mc = member_objects(spec, kubeconfig)
    existing = await host.get(MEMBERCLUSTERS, spec.name)
    if existing is not None and existing.get("spec", {}).get("region") != spec.region:
        raise JoinError(
            f"MemberCluster {spec.name} is in region {existing['spec'].get('region')}, not "
            f"{spec.region}: spec.region is immutable (unjoin it first)"
        )
    if await host.get(NAMESPACES, spec.namespace) is None:
        try:
            await host.create(
                NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spec.namespace}}
            )
        except KubeError as exc:
            if not exc.conflict:
                raise
    await _create_or_replace(host, secret, spec.namespace)
    if existing is None:
        await host.create(MEMBERCLUSTERS, mc)
        return "joined"
    body = copy.deepcopy(existing)
    body["spec"] = mc["spec"]
    if body != existing:
        await host.replace(MEMBERCLUSTERS, spec.name, body)
    return "updated"


async def unjoin(host: KubeApi, name: str, namespace: str = "federation-system") -> bool:
    """Remove the MemberCluster and its kubeconfig Secret; False if it was not joined."""
    mc = await host.get(MEMBERCLUSTERS, name)
    if mc is None:
        return False
    ref = mc.get("spec", {}).get("kubeconfigSecretRef") or {}
    await host.delete(MEMBERCLUSTERS, name)
    if ref.get("name"):
        try:
            await host.delete(SECRETS, ref["name"], ref.get("namespace") or namespace)
        except KubeError as exc:
            if not exc.not_found:
                raise
    return True


async def _create_or_replace(host: KubeApi, body: dict[str, Any], namespace: str) -> None:
    name = body["metadata"]["name"]
    current = await host.get(SECRETS, name, namespace)
    if current is None:
        await host.create(SECRETS, body, namespace)
        return
    if current.get("data") == body["data"] and current.get("type") == body["type"]:
        return
    replacement = copy.deepcopy(body)
    replacement["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await host.replace(SECRETS, name, replacement, namespace)
