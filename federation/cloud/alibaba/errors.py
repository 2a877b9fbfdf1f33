"""The error type every Alibaba Cloud adapter raises, and what a failure says about the call.

The SDK raises ``ServerException`` for any non-2xx answer and ``ClientException`` for failures on the
client side (``SDK.HttpError`` when the connection fails or times out). Both become
:class:`AlibabaError` so callers handle one type and read ``code``.

A failure is *refused* when the service certainly did not act on the call (throttling, busy,
``ServiceUnavailable``, a connection that could not be opened: nothing was sent), so any call may be
repeated; it is *ambiguous* when the call may have taken effect (a read timeout, a connection reset after
the request went out, a 5xx such as ``InternalError``), so only calls that are safe to repeat may be.
A non-idempotent write that fails ambiguously surfaces as :class:`AmbiguousWriteError`: the caller reads
the state back and reconciles instead of repeating it.
"""

from __future__ import annotations

from typing import Any

# Connection-level failures the SDK reports as ClientException codes (aliyunsdkcore.acs_exception.error_code).
CONNECTION_ERROR_CODES = frozenset({"SDK.HttpError"})

# Busy codes SLB answers while an instance is being configured: the request was refused, not executed.
_BUSY_CODES = frozenset({"SystemBusy", "OperationBusy", "ServiceIsConfiguring", "DnsSystemBusyness"})

# The gateway's answer when the backend could not take the request at all.
_UNAVAILABLE_CODES = frozenset({"ServiceUnavailable"})

# How the SDK's vendored requests/urllib3 word a failure to open the connection (nothing was sent).
# Everything else under SDK.HttpError (read timeouts, "Connection aborted", resets) may have been sent.
_NOT_SENT_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Connection refused",
    "ConnectTimeoutError",
)


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
    def refused(self) -> bool:
        """The service did not act on the call: repeating it is safe whatever the call is."""
        if self.is_throttling or self.code in _BUSY_CODES or self.code in _UNAVAILABLE_CODES:
            return True
        return self.is_connection_error and any(m in self.message for m in _NOT_SENT_MARKERS)

    @property
    def ambiguous(self) -> bool:
        """The call may or may not have taken effect: repeat it only if repeating cannot do harm."""
        return not self.refused and (self.is_server_error or self.is_connection_error)

    @property
    def retryable(self) -> bool:
        """Worth repeating, for a call that is safe to repeat: refused or ambiguous (not a 4xx answer)."""
        return self.refused or self.ambiguous

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


class NotLeaderError(AlibabaError):
    """A write refused before it was sent: this replica's write gate is closed (it is not, or is no
    longer sure it is, the leader). Nothing reached the service, so nothing needs reading back."""

    def __init__(self, action: str) -> None:
        super().__init__("NotLeader", f"{action}: this controller is not the leader; write refused")
        self.action = action


class AmbiguousWriteError(AlibabaError):
    """A write that is not safe to repeat failed in a way that may hide a success (it carries the
    original code, status and RequestId). Read the state back before deciding to write again."""

    def __init__(self, action: str, cause: AlibabaError) -> None:
        super().__init__(
            cause.code,
            f"{action} may have taken effect ({cause.message}); read back before repeating it",
            cause.http_status,
            cause.request_id,
        )
        self.action = action
        self.cause = cause


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
