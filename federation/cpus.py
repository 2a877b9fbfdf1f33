"""How many CPUs this process may really use: its CPU affinity and its cgroup's CPU quota.

``os.cpu_count()`` inside a container is the node's CPU count, not the pod's: a pod limited to 2 CPUs
on a 32-core node sees 32. Two things bound what the process can use: the CPUs it may be scheduled on
(``os.sched_getaffinity``: cpusets, ``taskset``, Kubernetes' static CPU manager) and the cgroup's CPU
bandwidth quota (a pod's ``resources.limits.cpu``: so many microseconds of CPU time per period), which
lets it run no faster than quota/period CPUs however many it may be scheduled on.

The quota is read from the cgroup filesystem as the container sees it: cgroup v2 ``cpu.max``
("QUOTA PERIOD", or "max PERIOD" for no limit), else cgroup v1 ``cpu/cpu.cfs_quota_us`` and
``cpu.cfs_period_us`` (-1: no limit). With a cgroup namespace (the default of containerd and Docker
on cgroup v2) or v1's per-container mount, those files are the container's own; a parent cgroup's
tighter quota is not looked for. A missing or unreadable file means no limit.

:func:`parse_cpu_quota` is pure (the files' texts in, the quota out); :func:`read_cpu_quota` reads
the files under a root directory, so tests hand it a fake tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CpuQuota:
    """A cgroup CPU bandwidth limit: ``quota`` microseconds of CPU time every ``period``."""

    quota: int
    period: int

    @property
    def cpus(self) -> int:
        """The quota in whole CPUs, rounded up (1.5 CPUs keep two busy part of the time), at least 1."""
        return max(1, -(-self.quota // self.period))

    def __str__(self) -> str:
        return f"cgroup quota {self.quota}/{self.period}"


def _positive_ints(*texts: str) -> tuple[int, ...] | None:
    try:
        values = tuple(int(t) for t in texts)
    except ValueError:
        return None
    return values if all(v > 0 for v in values) else None


def parse_cpu_quota(
    cpu_max: str | None = None, cfs_quota_us: str | None = None, cfs_period_us: str | None = None
) -> CpuQuota | None:
    """The CPU quota the cgroup files' texts set, or None for no limit.

    ``cpu_max`` is cgroup v2's ``cpu.max``; when it is given (the file exists), v1's files are not
    looked at. Text that does not parse is no limit, as a missing file is: the count then falls back
    on the CPU affinity rather than stopping the controller."""
    if cpu_max is not None:
        fields = cpu_max.split()
        if not fields or fields[0] == "max":
            return None
        period = fields[1] if len(fields) > 1 else "100000"  # the kernel's default period
        parsed = _positive_ints(fields[0], period)
    elif cfs_quota_us is not None and cfs_period_us is not None:
        parsed = _positive_ints(cfs_quota_us.strip(), cfs_period_us.strip())  # quota -1: no limit
    else:
        return None
    return None if parsed is None else CpuQuota(*parsed)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def read_cpu_quota(root: Path = CGROUP_ROOT) -> CpuQuota | None:
    """The CPU quota of this process's cgroup as mounted under ``root`` (None: no limit)."""
    cpu_max = _read(root / "cpu.max")
    if cpu_max is not None:
        return parse_cpu_quota(cpu_max)
    for v1 in ("cpu", "cpu,cpuacct"):  # distributions mount the v1 controller under either name
        quota, period = _read(root / v1 / "cpu.cfs_quota_us"), _read(root / v1 / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return parse_cpu_quota(cfs_quota_us=quota, cfs_period_us=period)
    return None


def usable_cpus(affinity: int, quota: CpuQuota | None) -> tuple[int, str]:
    """(CPUs, why): the smaller of the affinity's CPU count and the quota's, with what decided it."""
    affinity = max(1, affinity)
    if quota is None:
        return affinity, "CPU affinity, no cgroup quota"
    if quota.cpus <= affinity:
        return quota.cpus, str(quota)
    return affinity, f"CPU affinity ({quota})"


def detect_usable_cpus(root: Path = CGROUP_ROOT) -> tuple[int, str]:
    """:func:`usable_cpus` of this process: its affinity and the cgroup quota under ``root``."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no affinity call; the CPU count is the best there is
        affinity = os.cpu_count() or 1
    return usable_cpus(affinity, read_cpu_quota(root))
