"""Running the preflight: what the member and the ECS API say, handed to the pure checks.

Reads only, except the sysctl check: one short-lived Pod per node (``federation-system``, pinned by
``nodeName``, host network, ``/proc/sys`` mounted read-only) that prints the value and exits; its log
is the reading. The Pods are watched to completion and deleted afterwards whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from typing import Any

from federation.clusters.kubeapi import ACCESS_REVIEWS, NAMESPACES, NODES, PODS, KubeApi, KubeError
from federation.preflight import checks
from federation.preflight.checks import Check

PREFLIGHT_NAMESPACE = "federation-system"
PREFLIGHT_LABEL = "federation.io/preflight"
READER_IMAGE = "busybox:1.36"


async def _access(member: KubeApi) -> dict[tuple[str, str, str], bool]:
    async def one(verb: str, group: str, resource: str) -> bool:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource}},
        }
        got = await member.create(ACCESS_REVIEWS, body)
        return bool((got.get("status") or {}).get("allowed"))

    results = await asyncio.gather(*(one(*a) for a in checks.REQUIRED_ACCESS))
    return dict(zip(checks.REQUIRED_ACCESS, results, strict=True))


async def _security_groups(
    ecs: Any, region: str, nodes: Sequence[dict[str, Any]]
) -> tuple[dict[str, list[str]], dict[str, list[dict[str, Any]]]]:
    ids = sorted({i for n in nodes if (i := checks.instance_id(n, region))})
    instances = await ecs.describe_instances(region, ids) if ids else []
    groups = {
        str(inst["InstanceId"]): list((inst.get("SecurityGroupIds") or {}).get("SecurityGroupId") or [])
        for inst in instances
    }
    for missing in set(ids) - set(groups):
        groups[missing] = []  # the ECS API does not know it: no group admits anything
    unique = sorted({g for gs in groups.values() for g in gs})
    rules = await asyncio.gather(*(ecs.security_group_rules(region, g) for g in unique))
    return groups, dict(zip(unique, rules, strict=True))


def reader_pod(node: str) -> dict[str, Any]:
    digest = hashlib.sha256(node.encode()).hexdigest()[:10]
    path = "/host/proc/sys/" + checks.SYSCTL.replace(".", "/")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"fedctl-preflight-{digest}",
            "namespace": PREFLIGHT_NAMESPACE,
            "labels": {PREFLIGHT_LABEL: "sysctl", "app.kubernetes.io/managed-by": "fedctl"},
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "hostNetwork": True,  # the node's own network namespace: its bridge sysctls
            "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "read",
                    "image": READER_IMAGE,
                    "command": ["cat", path],
                    "volumeMounts": [{"name": "proc-sys", "mountPath": "/host/proc/sys", "readOnly": True}],
                    "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
                    "resources": {"limits": {"cpu": "50m", "memory": "16Mi"}},
                }
            ],
            "volumes": [{"name": "proc-sys", "hostPath": {"path": "/proc/sys", "type": "Directory"}}],
        },
    }


async def _read_sysctls(member: KubeApi, nodes: Sequence[str], within: float) -> dict[str, str | None]:
    """Each node's value, read by a Pod on it; None where the Pod did not succeed in time."""
    if await member.get(NAMESPACES, PREFLIGHT_NAMESPACE) is None:
        with contextlib.suppress(KubeError):
            await member.create(
                NAMESPACES,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PREFLIGHT_NAMESPACE}},
            )
    pods = {node: reader_pod(node) for node in nodes}
    names = {p["metadata"]["name"]: node for node, p in pods.items()}
    _, rv = await member.list(PODS, PREFLIGHT_NAMESPACE, label_selector=PREFLIGHT_LABEL)
    for pod in pods.values():
        with contextlib.suppress(KubeError):  # a leftover of an interrupted run: replace it
            await member.delete(PODS, pod["metadata"]["name"], PREFLIGHT_NAMESPACE)
        await member.create(PODS, pod, PREFLIGHT_NAMESPACE)
    finished: dict[str, str] = {}
    try:
        async with asyncio.timeout(within):
            while len(finished) < len(pods):
                async for ev in member.watch(
                    PODS,
                    rv,
                    namespace=PREFLIGHT_NAMESPACE,
                    label_selector=PREFLIGHT_LABEL,
                    timeout_seconds=int(within) + 1,
                ):
                    obj = ev.get("object") or {}
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    name = str((obj.get("metadata") or {}).get("name") or "")
                    phase = (obj.get("status") or {}).get("phase")
                    if name in names and phase in ("Succeeded", "Failed"):
                        finished[name] = phase
                    if len(finished) == len(pods):
                        break
    except TimeoutError:
        pass
    values: dict[str, str | None] = {}
    try:
        for name, node in names.items():
            if finished.get(name) != "Succeeded":
                values[node] = None
                continue
            log = await member.request("get", "GET", PODS.path(PREFLIGHT_NAMESPACE, name, "log"), text=True)
            values[node] = str(log).strip() or None
    finally:
        for name in names:
            with contextlib.suppress(KubeError):
                await member.delete(PODS, name, PREFLIGHT_NAMESPACE)
    return values


async def run_preflight(
    member: KubeApi, region: str, *, ecs: Any = None, sysctl_timeout: float = 60.0
) -> list[Check]:
    """Every check, in the order they are printed. ``ecs`` (an :class:`~federation.cloud.alibaba.ecs.EcsApi`)
    is optional: without Alibaba credentials the security-group check is skipped."""
    try:
        version = await member.version()
    except KubeError as exc:
        return [checks.check_api(None, f"{exc.reason} (HTTP {exc.status})" if exc.status else exc.reason)]
    out = [checks.check_api(version, None)]
    try:
        access = await _access(member)
        out.append(checks.check_access(access))
    except KubeError as exc:
        access = {}
        out.append(
            Check("permissions", "warn", f"SelfSubjectAccessReview failed: {exc.reason}", "not verified")
        )
    nodes, _ = await member.list(NODES)
    out += [
        checks.check_provider_ids(nodes, region),
        checks.check_hostnames(nodes),
        checks.check_zones(nodes),
    ]
    if ecs is None:
        out.append(checks.check_security_groups(None, {}))
    else:
        try:
            groups, rules = await _security_groups(ecs, region, nodes)
            out.append(checks.check_security_groups(groups, rules))
        except Exception as exc:  # the ECS API's error, worded; the check is then not decided
            out.append(checks.check_security_groups(None, {}, f"ECS API: {exc}"))
    names = [str((n.get("metadata") or {}).get("name")) for n in nodes]
    try:
        out.append(checks.check_sysctl(await _read_sysctls(member, names, sysctl_timeout)))
    except KubeError as exc:
        out.append(checks.check_sysctl(None, f"could not run the reader Pods: {exc.reason}"))
    return out
