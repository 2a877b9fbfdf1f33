"""The DNS record as every part of the project sees it: steering output, plan input, provider state.

One record is one answer value for one (name, type, line). A name's answer set for a client is all
enabled records of the most specific line that has any (falling back along the line's parents to
``default``), as alidns answers it.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LINE = "default"


@dataclass(frozen=True, slots=True, order=True)
class Record:
    name: str  # FQDN, lower-case, no trailing dot: "www.example.com"
    rtype: str  # "A", "AAAA", "CNAME", "TXT", ...
    line: str  # alidns line code; "default" answers everyone no other line claims
    value: str
    ttl: int
    weight: int | None = None  # None: plain round robin; 1-100: weighted share within (name, type, line)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of a record: two records with the same key cannot both exist (alidns rule)."""
        return (self.name, self.rtype, self.line, self.value)
