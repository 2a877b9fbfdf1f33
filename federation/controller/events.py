"""Kubernetes Events on our objects, for the decisions a user wants to see in ``kubectl describe``.

Events are best effort (a failed Event never fails a reconcile) and are only recorded on transitions,
so a steady state records none. Messages are built by the reconcilers from spec and status data only:
never from kubeconfigs or error bodies that might echo credentials.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from federation.clusters.kubeapi import EVENTS, KubeApi, KubeError
from federation.logsetup import redact

log = logging.getLogger(__name__)

COMPONENT = "fedctl-controller"


class EventRecorder:
    def __init__(self, api: KubeApi, *, component: str = COMPONENT) -> None:
        self.api = api
        self.component = component
        self.recorded = 0

    async def record(
        self, obj: dict[str, Any], type_: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name')}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": redact(message)[:1024],
            "type": type_,
            "source": {"component": self.component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": self.component,
        }
        log.info("event %s %s/%s %s: %s", type_, namespace, meta.get("name"), reason, body["message"])
        try:
            await self.api.create(EVENTS, body, namespace)
            self.recorded += 1
        except KubeError as exc:
            log.debug("could not record event %s: %s", reason, exc)
