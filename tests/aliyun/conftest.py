"""Fixtures for the Alibaba Cloud emulator and adapter tests: a live emulator on an ephemeral loopback
port, the official SDK client pointed at it by endpoint configuration, and the project's AlibabaClient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient

from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.retry import RetryPolicy
from federation.sandbox.aliyun import AliyunEmulator


@pytest.fixture
async def emu() -> AsyncIterator[AliyunEmulator]:
    e = AliyunEmulator(
        domains=["example.com", "example.net"],
        edition="enterprise_standard",
        cen_transition_delay=0.3,
        seed=7,
    )
    await e.start("127.0.0.1", 0, dns_port=None)
    yield e
    await e.stop()


def make_acs(
    emu: AliyunEmulator, ak: str | None = None, secret: str | None = None, region: str = "cn-hangzhou"
) -> AcsClient:
    acs = AcsClient(
        ak or emu.access_key_id,
        secret or emu.access_key_secret,
        region,
        auto_retry=False,
        timeout=5,
        connect_timeout=2,
    )
    for product in ("Alidns", "Slb", "Cbn"):
        acs.add_endpoint(region, product, emu.endpoint)
    return acs


SdkCall = Callable[..., Any]


@pytest.fixture
def sdk(emu: AliyunEmulator) -> SdkCall:
    """Send one official SDK request (in a thread: the emulator shares this event loop); return its JSON."""
    import json

    clients: dict[str, AcsClient] = {}

    async def call(request: Any, region: str = "cn-hangzhou") -> dict[str, Any]:
        acs = clients.setdefault(region, make_acs(emu, region=region))
        body = await asyncio.to_thread(acs.do_action_with_exception, request)
        result: dict[str, Any] = json.loads(body)
        return result

    return call


@pytest.fixture
async def client(emu: AliyunEmulator) -> AsyncIterator[AlibabaClient]:
    c = AlibabaClient(
        emu.access_key_id,
        emu.access_key_secret,
        "cn-hangzhou",
        endpoint=emu.endpoint,
        max_workers=4,
        retry=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05),
        read_timeout=3,
        rate_limits=dict.fromkeys(("alidns", "slb", "cbn"), (500.0, 100)),
    )
    yield c
    await c.close()


def upload_request(common_name: str = "www.example.com", key_pem: bytes | None = None) -> Any:
    """An official-SDK UploadServerCertificate request with a fresh certificate (and its key, unless
    ``key_pem`` gives another one)."""
    from aliyunsdkslb.request.v20140515.UploadServerCertificateRequest import UploadServerCertificateRequest

    from federation.sandbox.kube.tls import generate

    pair = generate(common_name)
    req = UploadServerCertificateRequest()
    req.set_ServerCertificate(pair.cert_pem.decode())
    req.set_PrivateKey((key_pem or pair.key_pem).decode())
    req.set_ServerCertificateName(common_name)
    return req
