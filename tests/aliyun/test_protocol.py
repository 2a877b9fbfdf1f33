"""The emulator's gateway behaves like Alibaba's: signatures, keys, timestamps, nonces, error bodies."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aliyunsdkalidns.request.v20150109.DescribeDomainRecordsRequest import DescribeDomainRecordsRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import CommonRequest
from aliyunsdkcore.utils import parameter_helper

from federation.sandbox.aliyun import AliyunEmulator
from federation.sandbox.aliyun.protocol import percent_encode, sign, string_to_sign
from tests.aliyun.conftest import make_acs


def _describe() -> DescribeDomainRecordsRequest:
    req = DescribeDomainRecordsRequest()
    req.set_DomainName("example.com")
    return req


async def _fail(acs, req) -> ServerException:
    with pytest.raises(ServerException) as info:
        await asyncio.to_thread(acs.do_action_with_exception, req)
    return info.value


async def test_wrong_secret_is_reported_as_the_sdk_expects(emu: AliyunEmulator) -> None:
    # The service answers SignatureDoesNotMatch with its string-to-sign; the SDK recognises its own
    # string there and reports InvalidAccessKeySecret. That only works if the emulator signs like Alibaba.
    err = await _fail(make_acs(emu, secret="not-the-secret"), _describe())
    assert err.get_http_status() == 400
    assert err.get_error_code() == "InvalidAccessKeySecret"
    assert err.get_request_id()


async def test_signature_mismatch_message_carries_the_server_string(emu: AliyunEmulator) -> None:
    acs = make_acs(emu)
    req = _describe()
    # Sign with one value, then change it after signing: the server computes a different string.
    status, _, body, exc = await asyncio.to_thread(acs._implementation_of_do_action, _tampered(req))
    doc = json.loads(body)
    assert status == 400
    assert doc["Code"] == "SignatureDoesNotMatch"
    assert doc["Message"].startswith(
        "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&"
    )
    assert set(doc) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert doc["HostId"] == "alidns.aliyuncs.com"
    assert exc.get_error_code() == "SignatureDoesNotMatch"


def _tampered(req: DescribeDomainRecordsRequest) -> DescribeDomainRecordsRequest:
    original = req.get_url

    def get_url(region_id, ak, secret):  # the SDK signs, then a proxy rewrites one parameter
        url = original(region_id, ak, secret)
        return url.replace("DomainName=example.com", "DomainName=example.net")

    req.get_url = get_url
    return req


async def test_unknown_access_key_is_404(emu: AliyunEmulator) -> None:
    err = await _fail(make_acs(emu, ak="LTAIunknownkey000000000"), _describe())
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidAccessKeyId.NotFound", 404)


async def test_nonce_reuse_is_refused(emu: AliyunEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    acs = make_acs(emu)
    monkeypatch.setattr(parameter_helper, "get_uuid", lambda: "0123456789abcdef0123456789abcdef")
    await asyncio.to_thread(acs.do_action_with_exception, _describe())
    err = await _fail(acs, _describe())
    assert (err.get_error_code(), err.get_http_status()) == ("SignatureNonceUsed", 400)


async def test_timestamp_outside_15_minutes_is_refused(
    emu: AliyunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 16 * 60))
    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: old)
    err = await _fail(make_acs(emu), _describe())
    assert err.get_error_code() == "InvalidTimeStamp.Expired"


async def test_unknown_action_is_404_and_body_params_are_signed(emu: AliyunEmulator) -> None:
    acs = make_acs(emu)
    req = CommonRequest(domain=emu.endpoint, version="2015-01-09", action_name="NoSuchAction")
    req.set_method("POST")
    err = await _fail(acs, req)
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidAction.NotFound", 404)

    # Form-body parameters are part of the signature: the emulator must merge them before verifying.
    ok = CommonRequest(domain=emu.endpoint, version="2015-01-09", action_name="DescribeDomainRecords")
    ok.set_method("POST")
    ok.add_body_params("DomainName", "example.com")
    ok.add_body_params("PageSize", "5")
    body = json.loads(await asyncio.to_thread(acs.do_action_with_exception, ok))
    assert body["PageSize"] == 5


async def test_missing_required_parameter(emu: AliyunEmulator) -> None:
    err = await _fail(make_acs(emu), DescribeDomainRecordsRequest())
    assert (err.get_error_code(), err.get_http_status()) == ("MissingDomainName", 400)


def test_signing_matches_the_documented_example() -> None:
    # Alibaba Cloud "Request signatures" (RPC) worked example: DescribeRegions with secret "testsecret".
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    sts = string_to_sign("GET", params)
    assert sts.startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions")
    assert sign("testsecret", sts) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert percent_encode("a b*c~") == "a%20b%2Ac~"
