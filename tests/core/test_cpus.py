"""The CPUs a process may use: cgroup CPU quotas (v2 and v1, from fake cgroup trees) and affinity."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.cpus import CpuQuota, detect_usable_cpus, parse_cpu_quota, read_cpu_quota, usable_cpus


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max)
    return root


def cgroup_v1(root: Path, quota: str, period: str, controller: str = "cpu") -> Path:
    (root / controller).mkdir(parents=True)
    (root / controller / "cpu.cfs_quota_us").write_text(quota)
    (root / controller / "cpu.cfs_period_us").write_text(period)
    return root


@pytest.mark.parametrize(
    ("texts", "want"),
    [
        ({"cpu_max": "200000 100000\n"}, CpuQuota(200000, 100000)),
        ({"cpu_max": "150000 100000\n"}, CpuQuota(150000, 100000)),
        ({"cpu_max": "50000 100000\n"}, CpuQuota(50000, 100000)),
        ({"cpu_max": "max 100000\n"}, None),
        ({"cpu_max": "max\n"}, None),
        ({"cpu_max": ""}, None),
        ({"cpu_max": "lots 100000"}, None),
        # cgroup v2's file wins: v1's are not read when it exists
        ({"cpu_max": "max 100000", "cfs_quota_us": "100000", "cfs_period_us": "100000"}, None),
        ({"cfs_quota_us": "300000\n", "cfs_period_us": "100000\n"}, CpuQuota(300000, 100000)),
        ({"cfs_quota_us": "-1\n", "cfs_period_us": "100000\n"}, None),
        ({"cfs_quota_us": "300000\n"}, None),  # no period: no limit
        ({}, None),
    ],
)
def test_parse_cpu_quota(texts: dict[str, str], want: CpuQuota | None) -> None:
    assert parse_cpu_quota(**texts) == want


@pytest.mark.parametrize(
    ("quota", "period", "cpus"),
    [(200000, 100000, 2), (150000, 100000, 2), (100000, 100000, 1), (50000, 100000, 1), (250000, 50000, 5)],
)
def test_a_fractional_quota_rounds_up(quota: int, period: int, cpus: int) -> None:
    assert CpuQuota(quota, period).cpus == cpus


def test_cgroup_v2_tree_with_a_quota(tmp_path: Path) -> None:
    quota = read_cpu_quota(cgroup_v2(tmp_path, "200000 100000\n"))
    assert quota == CpuQuota(200000, 100000)
    assert str(quota) == "cgroup quota 200000/100000"


def test_cgroup_v2_tree_without_a_limit(tmp_path: Path) -> None:
    assert read_cpu_quota(cgroup_v2(tmp_path, "max 100000\n")) is None


def test_cgroup_v2_fractional_quota_is_two_cpus(tmp_path: Path) -> None:
    quota = read_cpu_quota(cgroup_v2(tmp_path, "150000 100000\n"))
    assert quota is not None
    assert quota.cpus == 2


@pytest.mark.parametrize("controller", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_tree(tmp_path: Path, controller: str) -> None:
    root = cgroup_v1(tmp_path, "400000\n", "100000\n", controller)
    assert read_cpu_quota(root) == CpuQuota(400000, 100000)


def test_cgroup_v1_tree_without_a_limit(tmp_path: Path) -> None:
    assert read_cpu_quota(cgroup_v1(tmp_path, "-1\n", "100000\n")) is None


def test_missing_or_unreadable_files_mean_no_limit(tmp_path: Path) -> None:
    assert read_cpu_quota(tmp_path / "absent") is None
    assert read_cpu_quota(tmp_path) is None  # an empty directory
    (tmp_path / "cpu.max").mkdir()  # there, but not readable as a file
    assert read_cpu_quota(tmp_path) is None
    half = tmp_path / "v1"
    (half / "cpu").mkdir(parents=True)
    (half / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")  # the period is missing
    assert read_cpu_quota(half) is None


def test_usable_cpus_is_the_smaller_of_affinity_and_quota() -> None:
    assert usable_cpus(8, CpuQuota(200000, 100000)) == (2, "cgroup quota 200000/100000")
    assert usable_cpus(2, CpuQuota(200000, 100000)) == (2, "cgroup quota 200000/100000")
    assert usable_cpus(2, CpuQuota(400000, 100000)) == (2, "CPU affinity (cgroup quota 400000/100000)")
    assert usable_cpus(6, None) == (6, "CPU affinity, no cgroup quota")
    assert usable_cpus(4, CpuQuota(150000, 100000)) == (2, "cgroup quota 150000/100000")


def test_detect_reads_this_process_affinity_and_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import federation.cpus

    monkeypatch.setattr(federation.cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    assert detect_usable_cpus(cgroup_v2(tmp_path / "v2", "300000 100000")) == (
        3,
        "cgroup quota 300000/100000",
    )
    assert detect_usable_cpus(tmp_path / "none") == (6, "CPU affinity, no cgroup quota")
