"""DNS providers: where the planned records are published (the embedded server or alidns).

Every provider implements :class:`DnsProvider`: ``records(zone)`` reads what is published (every
record of the zone, ours and others'; ``names`` narrows it, cheaply, to some names), ``apply(plan)``
carries out a plan's changes in the plan's order and stops at the first failure
(:class:`DnsProviderError` tells how many were applied).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from federation.dns.plan import Change, Plan
from federation.dns.records import Record


class DnsProviderError(Exception):
    """A change the provider could not make; ``applied`` changes before it went through."""

    def __init__(
        self,
        message: str,
        *,
        change: Change | None = None,
        applied: int = 0,
        code: str = "ProviderError",
        refused: bool = False,
    ) -> None:
        super().__init__(message)
        self.change = change
        self.applied = applied
        self.code = code
        self.refused = refused  # the service turned the call away (throttling, busy): call it less


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    api_calls: int = 0  # calls to the provider's API (0 for the embedded server)


@runtime_checkable
class DnsProvider(Protocol):
    name: str
    supports_update: bool  # can change a record's value in place (else: create + delete)

    async def records(self, zone: str, names: Collection[str] | None = None) -> list[Record]:
        """Every record of ``zone`` (ours and others'), or only those of ``names``."""
        ...

    async def apply(self, plan: Plan) -> ApplyResult: ...

    def zones(self) -> Sequence[str]: ...
