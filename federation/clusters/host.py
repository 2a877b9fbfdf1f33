"""Reaching the host cluster: an explicit kubeconfig, else in-cluster config, else ``$KUBECONFIG`` or
``~/.kube/config``. A missing one is :class:`HostConfigError` (the CLI words it as a usage error)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from federation.clusters.kubeapi import KubeApi

IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


class HostConfigError(Exception):
    """No way to reach the host cluster was configured."""


def _default_kubeconfig() -> Path | None:
    path = Path(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]).expanduser()
    return path if path.exists() else None


async def host_client(
    kubeconfig: Path | None,
    context: str | None,
    name: str = "host",
    *,
    qps: float | None = None,
    burst: int | None = None,
) -> KubeApi:
    """The host cluster's client: an explicit kubeconfig, else in-cluster config, else ~/.kube/config.
    ``qps``/``burst`` pace it (``Settings.kube_qps``/``kube_burst``; None: the defaults)."""
    if kubeconfig is not None:
        return await KubeApi.from_kubeconfig_file(
            kubeconfig, context=context, name=name, qps=qps, burst=burst
        )
    if os.environ.get(IN_CLUSTER_ENV):
        return KubeApi.in_cluster(name=name, qps=qps, burst=burst)
    default = await asyncio.to_thread(_default_kubeconfig)
    if default is not None:
        return await KubeApi.from_kubeconfig_file(default, context=context, name=name, qps=qps, burst=burst)
    raise HostConfigError(
        "no host cluster: pass --kubeconfig, set FEDCTL_KUBECONFIG or KUBECONFIG, or run inside a cluster"
    )
