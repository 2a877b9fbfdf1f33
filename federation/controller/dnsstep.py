"""The DNS step of the app reconcile: hand each region's endpoint to the ``DnsPublisher``.

Thin: it translates the placement and observations into the publisher's ``RegionEndpoint`` list (a
region is healthy for DNS when it is placed, has replicas and no problem; its address comes from the
load-balancer step (for now ``ServiceAddressStep``), or from the status when that step could not look
this time) and the publisher's result into the ``DNSPublished`` condition (False, ``WaitingForAddresses``,
while no region has an address), ``status.dns`` and each region's ``servingDNS``/``dnsReason``. A publish
that failed (provider error, a hostname owned by another app) fails the step after reporting it, so the
app is retried with backoff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from federation.api import constants as c
from federation.api.federatedapp import DnsRecordStatus, DnsStatus
from federation.controller.steps import StepContext, StepFailed

if TYPE_CHECKING:
    from federation.dns.publisher import DnsPublisher, PublishResult
    from federation.dns.steering import RegionEndpoint


class DnsStep:
    name = "DNS"

    def __init__(self, publisher: DnsPublisher) -> None:
        self.publisher = publisher

    async def apply(self, ctx: StepContext) -> None:
        from federation.dns.publisher import AppIdentity
        from federation.dns.steering import RegionEndpoint

        app = ctx.app
        previous = {r.region: r for r in (ctx.previous_status.regions if ctx.previous_status else [])}
        endpoints = []
        for a in ctx.placement.regions:
            obs = ctx.regions.get(a.name)
            fields = ctx.region_fields.get(a.name) or {}
            prev = previous.get(a.name)
            # a step that looked and found none says None; a step that could not look says nothing
            address = fields.get("address", prev.address if prev else None)
            problem = obs.problem if obs else ""
            move = ctx.moves.get(a.name)
            if move is not None:
                # the make-before-break order decides (a leaving region stays until the others are
                # ready; a joining one waits for its own replicas)
                healthy = move.serve_dns and not problem and (obs is None or obs.reachable is not False)
                reason = (
                    a.reason or problem or move.reason or ("no replicas placed" if move.replicas == 0 else "")
                )
            else:
                healthy = (
                    a.state == "active"
                    and a.replicas > 0
                    and not problem
                    and (obs is None or obs.reachable is not False)
                    # rescheduleOnFailure=false keeps an unhealthy region's replicas, never its DNS answer
                    and (obs is None or obs.health != "Unhealthy")
                )
                reason = a.reason or problem or ("no replicas placed" if a.replicas == 0 else "")
            endpoints.append(RegionEndpoint(a.name, address, healthy, weight=a.replicas, reason=reason))
        result = await self.publisher.publish(
            AppIdentity(app.namespace, app.name, app.metadata.uid),
            app.spec.dns,
            endpoints,
            failover_order=app.spec.dns_failover_order(),
        )
        self._report(ctx, result, endpoints)
        if not result.ok:
            # the status says what happened (above); failing the reconcile makes the queue back off
            raise StepFailed(
                result.reason,
                result.message,
                reported=True,
                retry_after=result.retry_after,
                deferred=result.deferred,
            )

    def _report(self, ctx: StepContext, result: PublishResult, endpoints: list[RegionEndpoint]) -> None:
        if result.ok and not result.records and not any(e.address for e in endpoints):
            # nothing to answer with yet (the regions' addresses are on their way): not published
            ctx.conditions.append(
                (
                    c.COND_DNS_PUBLISHED,
                    False,
                    "WaitingForAddresses",
                    f"{result.hostname}: no region has an address yet",
                )
            )
        else:
            ctx.conditions.append((c.COND_DNS_PUBLISHED, result.ok, result.reason, result.message))
        previous = {r.region: r for r in (ctx.previous_status.regions if ctx.previous_status else [])}
        confirmed = not result.error and not result.conflicts  # the provider made the change
        at = ctx.clock()
        # a provider that was not even read (paused after refusing, or unreadable) changed nothing
        serving_now = result.serving if result.known else dict.fromkeys((e.region for e in endpoints), False)
        for region, serving in serving_now.items():
            prev = previous.get(region)
            fields = ctx.region_fields.setdefault(region, {})
            was_serving = bool(prev and prev.serving_dns)
            if not confirmed:
                # what DNS answers is what it answered: a leaving region keeps its replicas and says why
                fields.update(
                    serving_dns=prev.serving_dns if prev else None,
                    dns_removed_at=prev.dns_removed_at if prev else None,
                    dns_reason=f"DNS not changed: {result.message}"[:1024],
                )
                if was_serving and not serving and region in ctx.moves:
                    fields["phase_reason"] = f"replicas kept: DNS still answers with it ({result.reason})"
                continue
            removed_at = prev.dns_removed_at if prev else None
            if serving:
                removed_at = None
            elif was_serving:
                removed_at = at  # the timeline's anchor: the grace period counts from here
            fields.update(
                serving_dns=serving, dns_reason=result.reasons.get(region) or None, dns_removed_at=removed_at
            )
        if not result.known:
            return  # what the status says about the records stands
        ctx.status_fields["dns"] = DnsStatus(
            hostname=result.hostname,
            fail_open=result.fail_open,
            records=[
                DnsRecordStatus(line=r["line"], values=list(r["values"])) for r in result.status_records()
            ],
        )

    async def cleanup(self, ctx: StepContext) -> None:
        from federation.dns.publisher import AppIdentity

        app = ctx.app
        result = await self.publisher.delete(
            AppIdentity(app.namespace, app.name, app.metadata.uid), app.spec.dns.zone, [app.spec.dns.hostname]
        )
        if not result.ok:
            raise StepFailed(result.reason, result.message)
