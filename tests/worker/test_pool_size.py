"""``-c`` / ``worker_concurrency``: a number, a string holding one, or ``auto``."""

from __future__ import annotations

import os

import pytest

from celeriac import Celery
from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.sysinfo import cpu_budget
from celeriac.worker.sizing import pool_size
from celeriac.worker.worker import Worker, WorkerOptions


def test_the_option_wins_then_the_setting_then_the_cpu_count() -> None:
    assert pool_size(3, 8, "prefork").count == 3
    assert pool_size(None, "5", "prefork").count == 5
    assert pool_size(None, None, "threads").count == (os.cpu_count() or 1)
    with pytest.raises(ImproperlyConfigured, match="'auto'"):
        pool_size(None, "many", "prefork")


def test_auto_sizes_prefork_from_the_cpu_budget_and_says_how() -> None:
    size = pool_size("auto", None, "prefork")
    assert size.count == cpu_budget().count
    assert size.explanation is not None
    assert size.explanation.startswith(f"worker_concurrency='auto' resolved to {size.count} ")
    threads = pool_size(None, " AUTO ", "threads")
    assert threads.count == cpu_budget(use_cgroup_quota=False).count
    assert threads.explanation is not None and "only sizes the prefork pool" in threads.explanation


def test_worker_takes_auto_from_the_setting() -> None:
    app = Celery("sizing", broker="memory://", set_as_current=False)
    app.conf.worker_concurrency = "auto"
    worker = Worker(app, WorkerOptions(pool="threads"))
    assert worker.concurrency == cpu_budget(use_cgroup_quota=False).count
    app.close()


def test_cli_accepts_auto() -> None:
    import click

    import celeriac.cli.main  # noqa: F401  # the CLI package, loaded the way `celeriac` does
    from celeriac.cli.worker import _concurrency_option

    assert _concurrency_option(None, None, "auto") == "auto"  # type: ignore[arg-type]
    assert _concurrency_option(None, None, "4") == 4  # type: ignore[arg-type]
    with pytest.raises(click.BadParameter):
        _concurrency_option(None, None, "four")  # type: ignore[arg-type]
