"""The project's retry and pacing against the emulator's faults, proven with the emulator's call counts."""

from __future__ import annotations

import asyncio
import logging
import random
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError
from federation.cloud.alibaba.ratelimit import TokenBucket
from federation.cloud.alibaba.retry import RetryPolicy
from federation.cloud.alibaba.slb import SlbApi
from federation.sandbox.aliyun import AliyunEmulator


async def test_throttled_reads_are_retried(client: AlibabaClient, emu: AliyunEmulator) -> None:
    emu.faults.set("alidns", "DescribeDomainRecords", throttle=1.0, throttle_code="Throttling.Api", times=2)
    records = await AlidnsApi(client).describe_domain_records("example.com")
    assert records == []
    assert emu.call_counts()["Alidns.DescribeDomainRecords"] == 3


async def test_5xx_reads_are_retried_until_the_budget_ends(
    client: AlibabaClient, emu: AliyunEmulator
) -> None:
    emu.faults.set("alidns", "*", error_rate=1.0, error_status=503, times=1)
    await AlidnsApi(client).describe_domain_info("example.com")
    assert emu.call_counts()["Alidns.DescribeDomainInfo"] == 2
    emu.faults.set("alidns", "*", error_rate=1.0)
    with pytest.raises(AlibabaError) as info:
        await AlidnsApi(client).describe_domain_info("example.com")
    assert (info.value.code, info.value.http_status) == ("InternalError", 500)
    assert emu.call_counts()["Alidns.DescribeDomainInfo"] == 2 + client.retry.max_attempts


async def test_non_idempotent_create_is_never_repeated(client: AlibabaClient, emu: AliyunEmulator) -> None:
    # The record is created, then the answer is lost: repeating the call would be wrong (and with other
    # APIs would create a second resource). The client reports the error after exactly one call.
    emu.faults.set("alidns", "AddDomainRecord", error_rate=1.0, after=True, times=1)
    with pytest.raises(AlibabaError) as info:
        await AlidnsApi(client).add_domain_record("example.com", "www", "A", "192.0.2.1", ttl=60)
    assert info.value.is_server_error
    assert emu.call_counts()["Alidns.AddDomainRecord"] == 1
    assert [r["Value"] for r in emu.state()["alidns"]["records"]] == ["192.0.2.1"]
    emu.faults.set("alidns", "AddDomainRecord", throttle=1.0, times=1)
    with pytest.raises(AlibabaError) as info:
        await AlidnsApi(client).add_domain_record("example.com", "www", "A", "192.0.2.2", ttl=60)
    assert info.value.code == "Throttling.User"
    assert emu.call_counts()["Alidns.AddDomainRecord"] == 2


async def test_create_with_client_token_is_retried_safely(client: AlibabaClient, emu: AliyunEmulator) -> None:
    emu.faults.set("slb", "CreateLoadBalancer", error_rate=1.0, after=True, times=1)
    lb = await SlbApi(client).create_load_balancer("cn-beijing", "web", client_token="uid-1-cn-beijing")
    assert emu.call_counts()["Slb.CreateLoadBalancer"] == 2
    assert [x["LoadBalancerId"] for x in emu.state()["slb"]["load_balancers"]] == [lb["LoadBalancerId"]]


async def test_a_hung_call_times_out_and_is_retried(emu: AliyunEmulator) -> None:
    client = AlibabaClient(
        emu.access_key_id,
        emu.access_key_secret,
        "cn-hangzhou",
        endpoint=emu.endpoint,
        retry=RetryPolicy(max_attempts=3, base_delay=0.01),
        read_timeout=0.5,
    )
    try:
        emu.faults.set("alidns", "DescribeDomainInfo", hang=True, times=1)
        info = await AlidnsApi(client).describe_domain_info("example.com")
        assert info["DomainName"] == "example.com"
        assert emu.call_counts()["Alidns.DescribeDomainInfo"] == 2
    finally:
        emu.faults.clear()
        await client.close()


async def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = AlibabaClient(
        "LTAIxxxxxxxxxxxxxxxx",
        "s3cr3t-value-xyz",
        "cn-hangzhou",
        endpoint=f"127.0.0.1:{port}",
        retry=RetryPolicy(max_attempts=3, base_delay=0.01),
        connect_timeout=1,
    )
    try:
        with pytest.raises(AlibabaError) as info:
            await AlidnsApi(client).describe_domain_info("example.com")
        assert info.value.code == "SDK.HttpError"
        assert client.attempts == 3
    finally:
        await client.close()


async def test_latency_fault_and_secret_stays_out_of_logs(
    client: AlibabaClient, emu: AliyunEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.faults.set("*", "*", latency=0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    emu.faults.set("alidns", "DescribeDomainInfo", throttle=1.0, times=1, latency=0.2)
    await AlidnsApi(client).describe_domain_info("example.com")
    assert loop.time() - start >= 0.4  # two answers, each delayed
    assert emu.access_key_secret not in caplog.text
    assert emu.access_key_secret not in repr(client)
    assert "Throttling.User" in caplog.text  # the retry is logged, with the code


async def test_rate_limiter_paces_calls(emu: AliyunEmulator) -> None:
    client = AlibabaClient(
        emu.access_key_id,
        emu.access_key_secret,
        "cn-hangzhou",
        endpoint=emu.endpoint,
        rate_limits={"alidns": (20.0, 2)},
    )
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(AlidnsApi(client).describe_domain_info("example.com") for _ in range(6)))
        assert loop.time() - start >= 0.15  # 2 at once, then 4 more at 20/s
    finally:
        await client.close()


@given(st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_full_jitter_within_the_cap(retry_number: int, seed: int) -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=0.2, max_delay=5.0)
    delay = policy.delay(retry_number, random.Random(seed))
    assert 0.0 <= delay <= min(5.0, 0.2 * 2**retry_number)


@given(st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=30))
def test_token_bucket_never_exceeds_rate_plus_burst(gaps: list[float]) -> None:
    now = [0.0]
    bucket = TokenBucket(rate=5.0, burst=3, clock=lambda: now[0])
    granted = 0
    for gap in gaps:
        now[0] += gap
        while bucket.try_acquire() == 0.0:
            granted += 1
    assert granted <= 3 + 5.0 * now[0] + 1e-6


async def test_client_from_settings(emu: AliyunEmulator) -> None:
    from pydantic import SecretStr

    from federation.config import Settings

    settings = Settings(
        alibaba_access_key_id=emu.access_key_id,
        alibaba_access_key_secret=SecretStr(emu.access_key_secret),
        alibaba_endpoint=emu.endpoint,
    )
    client = AlibabaClient.from_settings(settings, "cn-shanghai")
    try:
        assert (await AlidnsApi(client).describe_domain_info("example.com"))["DomainName"] == "example.com"
    finally:
        await client.close()
    with pytest.raises(ValueError, match="alibaba_access_key_secret"):
        AlibabaClient.from_settings(Settings(alibaba_access_key_id="LTAIx"))
