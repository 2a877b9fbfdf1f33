"""The publisher after a provider refuses (throttling): every app pauses, the pause grows while the
refusals go on and ends with the first accepted call; the result's text stays the same meanwhile."""

from __future__ import annotations

from federation.dns.plan import Plan
from federation.dns.providers import ApplyResult, DnsProviderError
from federation.dns.providers.embedded import EmbeddedProvider
from federation.dns.publisher import AppIdentity, DnsPublisher
from federation.dns.steering import RegionEndpoint
from tests.dns.conftest import spec

REGIONS = [
    RegionEndpoint("cn-hangzhou", "10.0.0.1", True, 1),
    RegionEndpoint("eu-central-1", "10.0.0.3", True, 1),
]


class Throttled(EmbeddedProvider):
    """In-memory provider whose writes are refused while ``refusing``; counts the writes it was sent."""

    def __init__(self) -> None:
        super().__init__(None, zones=["example.com"])
        self.refusing = True
        self.writes = 0

    async def apply(self, plan: Plan) -> ApplyResult:
        self.writes += 1
        if self.refusing:
            raise DnsProviderError("Throttling.User [RequestId 1234]", code="Throttling.User", refused=True)
        return await super().apply(plan)


async def test_a_refusal_pauses_every_app_and_the_pause_doubles_until_a_call_is_accepted() -> None:
    now = [0.0]
    provider = Throttled()
    pub = DnsPublisher(provider, monotonic=lambda: now[0])

    first = await pub.publish(AppIdentity("default", "a"), spec(hostname="a.example.com"), REGIONS)
    assert (first.ok, first.error_code, provider.writes) == (False, "Throttling.User", 1)
    assert first.retry_after == 1.0
    assert "RequestId" not in first.message

    other = await pub.publish(AppIdentity("default", "b"), spec(hostname="b.example.com"), REGIONS)
    assert provider.writes == 1  # paused: another app does not call either
    assert (other.ok, other.known, other.error_code) == (False, False, "Throttling.User")
    assert other.retry_after == 1.0

    now[0] = 1.0
    again = await pub.publish(AppIdentity("default", "a"), spec(hostname="a.example.com"), REGIONS)
    assert provider.writes == 2
    assert again.retry_after == 2.0  # still refusing: twice as long
    assert again.message == first.message  # nothing new to say: the status is not rewritten

    provider.refusing = False
    now[0] = 3.0
    ok = await pub.publish(AppIdentity("default", "a"), spec(hostname="a.example.com"), REGIONS)
    assert ok.ok
    assert pub.paused() == 0.0
    provider.refusing = True
    await pub.publish(AppIdentity("default", "b"), spec(hostname="b.example.com"), REGIONS)
    assert pub.paused() == 1.0  # an accepted call started the count afresh


async def test_a_failed_write_does_not_claim_the_region_is_served() -> None:
    provider = Throttled()
    pub = DnsPublisher(provider)
    result = await pub.publish(AppIdentity("default", "a"), spec(hostname="a.example.com"), REGIONS)
    assert not result.ok
    assert result.serving == {"cn-hangzhou": False, "eu-central-1": False}


async def test_sparse_refusals_keep_the_pause_short() -> None:
    """Writes that go through between refusals (a plan half applied) are not a sustained refusal."""
    now = [0.0]
    provider = Throttled()
    pub = DnsPublisher(provider, monotonic=lambda: now[0])

    async def half_applied(plan: Plan) -> ApplyResult:
        provider.writes += 1
        raise DnsProviderError("Throttling.User", code="Throttling.User", refused=True, applied=1)

    provider.apply = half_applied  # type: ignore[method-assign]
    for i in range(4):
        now[0] = 10.0 * i
        result = await pub.publish(AppIdentity("default", "a"), spec(hostname="a.example.com"), REGIONS)
        assert result.retry_after == 1.0
