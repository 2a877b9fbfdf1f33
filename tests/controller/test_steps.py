"""The steps after propagation: a stand-in for the regional LB step feeds addresses, the real
DnsPublisher (embedded provider) publishes them, and the app's status shows the result."""

from __future__ import annotations

from federation.api import constants as c
from federation.controller.dnsstep import DnsStep
from federation.controller.resources import FEDERATEDAPPS, MEMBERCLUSTERS
from federation.controller.steps import StepContext
from federation.dns.providers.embedded import EmbeddedProvider
from federation.dns.publisher import DnsPublisher
from tests.controller.conftest import REGIONS, World, fast_config, make_app
from tests.waiting import wait_for

ADDRESSES = {r: f"192.0.2.{i + 10}" for i, r in enumerate(REGIONS)}


class FixedAddresses:
    """What the regional load-balancer step will contribute: one address per region."""

    name = "LoadBalancer"

    async def apply(self, ctx: StepContext) -> None:
        for a in ctx.placement.regions:
            ctx.region_fields.setdefault(a.name, {}).update(
                address=ADDRESSES[a.name], load_balancer_id=f"lb-{a.name}"
            )

    async def cleanup(self, ctx: StepContext) -> None:
        return None


def _published(provider: EmbeddedProvider) -> set[str]:
    return {
        r.value for r in provider.snapshot("example.com") if r.name == "web.example.com" and r.rtype == "A"
    }


async def test_dns_is_published_follows_health_and_is_released_on_delete(world: World) -> None:
    provider = EmbeddedProvider(zones=["example.com"])
    world.sb.steps = [FixedAddresses(), DnsStep(DnsPublisher(provider))]
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=6))
    await world.wait_ready()

    async def all_published() -> bool:
        return _published(provider) == set(ADDRESSES.values())

    await wait_for(all_published, 10, "every region in DNS")
    app = await world.app()
    assert app is not None
    st = app["status"]
    assert st["dns"]["hostname"] == "web.example.com"
    assert st["dns"]["failOpen"] is False
    assert any(rec["line"] == "default" for rec in st["dns"]["records"])
    assert {r["region"]: r["servingDNS"] for r in st["regions"]} == dict.fromkeys(REGIONS, True)
    assert {r["region"]: r["address"] for r in st["regions"]} == ADDRESSES
    conds = {cd["type"]: cd["status"] for cd in st["conditions"]}
    assert conds[c.COND_DNS_PUBLISHED] == "True"

    await world.host.merge_patch(
        MEMBERCLUSTERS,
        "cn-beijing",
        {"metadata": {"annotations": {c.ANNOTATION_REGION_HEALTH: c.HEALTH_OVERRIDE_UNHEALTHY}}},
    )

    async def beijing_out() -> bool:
        return _published(provider) == {ADDRESSES["cn-hangzhou"], ADDRESSES["eu-central-1"]}

    await wait_for(beijing_out, 10, "cn-beijing out of DNS")

    await world.host.delete(FEDERATEDAPPS, "web", "shop")

    async def gone() -> bool:
        return await world.app() is None

    await wait_for(gone, 10, "app deleted")
    assert _published(provider) == set()
