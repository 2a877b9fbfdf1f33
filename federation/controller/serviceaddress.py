"""Where each region of an app is reached without the controller's own SLB: the member Service's address.

The source of ``status.regions[].address`` (and so of the DNS records) when the controller runs without
the regional SLB step (no SLB API: ``fedctl run --no-slb``, or no AccessKey). With that step,
:class:`federation.slb.step.SlbStep` sets the address from the SLB it owns (Managed mode) and uses
:func:`ingress_address` itself for apps in CloudController mode, and this step is not run.

It reads the Service from the controller's member informer cache (no API call): the address is
``status.loadBalancer.ingress[0].ip`` (or ``.hostname``, published as a CNAME), written by the member's
cloud controller some time after the Service is created. The Service's status update is a watch event
on that cache, which enqueues the app again, so the address arrives without polling. Until then the
region has no address and DNS does not serve it (``dnsReason: no address yet``); when no region has an
address the app's name is left as it is rather than emptied.

Only a fact it saw is written: a reachable, synced member whose Service (ours) has no ingress clears
the address; an unreachable member leaves the last known one in place (that region is unhealthy
anyway, so DNS does not answer it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from federation.clusters.render import ownership
from federation.controller.steps import StepContext

if TYPE_CHECKING:
    from federation.controller.members import MemberView


def ingress_address(service: dict[str, Any] | None) -> str | None:
    """The first ingress point of a LoadBalancer Service: its IP, else its hostname (pure)."""
    status = (service or {}).get("status") or {}
    for point in (status.get("loadBalancer") or {}).get("ingress") or []:
        address = point.get("ip") or point.get("hostname")
        if address:
            return str(address)
    return None


class ServiceAddressStep:
    """Sets each placed region's ``address`` from the app's Service in that region's member."""

    name = "ServiceAddress"

    def __init__(self, member_for: Callable[[str], MemberView | None]) -> None:
        self.member_for = member_for

    async def apply(self, ctx: StepContext) -> None:
        key = f"{ctx.app.namespace}/{ctx.app.name}"
        for a in ctx.placement.regions:
            obs = ctx.regions.get(a.name)
            view = self.member_for(obs.cluster) if obs is not None and obs.cluster else None
            if view is None or view.reachable is False or not view.synced:
                continue  # nothing seen: keep what the status says
            service = view.services.get(key)
            if ownership(service, ctx.app) != "ours":
                service = None
            ctx.region_fields.setdefault(a.name, {})["address"] = ingress_address(service)

    async def cleanup(self, ctx: StepContext) -> None:
        return None  # the Service itself is removed with the app's other objects
