"""The seam between health knowledge and placement: may a member cluster take an app's replicas, and why not.

The app reconciler asks a :class:`RegionHealthSource` once per member cluster it considers. The
controller's own source answers from drains, deletion and its member probes; a health sweep (probes of
the regional endpoints through hysteresis) plugs in as another source, and :class:`AllOf` combines them
so the first one that says "no" wins (with its reason). Pure data and a protocol: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from federation.api.membercluster import MemberCluster
from federation.placement import Schedulability


@dataclass(frozen=True, slots=True)
class MemberHealth:
    """One member's answer: whether placement may use it, and a stable human-readable reason if not."""

    schedulability: Schedulability = Schedulability.SCHEDULABLE
    reason: str = ""
    # not known yet (e.g. not probed since this controller started leading): ask again shortly
    pending: bool = False
    # excluded because the app itself fails there (its rollout): keep one replica running there so
    # that its recovery can be seen (DNS still leaves the region)
    canary: bool = False

    @property
    def schedulable(self) -> bool:
        return self.schedulability is Schedulability.SCHEDULABLE


HEALTHY = MemberHealth()


class RegionHealthSource(Protocol):
    def member_health(self, cluster: MemberCluster) -> MemberHealth:
        """Whether ``cluster`` can take replicas now; must not block (read what is already known)."""
        ...


class AppHealthSource(Protocol):
    """A source that also judges one app in one region (rollout, SLB backends, VIP probe)."""

    def app_health(self, app: str, region: str, cluster: MemberCluster) -> MemberHealth:
        """Whether ``cluster`` can serve ``app`` (``namespace/name``) in ``region``; must not block."""
        ...


class AllOf:
    """Several sources in order: the first answer that is not schedulable wins."""

    def __init__(self, sources: Sequence[RegionHealthSource]) -> None:
        self.sources = list(sources)

    def member_health(self, cluster: MemberCluster) -> MemberHealth:
        for source in self.sources:
            answer = source.member_health(cluster)
            if not answer.schedulable:
                return answer
        return HEALTHY

    def app_health(self, app: str, region: str, cluster: MemberCluster) -> MemberHealth:
        """The member's health, then each source's judgement of the app there (if it has one)."""
        answer = self.member_health(cluster)
        if not answer.schedulable:
            return answer
        for source in self.sources:
            judge = getattr(source, "app_health", None)
            if judge is not None:
                answer = judge(app, region, cluster)
                if not answer.schedulable:
                    return answer
        return HEALTHY
