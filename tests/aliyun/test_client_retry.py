"""The project's retry and pacing against the emulator's faults, proven with the emulator's call counts."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError, AmbiguousWriteError
from federation.cloud.alibaba.retry import CallKind, Decision, RetryPolicy, decide
from federation.cloud.alibaba.slb import SlbApi
from federation.ratelimit import TokenBucket
from federation.sandbox.aliyun import AliyunEmulator


def emu_client(emu: AliyunEmulator, **kwargs: Any) -> AlibabaClient:
    return AlibabaClient(
        emu.access_key_id, emu.access_key_secret, "cn-hangzhou", endpoint=emu.endpoint, **kwargs
    )


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


async def test_an_ambiguous_create_is_not_repeated(client: AlibabaClient, emu: AliyunEmulator) -> None:
    # The record is created, then the answer is lost (a 500, or a connection reset after sending):
    # repeating AddDomainRecord could act twice, so the client reports AmbiguousWriteError after one call.
    api = AlidnsApi(client)
    emu.faults.set("alidns", "AddDomainRecord", error_rate=1.0, after=True, times=1)
    with pytest.raises(AmbiguousWriteError) as info:
        await api.add_domain_record("example.com", "www", "A", "192.0.2.1", ttl=60)
    assert (info.value.code, info.value.http_status, info.value.action) == (
        "InternalError",
        500,
        "Alidns.AddDomainRecord",
    )
    emu.faults.set("alidns", "AddDomainRecord", reset=1.0, after=True, times=1)
    with pytest.raises(AmbiguousWriteError) as info:
        await api.add_domain_record("example.com", "www", "A", "192.0.2.2", ttl=60)
    assert info.value.code == "SDK.HttpError"
    assert emu.call_counts()["Alidns.AddDomainRecord"] == 2
    assert sorted(r["Value"] for r in emu.state()["alidns"]["records"]) == ["192.0.2.1", "192.0.2.2"]


@pytest.mark.parametrize(
    "fault",
    [
        {"throttle": 1.0, "throttle_code": "Throttling.User"},
        {"throttle": 1.0, "throttle_code": "Throttling.Api"},
        {"error_rate": 1.0, "error_status": 503},
    ],
    ids=["Throttling.User", "Throttling.Api", "ServiceUnavailable"],
)
async def test_refused_errors_are_retried_for_any_call(
    client: AlibabaClient, emu: AliyunEmulator, fault: dict[str, Any]
) -> None:
    # The service did not act on a refused call, so even a create without a token is safe to repeat.
    emu.faults.set("alidns", "AddDomainRecord", times=2, **fault)
    record_id = await AlidnsApi(client).add_domain_record("example.com", "www", "A", "192.0.2.1", ttl=60)
    assert emu.call_counts()["Alidns.AddDomainRecord"] == 3
    assert [r["RecordId"] for r in emu.state()["alidns"]["records"]] == [record_id]
    with pytest.raises(ValueError, match="after: a 503 ServiceUnavailable"):
        emu.faults.set("alidns", "AddDomainRecord", error_rate=1.0, error_status=503, after=True)


@pytest.mark.parametrize(
    "fault",
    [{"error_rate": 1.0, "after": True}, {"reset": 1.0, "after": True}, {"reset": 1.0}],
    ids=["500-after", "reset-after-send", "reset"],
)
async def test_ambiguous_errors_are_retried_only_for_safe_calls(
    client: AlibabaClient, emu: AliyunEmulator, fault: dict[str, Any]
) -> None:
    api = AlidnsApi(client)
    record_id = await api.add_domain_record("example.com", "www", "A", "192.0.2.1", ttl=60)
    # a read, an absolute set and a create with a ClientToken: repeated, each ends where it should
    for action in ("DescribeDomainInfo", "SetDomainRecordStatus"):
        emu.faults.set("alidns", action, times=1, **fault)
    assert (await api.describe_domain_info("example.com"))["DomainName"] == "example.com"
    await api.set_domain_record_status(record_id, False)
    assert emu.state()["alidns"]["records"][0]["Status"] == "DISABLE"
    emu.faults.set("slb", "CreateLoadBalancer", times=1, **fault)
    lb = await SlbApi(client).create_load_balancer("cn-beijing", "web", client_token="uid-1-cn-beijing")
    counts = emu.call_counts()
    assert (counts["Alidns.DescribeDomainInfo"], counts["Alidns.SetDomainRecordStatus"]) == (2, 2)
    assert counts["Slb.CreateLoadBalancer"] == 2
    assert [x["LoadBalancerId"] for x in emu.state()["slb"]["load_balancers"]] == [lb["LoadBalancerId"]]
    # an unsafe write: one call, then AmbiguousWriteError for the caller to read back
    emu.faults.set("alidns", "UpdateDomainRecord", times=1, **fault)
    with pytest.raises(AmbiguousWriteError):
        await api.update_domain_record(record_id, "www", "A", "192.0.2.9", ttl=60)
    assert emu.call_counts()["Alidns.UpdateDomainRecord"] == 1


async def test_create_with_client_token_is_retried_safely(client: AlibabaClient, emu: AliyunEmulator) -> None:
    emu.faults.set("slb", "CreateLoadBalancer", error_rate=1.0, after=True, times=1)
    lb = await SlbApi(client).create_load_balancer("cn-beijing", "web", client_token="uid-1-cn-beijing")
    assert emu.call_counts()["Slb.CreateLoadBalancer"] == 2
    assert [x["LoadBalancerId"] for x in emu.state()["slb"]["load_balancers"]] == [lb["LoadBalancerId"]]


async def test_a_hung_call_times_out_and_is_retried(emu: AliyunEmulator) -> None:
    client = emu_client(
        emu,
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


async def test_connection_refused_is_retried_then_reported_even_for_unsafe_calls() -> None:
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
        assert info.value.refused
        assert client.attempts == 3
        # nothing was sent, so a create without a token is repeated too, and reported as refused
        with pytest.raises(AlibabaError) as info:
            await AlidnsApi(client).add_domain_record("example.com", "www", "A", "192.0.2.1")
        assert not isinstance(info.value, AmbiguousWriteError)
        assert client.attempts == 6
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
    client = emu_client(
        emu,
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


async def test_rate_buckets_are_per_api_action(emu: AliyunEmulator) -> None:
    # One token per action and almost no refill: a second DescribeDomainInfo waits for minutes, while
    # other actions of the same product go through at once on their own buckets.
    client = emu_client(
        emu,
        rate_limits={"alidns": (0.01, 1), "Alidns.DescribeSupportLines": (100.0, 5)},
    )
    api = AlidnsApi(client)
    try:
        await api.describe_domain_info("example.com")
        waiting = asyncio.create_task(api.describe_domain_info("example.com"))
        for _ in range(3):
            await api.describe_support_lines("example.com")
        await api.describe_domain_records("example.com")
        assert not waiting.done()
        counts = emu.call_counts()
        assert counts["Alidns.DescribeDomainInfo"] == 1
        assert (counts["Alidns.DescribeSupportLines"], counts["Alidns.DescribeDomainRecords"]) == (3, 1)
        assert client.buckets.limit("Alidns", "DescribeSupportLines") == (100.0, 5)
        assert client.buckets.limit("Alidns", "AddDomainRecord") == (0.01, 1)
        assert client.buckets.limit("Slb", "CreateLoadBalancer") == (20.0, 20)  # the product default
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    finally:
        await client.close()
    with pytest.raises(ValueError, match=r"rate_limits\['Alidns.AddDomainRecord'\]"):
        AlibabaClient("LTAIx", "secret-x", "cn-hangzhou", rate_limits={"Alidns.AddDomainRecord": (0, 1)})


def _logging_config() -> list[tuple[str, int, bool, list[logging.Handler]]]:
    names = ["", *sorted(n for n in logging.root.manager.loggerDict if n.startswith("aliyunsdkcore"))]
    return [
        (n, lg.level, lg.propagate, list(lg.handlers))
        for n in names
        if isinstance(lg := logging.getLogger(n), logging.Logger)
    ]


async def test_the_client_leaves_sdk_logging_alone(emu: AliyunEmulator) -> None:
    sdk_logger = logging.getLogger("aliyunsdkcore")
    sdk_logger.setLevel(logging.INFO)  # what an operator chose
    try:
        before = _logging_config()
        client = emu_client(emu)
        emu.faults.set("alidns", "DescribeDomainInfo", throttle=1.0, times=1)
        await AlidnsApi(client).describe_domain_info("example.com")
        await client.close()
        assert ("aliyunsdkcore", logging.INFO) in [(n, level) for n, level, *_ in before]
        assert _logging_config() == before
    finally:
        sdk_logger.setLevel(logging.NOTSET)


_FAILURES = [
    AlibabaError("Throttling.User", "denied", 400),
    AlibabaError("Throttling", "denied", 400),
    AlibabaError("ServiceUnavailable", "temporary failure", 503),
    AlibabaError("OperationBusy", "busy", 400),
    AlibabaError("SDK.HttpError", "HTTPConnectionPool: (Caused by NewConnectionError(Connection refused))"),
    AlibabaError("InternalError", "unknown error", 500),
    AlibabaError("SDK.HttpError", "HTTPConnectionPool(host='127.0.0.1'): Read timed out. (read timeout=1)"),
    AlibabaError("SDK.HttpError", "('Connection aborted.', ConnectionResetError(104, 'reset by peer'))"),
    AlibabaError("DomainRecordDuplicate", "The DNS record already exists.", 400),
    AlibabaError("InvalidParameter", "bad", 400),
]


@given(st.sampled_from(list(CallKind)), st.sampled_from(_FAILURES))
def test_retry_decision_by_call_kind_and_failure(kind: CallKind, err: AlibabaError) -> None:
    decision = decide(kind, err)
    assert err.refused + err.ambiguous <= 1  # never both
    if err.refused:
        assert decision is Decision.RETRY
    elif err.ambiguous:
        assert decision is (Decision.AMBIGUOUS if kind is CallKind.UNSAFE else Decision.RETRY)
    else:
        assert decision is Decision.FAIL
    assert (err.code.startswith("Throttling") or err.http_status == 503) <= err.refused
    assert (err.code == "InternalError") <= err.ambiguous


@given(
    st.integers(min_value=1, max_value=10),
    st.floats(min_value=0.0, max_value=2.0),
    st.floats(min_value=0.0, max_value=10.0),
    st.integers(min_value=0, max_value=2**32),
)
def test_retries_stay_within_attempts_and_total_time(
    max_attempts: int, base: float, max_elapsed: float, seed: int
) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=base, max_delay=1.0, max_elapsed=max_elapsed)
    rng = random.Random(seed)
    attempts, elapsed = 1, 0.0
    while policy.allows(attempts, elapsed, wait := policy.delay(attempts - 1, rng)):
        elapsed += wait
        attempts += 1
    assert attempts <= max_attempts
    assert elapsed <= max_elapsed


async def test_rate_limits_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    from federation.config import Settings

    monkeypatch.setenv("FEDCTL_ALIBABA_RATE_LIMITS", '{"slb": [5, 4], "Alidns.AddDomainRecord": [2, 1]}')
    settings = Settings(alibaba_access_key_id="LTAIx", alibaba_access_key_secret=SecretStr("secret-x"))
    client = AlibabaClient.from_settings(settings)
    assert client.buckets.limit("Slb", "CreateLoadBalancer") == (5.0, 4)
    assert client.buckets.limit("Alidns", "AddDomainRecord") == (2.0, 1)
    assert client.buckets.limit("Alidns", "DescribeDomainRecords") == (20.0, 20)
    await client.close()
