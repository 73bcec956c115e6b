"""How many processes or threads a worker's pool gets (``-c`` / ``worker_concurrency``).

A number, a string holding one (``"4"``), or ``"auto"``: the CPUs this process may run on,
and for the prefork pool (the CPU-bound one) no more than a cgroup CPU quota allows
(rounded up), as Celery 5.7 sizes it. Unset: the machine's CPU count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.sysinfo import cpu_budget, is_auto_concurrency

__all__ = ["PoolSize", "pool_size"]


@dataclass(frozen=True, slots=True)
class PoolSize:
    """The resolved size, and for ``auto`` the line that says how it was found."""

    count: int
    explanation: str | None = None


def pool_size(option: int | str | None, setting: int | str | None, pool: str) -> PoolSize:
    """The pool size from the ``-c`` option (first) or the ``worker_concurrency`` setting.

    Raises:
        ImproperlyConfigured: a string that is neither a whole number nor ``auto``.
    """
    for value, name in ((option, "--concurrency"), (setting, "worker_concurrency")):
        if value is None or value == 0 or value == "":
            continue
        if is_auto_concurrency(value):
            return _auto(pool)
        if isinstance(value, str):
            try:
                return PoolSize(int(value))
            except ValueError:
                raise ImproperlyConfigured(
                    f"{name} expects a number of processes or 'auto', got {value!r}"
                ) from None
        return PoolSize(int(value))
    return PoolSize(os.cpu_count() or 1)


def _auto(pool: str) -> PoolSize:
    cpu_bound = pool == "prefork"
    budget = cpu_budget(use_cgroup_quota=cpu_bound)
    if not cpu_bound:
        return PoolSize(
            budget.count,
            f"worker_concurrency='auto' only sizes the prefork pool; using available "
            f"cpus={budget.count} for pool={pool}.",
        )
    quota = (
        "no cgroup cpu quota found"
        if budget.quota is None
        else f"cgroup cpu quota={budget.quota:.2f}"
    )
    return PoolSize(
        budget.count,
        f"worker_concurrency='auto' resolved to {budget.count} (pool={pool}, {quota}, "
        f"available cpus={budget.available}).",
    )
