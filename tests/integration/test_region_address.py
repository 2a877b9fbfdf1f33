"""Without the regional SLB step (no SLB API), each region's address is its member's LoadBalancer
Service address: a region without one yet is not served, and a name is never published empty."""

from __future__ import annotations

from pathlib import Path

from federation.api import constants as c
from federation.controller.serviceaddress import ingress_address
from federation.sandbox.wiring import Sandbox
from tests.integration.conftest import Running, fast_config
from tests.waiting import wait_for


def test_ingress_address_takes_the_first_ip_or_hostname() -> None:
    assert (
        ingress_address({"status": {"loadBalancer": {"ingress": [{"ip": "47.1.2.3"}, {"ip": "x"}]}}})
        == "47.1.2.3"
    )
    assert (
        ingress_address({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.net"}]}}})
        == "lb.example.net"
    )
    assert ingress_address({"status": {"loadBalancer": {}}}) is None
    assert ingress_address(None) is None


async def test_a_region_without_an_address_is_not_served_until_it_gets_one(tmp_path: Path) -> None:
    sb = Sandbox(
        tmp_path,
        rollout_delay=0.1,
        dns_provider="embedded",
        slb=False,
        run_controller=False,
        controller_config=fast_config(),
    )
    await sb.start()
    run = Running(sb, "embedded")
    try:
        for region in sb.regions:  # no cloud controller: LoadBalancer Services stay without an address
            sb.sim.cluster(region).set_cloud_controller(False)
        await sb.start_controller()

        async def waiting() -> bool:
            return (
                await run.condition(c.COND_DNS_PUBLISHED) == "False"
                and await run.condition(c.COND_READY) == "True"
            )

        await wait_for(waiting, 15, "DNSPublished False while no region has an address")
        conds = {cd["type"]: cd for cd in (await run.status())["conditions"]}
        assert conds[c.COND_DNS_PUBLISHED]["reason"] == "WaitingForAddresses"
        assert (await run.query("85.214.0.0/24"))[0] == "NXDOMAIN"  # nothing half-published

        sb.sim.cluster("cn-hangzhou").set_cloud_controller(True)
        sb.sim.cluster("cn-beijing").set_cloud_controller(True)

        async def two_served() -> dict[str, dict[str, object]] | None:
            regions = await run.regions()
            served = {r for r, st in regions.items() if st.get("servingDNS")}
            published = await run.condition(c.COND_DNS_PUBLISHED) == "True"
            return regions if published and served == {"cn-hangzhou", "cn-beijing"} else None

        regions = await wait_for(two_served, 10, "the two regions with an address served")
        eu = regions["eu-central-1"]
        assert eu.get("address") is None
        assert eu["dnsReason"] == "no address yet"
        addresses = await run.addresses()
        # Frankfurt's line gets the nearest region that has an address (Beijing: 149 ms vs 164 ms)
        assert (await run.query("85.214.0.0/24"))[1] == {addresses["cn-beijing"]}

        sb.sim.cluster("eu-central-1").set_cloud_controller(True)
        await wait_for(run.published, 10, "eu-central-1 served once its Service has an address")
        addresses = await run.addresses()
        assert (await run.query("85.214.0.0/24"))[1] == {addresses["eu-central-1"]}
    finally:
        await sb.stop()
