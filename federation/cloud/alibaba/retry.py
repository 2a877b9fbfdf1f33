"""Which failed Alibaba Cloud calls are repeated: the call's idempotency class against the failure.

The SDK never retries alidns, SLB or Cbn actions (its ``retry_config.json`` lists ECS only), so the
project does it here. Every adapter method declares a :class:`CallKind`; :func:`decide` then says, per
failure, whether to wait and repeat, give up, or report an :class:`~.errors.AmbiguousWriteError`.
Timing (jittered exponential backoff, bounded attempts and total time) is
:class:`federation.backoff.RetryPolicy`.
"""

from __future__ import annotations

from enum import Enum

from federation.backoff import NO_RETRY, RetryPolicy
from federation.cloud.alibaba.errors import AlibabaError

__all__ = ["NO_RETRY", "CallKind", "Decision", "RetryPolicy", "decide"]


class CallKind(Enum):
    """How safe it is to send a call a second time when the first may have taken effect."""

    READ = "read"  # Describe*/List*: changes nothing
    ABSOLUTE = "absolute"  # sets a state outright, or a delete that takes "not found" as done
    TOKEN = "token"  # a create carrying a ClientToken: the service answers a repeat with the first result
    UNSAFE = "unsafe"  # a create without a token, or a relative change: a repeat may act twice


class Decision(Enum):
    RETRY = "retry"
    FAIL = "fail"  # report the error as it is
    AMBIGUOUS = "ambiguous"  # report an AmbiguousWriteError: the caller must read back


def decide(kind: CallKind, err: AlibabaError) -> Decision:
    """Refused calls may always be repeated; ambiguous ones only when repeating cannot do harm."""
    if err.refused:
        return Decision.RETRY
    if err.ambiguous:
        return Decision.AMBIGUOUS if kind is CallKind.UNSAFE else Decision.RETRY
    return Decision.FAIL
