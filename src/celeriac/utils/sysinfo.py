"""System facts (``celery.utils.sysinfo``): CPUs, cgroup quota, load average, disk use."""

from __future__ import annotations

import os
from math import ceil
from typing import NamedTuple

__all__ = [
    "AUTO_CONCURRENCY",
    "CpuBudget",
    "available_cpu_count",
    "cgroup_cpu_quota",
    "cpu_budget",
    "df",
    "is_auto_concurrency",
    "load_average",
]

#: ``worker_concurrency = "auto"`` / ``-c auto``: size the pool from the CPU budget.
AUTO_CONCURRENCY = "auto"


class CpuBudget(NamedTuple):
    """How many CPUs a pool may use: ``count`` (quota applied), ``available``, ``quota``."""

    count: int  # type: ignore[assignment]  # Celery's field name
    available: int
    quota: float | None


def load_average() -> tuple[float, ...]:
    """The 1, 5 and 15 minute load averages, rounded to two places."""
    return tuple(round(value, 2) for value in os.getloadavg())


class df:
    """Disk usage of the file system holding ``path``."""

    def __init__(self, path: str | bytes | os.PathLike[str]) -> None:
        self.path = path

    @property
    def stat(self) -> os.statvfs_result:
        """``os.statvfs`` of the path."""
        return os.statvfs(os.path.abspath(os.fsdecode(self.path)))

    @property
    def total_blocks(self) -> float:
        """Total size in KiB."""
        return self.stat.f_blocks * self.stat.f_frsize / 1024

    @property
    def available(self) -> float:
        """Free space for unprivileged users in KiB."""
        return self.stat.f_bavail * self.stat.f_frsize / 1024

    @property
    def capacity(self) -> int:
        """Percent used."""
        avail = self.stat.f_bavail
        used = self.stat.f_blocks - self.stat.f_bfree
        return ceil(used * 100.0 / (used + avail) + 0.5) if used + avail else 0


def is_auto_concurrency(value: object) -> bool:
    """Whether ``value`` is ``"auto"`` (any case, spaces around allowed)."""
    return isinstance(value, str) and value.strip().lower() == AUTO_CONCURRENCY


def available_cpu_count() -> int:
    """CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cgroup_cpu_quota() -> float | None:
    """The cgroup CPU quota in CPUs (v2 ``cpu.max`` or v1 CFS files), ``None`` when unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as handle:
            quota_us = int(handle.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as handle:
            period_us = int(handle.read())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def cpu_budget(use_cgroup_quota: bool = True) -> CpuBudget:
    """The CPUs a pool should use: the available ones, capped by ``ceil`` of a cgroup quota."""
    available = available_cpu_count()
    quota = cgroup_cpu_quota() if use_cgroup_quota else None
    if quota is None:
        return CpuBudget(available, available, None)
    return CpuBudget(min(available, max(1, ceil(quota))), available, quota)
