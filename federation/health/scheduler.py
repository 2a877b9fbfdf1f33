"""The sweep schedule: an APScheduler 3.x ``AsyncIOScheduler`` run by the leader only.

Jobs are derived from the apps and members the :class:`~federation.health.sweeps.HealthSource` knows:
one per member (API and nodes), one per app (its VIP probe, at its ``spec.healthProbe`` interval), one
per region with SLBs (``DescribeHealthStatus``, batched), one for rollouts (cache reads; the
controller also calls :meth:`HealthScheduler.poke_rollout` on every Deployment event), the latency
samples ride on the member probes, and a daily retention job. A ``sync`` job adds, changes and removes
jobs as apps and members come and go. Every job has ``max_instances=1`` (a slow sweep is never run
twice at once), ``coalesce`` (missed runs collapse into one), a misfire grace time, and jitter so that
thousands of jobs don't fire on the same tick.

:meth:`HealthScheduler.schedule` is what the dashboard reads: every job with its next run time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from federation.health.sweeps import HealthService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    interval_seconds: float
    next_run: datetime | None
    running: bool


class HealthScheduler:
    def __init__(self, service: HealthService) -> None:
        self.service = service
        self._scheduler: AsyncIOScheduler | None = None
        self._intervals: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running: dict[str, int] = {}
        self._poke: asyncio.Task[Any] | None = None

    @property
    def started(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        """Start sweeping (on taking the Lease)."""
        if self._scheduler is not None:
            return
        # a skipped run (the previous still going) is expected under max_instances=1, not a warning
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        restored = await self.service.restore()
        if restored:
            log.info("health: resumed %d recent target states from the store", restored)
        self._scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(),
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": max(1, round(self.service.config.misfire_grace)),
            },
        )
        self._scheduler.start()
        c = self.service.config
        self._add("sync", c.sync_interval, self._sync, jitter=False, now=False)
        self._add("rollout", c.rollout_interval, self.service.sweep_rollouts)
        self._add(
            "retention",
            24 * 3600,
            self.service.prune,
            jitter=False,
            now=False,
            first=datetime.now().astimezone() + timedelta(minutes=5),
        )
        await self._sync()

    async def stop(self) -> None:
        """Stop sweeping (on losing the Lease): no job runs after this returns."""
        sched, self._scheduler = self._scheduler, None
        if sched is not None:
            sched.shutdown(wait=False)
        self._intervals.clear()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._running.clear()

    def schedule(self) -> list[JobInfo]:
        """Every job and its next run (for the dashboard and ``fedctl health``)."""
        if self._scheduler is None:
            return []
        out = []
        for job in self._scheduler.get_jobs():
            out.append(
                JobInfo(
                    job.id,
                    self._intervals.get(job.id, 0.0),
                    job.next_run_time,
                    self._running.get(job.id, 0) > 0,
                )
            )
        return sorted(out, key=lambda j: j.id)

    def poke_rollout(self, app: str) -> None:
        """A Deployment of ``app`` changed (a watch event): judge its rollout now, not at the next tick."""
        if self._scheduler is None:
            return
        self._spawn(f"rollout:{app}", self.service.sweep_rollouts, app)

    # --- jobs ----------------------------------------------------------------------------------------

    def _spawn(self, job_id: str, fn: Any, *args: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._guard(job_id, fn, *args), name=f"health {job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, job_id: str, fn: Any, *args: Any) -> None:
        self._running[job_id] = self._running.get(job_id, 0) + 1
        try:
            await fn(*args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("health: job %s failed", job_id)
        finally:
            self._running[job_id] -= 1

    async def _run(self, job_id: str, fn: Any, *args: Any) -> None:
        # the scheduler's executor does not track our tasks; running it as one lets stop() cancel it
        task = self._spawn(job_id, fn, *args)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # stop(): the scheduler drops this wrapper and cancels the sweep itself; nothing to report
            task.cancel()

    def _add(
        self,
        job_id: str,
        seconds: float,
        fn: Any,
        *args: Any,
        jitter: bool = True,
        now: bool = True,
        first: datetime | None = None,
    ) -> None:
        assert self._scheduler is not None
        j = self.service.config.jitter if jitter else 0
        kwargs: dict[str, Any] = {}
        if now or first is not None:
            kwargs["next_run_time"] = first or datetime.now().astimezone()
        self._scheduler.add_job(
            self._run,
            "interval",
            args=(job_id, fn, *args),
            id=job_id,
            seconds=seconds,
            jitter=j or None,
            replace_existing=True,
            **kwargs,
        )
        self._intervals[job_id] = seconds

    async def _sync(self) -> None:
        """Match the jobs to the apps and members now known."""
        if self._scheduler is None:
            return
        svc = self.service
        c = svc.config
        want: dict[str, tuple[float, Any, tuple[Any, ...]]] = {}
        for m in svc.source.members():
            want[f"member:{m.name}"] = (c.member_interval, svc.sweep_members, ([m.name],))
        slb_regions = set()
        for a in svc.source.apps():
            if any(r.address for r in a.regions):
                want[f"vip:{a.key}"] = (a.vip.interval, svc.sweep_vips, (a.key,))
            slb_regions |= {r.region for r in a.regions if r.load_balancer_id}
        if svc.slb is not None:
            for region in slb_regions:
                want[f"slb:{region}"] = (c.slb_interval, svc.sweep_slbs, (region,))
        fixed = {"sync", "rollout", "retention"}
        for job_id in [j for j in self._intervals if j not in fixed and j not in want]:
            self._scheduler.remove_job(job_id)
            del self._intervals[job_id]
        for job_id, (seconds, fn, args) in want.items():
            if self._intervals.get(job_id) != seconds:
                self._add(job_id, seconds, fn, *args)
        # targets of apps and members that are gone leave the machines (and the dashboard) too
        await svc.forget_gone()
