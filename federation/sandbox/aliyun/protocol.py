"""The Alibaba Cloud RPC wire protocol as the emulator speaks it: signatures, errors, parameter parsing.

Sources: the signing code of aliyun-python-sdk-core 2.16 (``auth/composer/rpc_signature_composer.py``,
which also signs form-body parameters), the SDK's error parsing in ``client.py`` (it splits a
``SignatureDoesNotMatch`` message on ``:`` to compare string-to-sign), and Alibaba Cloud's "Request
signatures" page for RPC APIs (HMAC-SHA1 over ``METHOD&%2F&percentEncode(canonical query)``, key
``secret + "&"``, RFC 3986 encoding, 15-minute timestamp window, nonce reuse refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

PRODUCT_HOSTS = {
    "Alidns": "alidns.aliyuncs.com",
    "Slb": "slb.aliyuncs.com",
    "Cbn": "cbn.aliyuncs.com",
    "Ecs": "ecs.aliyuncs.com",
}


class ApiError(Exception):
    """An error answer: ``code`` and ``message`` go to the body, ``status`` is the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def missing(name: str) -> ApiError:
    return ApiError(f"Missing{name}", f"{name} is mandatory for this action.")


def invalid(name: str, value: Any, why: str = "") -> ApiError:
    msg = f"The specified parameter {name} ({value!r}) is not valid."
    return ApiError("InvalidParameter", msg + (f" {why}" if why else ""))


def percent_encode(value: str) -> str:
    """RFC 3986: unreserved characters kept, everything else %XY upper-case (space -> %20, * -> %2A)."""
    return quote(value, safe="-_.~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    # Keys sorted by byte order: upper-case sorts before lower-case (SLB's ``healthCheckInterval``).
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(secret: str, to_sign: str) -> str:
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def error_body(err: ApiError, request_id: str, product: str | None) -> dict[str, str]:
    return {
        "RequestId": request_id,
        "HostId": PRODUCT_HOSTS.get(product or "", "aliyuncs.com"),
        "Code": err.code,
        "Message": err.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product={product or ''}",
    }


class Params:
    """Typed access to the merged query + form parameters of one request, errors naming the field."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = dict(raw)

    def get(self, name: str, default: str | None = None) -> str | None:
        v = self.raw.get(name)
        return default if v is None or v == "" else v

    def req(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise missing(name)
        return v

    def int_(
        self, name: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        v = self.get(name)
        if v is None:
            return default
        try:
            n = int(v)
        except ValueError:
            raise invalid(name, v, "It must be an integer.") from None
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise invalid(name, v, f"It must be between {lo} and {hi}.")
        return n

    def page(
        self, items: list[dict[str, Any]], *, key: str, item: str, default_size: int, max_size: int
    ) -> dict[str, Any]:
        """One page of ``items`` in the shape every Describe* action of the three products answers:
        ``{TotalCount, PageNumber, PageSize, key: {item: [...]}}``."""
        number = self.int_("PageNumber", 1, lo=1)
        size = self.int_("PageSize", default_size, lo=1, hi=max_size)
        assert number is not None
        assert size is not None
        start = (number - 1) * size
        return {
            "TotalCount": len(items),
            "PageNumber": number,
            "PageSize": size,
            key: {item: items[start : start + size]},
        }

    def req_int(self, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
        if self.get(name) is None:
            raise missing(name)
        n = self.int_(name, lo=lo, hi=hi)
        assert n is not None
        return n

    def bool_(self, name: str, default: bool | None = None) -> bool | None:
        v = self.get(name)
        if v is None:
            return default
        if v.lower() in ("true", "1", "on", "yes"):
            return True
        if v.lower() in ("false", "0", "off", "no"):
            return False
        raise invalid(name, v, "It must be true or false.")

    def json(self, name: str) -> Any:
        v = self.req(name)
        try:
            return json.loads(v)
        except ValueError:
            raise invalid(name, v, "It must be a JSON string.") from None

    def repeat(self, prefix: str) -> list[str]:
        """``Prefix.1``, ``Prefix.2``, ... in index order."""
        items = []
        for k, v in self.raw.items():
            head, _, idx = k.rpartition(".")
            if head == prefix and idx.isdigit():
                items.append((int(idx), v))
        return [v for _, v in sorted(items)]

    def tags(self, prefix: str = "Tag") -> dict[str, str]:
        """``Tag.N.Key`` / ``Tag.N.Value`` pairs."""
        keys: dict[int, str] = {}
        values: dict[int, str] = {}
        for k, v in self.raw.items():
            parts = k.split(".")
            if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit():
                (keys if parts[2] == "Key" else values if parts[2] == "Value" else {})[int(parts[1])] = v
        return {keys[i]: values.get(i, "") for i in sorted(keys)}
