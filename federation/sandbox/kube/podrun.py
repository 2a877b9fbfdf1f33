"""Pods that run to completion on a simulated node: what the join preflight schedules to read a sysctl.

The simulator has no container runtime. A Pod bound to a node (``spec.nodeName``) with
``restartPolicy: Never`` is "run" after a short delay by interpreting its one container's command,
which may be ``cat FILE...``: a file under a ``hostPath`` volume of ``/proc/sys`` reads the node's
simulated sysctls (node annotation ``sim.federation.io/sysctl.<name>``, else :data:`DEFAULT_SYSCTLS`).
The output becomes the Pod's log (``GET .../pods/NAME/log``) and the Pod ends ``Succeeded`` (exit 0)
or ``Failed`` (exit 1, with cat's message on the log). Any other command fails the same way a missing
binary would (exit 127). A Pod bound to a node that does not exist or is NotReady stays Pending.
"""

from __future__ import annotations

import asyncio
import posixpath
from datetime import UTC, datetime
from typing import Any

from federation.sandbox.kube.api import ClusterApi

SYSCTL_ANNOTATION = "sim.federation.io/sysctl."
DEFAULT_SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}
POD_KEY = "/pods"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodRunner:
    def __init__(self, api: ClusterApi, *, delay: float = 0.2) -> None:
        self.api = api
        self.delay = delay
        self.logs: dict[tuple[str, str], str] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self._running = False
        api.store.listeners.append(self._on_event)

    def start(self) -> None:
        self._running = True

    def stop(self) -> None:
        self._running = False
        for t in self._timers:
            t.cancel()
        self._timers.clear()

    def _on_event(self, ev: Any) -> None:
        if not self._running or ev.rkey != POD_KEY:
            return
        md = ev.obj["metadata"]
        key = (md.get("namespace") or "", md["name"])
        if ev.type == "DELETED":
            self.logs.pop(key, None)
            return
        spec = ev.obj.get("spec") or {}
        phase = (ev.obj.get("status") or {}).get("phase")
        if ev.type == "ADDED" and spec.get("nodeName") and spec.get("restartPolicy") == "Never" and not phase:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(self.delay, self._run, key))

    def _node(self, name: str) -> dict[str, Any] | None:
        return self.api.store.get("/nodes", ("", name))

    def _run(self, key: tuple[str, str]) -> None:
        if not self._running:
            return
        rt = self.api.resolve("", "v1", "pods")
        pod = self.api.store.get(POD_KEY, key)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        node = self._node(spec.get("nodeName") or "")
        ready = node is not None and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (node.get("status") or {}).get("conditions") or []
        )
        if not ready:
            self.api.write_status(rt, pod, {"phase": "Pending"})
            return
        containers = spec.get("containers") or [{}]
        output, code = self._execute(spec, containers[0], node or {})
        self.logs[key] = output
        started = _now()
        state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started,
                "finishedAt": _now(),
            }
        }
        self.api.write_status(
            rt,
            pod,
            {
                "phase": "Succeeded" if code == 0 else "Failed",
                "startTime": started,
                "hostIP": ((node or {}).get("status") or {}).get("addresses", [{}])[0].get("address", ""),
                "containerStatuses": [
                    {
                        "name": containers[0].get("name", ""),
                        "image": containers[0].get("image", ""),
                        "ready": False,
                        "restartCount": 0,
                        "state": state,
                    }
                ],
            },
        )

    def _execute(
        self, spec: dict[str, Any], container: dict[str, Any], node: dict[str, Any]
    ) -> tuple[str, int]:
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        if not argv or posixpath.basename(argv[0]) != "cat":
            return f"exec: {argv[0] if argv else ''!r}: not found in the simulated image\n", 127
        mounts = {m.get("mountPath", ""): m.get("name", "") for m in container.get("volumeMounts") or []}
        host_paths = {
            v.get("name", ""): (v.get("hostPath") or {}).get("path", "")
            for v in spec.get("volumes") or []
            if v.get("hostPath")
        }
        annotations = (node.get("metadata") or {}).get("annotations") or {}
        out, code = [], 0
        for path in argv[1:]:
            value = None
            for mount, vol in mounts.items():
                host = host_paths.get(vol, "")
                if mount and path.startswith(mount.rstrip("/") + "/") and host.rstrip("/") == "/proc/sys":
                    name = path[len(mount.rstrip("/")) + 1 :].replace("/", ".")
                    value = annotations.get(SYSCTL_ANNOTATION + name, DEFAULT_SYSCTLS.get(name))
            if value is None:
                out.append(f"cat: {path}: No such file or directory\n")
                code = 1
            else:
                out.append(f"{value}\n")
        return "".join(out), code
