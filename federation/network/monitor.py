"""The leader's periodic CEN check: reads the CEN state behind the fleet, keeps the latest verdicts, and
tells the controller which members and apps to look at again when a verdict changes.

Read calls only, one round per interval (three per CEN). Between rounds the verdicts are served from
memory: the MemberCluster condition ``NetworkReady`` and the pairs an app's ``Degraded`` names are
read from here by the reconcilers, which never call the CEN API themselves. A round that fails (the
API throttled or down) keeps the last verdicts: an unreachable API says nothing about the network.

With several replicas (sharding) only the elected replica reads CEN, but every replica reconciles the
apps of its shards. The elected replica therefore shares its pair verdicts through ``shared`` (the
store) and the other replicas follow them every ``follow_interval`` seconds, so an app is ``Degraded``
by the same verdicts whichever replica holds it. Members' ``NetworkReady`` stays the elected replica's
own (MemberCluster status is cluster-level work too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from federation.cloud.alibaba.cen import CenApi
from federation.controller.shutdown import stop_task
from federation.network import fleet, reachability
from federation.network.observe import observe
from federation.network.reachability import PairRow, Verdict

log = logging.getLogger(__name__)


class FleetView(Protocol):
    """What the monitor reads from the controller: its MemberCluster and FederatedApp caches."""

    def member_objects(self) -> Iterable[Mapping[str, Any]]: ...

    def app_objects(self) -> Iterable[Mapping[str, Any]]: ...

    def is_leader(self) -> bool: ...


class SharedPairs(Protocol):
    """Where the elected replica leaves its pair verdicts for the others (the store)."""

    async def publish(self, rows: Sequence[PairRow]) -> None: ...

    async def read(self) -> list[PairRow]: ...


class NetworkMonitor:
    def __init__(
        self,
        api: CenApi,
        view: FleetView,
        *,
        interval: float = 60.0,
        on_member_change: Callable[[str], None] = lambda name: None,
        on_app_change: Callable[[str], None] = lambda key: None,
        shared: SharedPairs | None = None,
        follow_interval: float = 2.0,
    ) -> None:
        self.api = api
        self.view = view
        self.interval = interval
        self.shared = shared
        self.follow_interval = follow_interval
        self._published: list[PairRow] | None = None
        self.on_member_change = on_member_change
        self.on_app_change = on_app_change
        self._verdicts: dict[str, Verdict] = {}
        self._rows: list[PairRow] = []
        self._app_problems: dict[str, list[PairRow]] = {}
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    # --- what the reconcilers read ----------------------------------------------------------------

    def verdict(self, member: str) -> Verdict | None:
        return self._verdicts.get(member)

    def problems(self, regions: Sequence[str]) -> list[PairRow]:
        return reachability.app_problems(regions, self._rows)

    def rows(self) -> list[PairRow]:
        return list(self._rows)

    # --- the round --------------------------------------------------------------------------------

    async def check(self) -> None:
        """One round: read, judge, and report what changed."""
        members = fleet.members_from_objects(self.view.member_objects())
        apps = fleet.app_regions(self.view.app_objects())
        in_use = reachability.pairs_in_use(apps.values())
        configured = [m for m in members if m.configured]
        cens = await observe(self.api, configured) if configured else {}
        verdicts = reachability.member_verdicts(members, cens, in_use)
        rows = reachability.matrix(members, cens, in_use)
        old_verdicts = self._verdicts
        self._verdicts = verdicts
        self._set_rows(rows, apps)
        self.rounds += 1
        for name in sorted(set(verdicts) | set(old_verdicts)):
            if verdicts.get(name) != old_verdicts.get(name):
                v = verdicts.get(name)
                if v is not None and v.ready is not None:
                    log.info("network: member %s %s: %s", name, v.reason, v.message)
                self.on_member_change(name)
        if self.shared is not None and rows != self._published:
            await self.shared.publish(rows)
            self._published = list(rows)

    async def follow(self) -> None:
        """Not elected: take the elected replica's pair verdicts from ``shared`` (no CEN call)."""
        if self.shared is None:
            return
        rows = await self.shared.read()
        self._published = None  # once elected again, publish the next round whatever it finds
        self._set_rows(rows, fleet.app_regions(self.view.app_objects()))

    def _set_rows(self, rows: list[PairRow], apps: Mapping[str, Sequence[str]]) -> None:
        """New pair verdicts: the apps whose broken pairs change are looked at again."""
        app_problems = {key: reachability.app_problems(regions, rows) for key, regions in apps.items()}
        old_apps = self._app_problems
        self._rows, self._app_problems = rows, app_problems
        for key in sorted(set(app_problems) | set(old_apps)):
            if app_problems.get(key, []) != old_apps.get(key, []):
                self.on_app_change(key)

    async def _loop(self) -> None:
        while True:
            if not self.view.is_leader():
                if self.shared is not None:
                    try:
                        await self.follow()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # keep the last verdicts; the store may be back next time
                        log.debug("network: reading the shared pair verdicts failed: %s", exc)
                    await asyncio.sleep(self.follow_interval)
                else:
                    await asyncio.sleep(1.0)  # a standby checks nothing; a new leader checks within a second
                continue
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the last verdicts; an API outage is not a network fault
                log.warning("network: CEN check failed, keeping the last verdicts: %s", exc)
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="network check")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task, what="network check")
