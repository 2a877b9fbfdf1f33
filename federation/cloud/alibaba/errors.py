"""The one error type every Alibaba Cloud adapter raises, and how to tell a retryable failure apart.

The SDK raises ``ServerException`` for any non-2xx answer and ``ClientException`` for failures on the
client side (``SDK.HttpError`` when the connection fails or times out). Both become
:class:`AlibabaError` so callers handle one type and read ``code``.
"""

from __future__ import annotations

from typing import Any

# Connection-level failures the SDK reports as ClientException codes (aliyunsdkcore.acs_exception.error_code).
CONNECTION_ERROR_CODES = frozenset({"SDK.HttpError"})

# Busy codes SLB answers while an instance is being configured: the request was refused, not executed.
_BUSY_CODES = frozenset({"SystemBusy", "OperationBusy", "ServiceIsConfiguring", "DnsSystemBusyness"})


class AlibabaError(Exception):
    """A failed Alibaba Cloud API call: the service's error code, message, HTTP status and RequestId."""

    def __init__(
        self, code: str, message: str, http_status: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(
            f"{code}: {message}"
            + (f" (HTTP {http_status})" if http_status else "")
            + (f" [RequestId {request_id}]" if request_id else "")
        )
        self.code = code
        self.message = message
        self.http_status = http_status
        self.request_id = request_id

    @property
    def is_throttling(self) -> bool:
        return self.code.startswith("Throttling")

    @property
    def is_server_error(self) -> bool:
        return self.http_status is not None and self.http_status >= 500

    @property
    def is_connection_error(self) -> bool:
        return self.http_status is None and self.code in CONNECTION_ERROR_CODES

    @property
    def retryable(self) -> bool:
        """Worth repeating (for a call that is safe to repeat): throttled, busy, 5xx or no connection."""
        return (
            self.is_throttling or self.is_server_error or self.is_connection_error or self.code in _BUSY_CODES
        )

    @property
    def not_found(self) -> bool:
        """The target does not exist (used by deletes, which treat it as already done)."""
        return (
            self.code.endswith(".NotFound")
            or self.code.endswith(".NoExist")
            or self.code
            in {"DomainRecordNotBelongToUser", "ParameterCenInstanceId", "InvalidLoadBalancerId.NotFound"}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "http_status": self.http_status,
            "request_id": self.request_id,
        }


def from_sdk_exception(exc: Exception) -> AlibabaError:
    """Translate an aliyunsdkcore exception (Server or Client) into :class:`AlibabaError`."""
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

    if isinstance(exc, ServerException):
        return AlibabaError(
            str(exc.get_error_code()), str(exc.get_error_msg()), exc.get_http_status(), exc.get_request_id()
        )
    if isinstance(exc, ClientException):
        return AlibabaError(str(exc.get_error_code()), str(exc.get_error_msg()))
    return AlibabaError("SDK.Unexpected", f"{type(exc).__name__}: {exc}")
