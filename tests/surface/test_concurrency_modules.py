"""Celery's ``celery.concurrency`` paths: pools by name and Celery's standalone TaskPool API."""

from __future__ import annotations

import os
import threading

import pytest

from celeriac.concurrency import get_available_pool_names, get_implementation
from celeriac.concurrency.base import BasePool, apply_target
from celeriac.exceptions import WorkerLostError
from celeriac.signals import worker_process_init, worker_process_shutdown


def _square(x: int) -> int:
    return x * x


def test_pools_by_name() -> None:
    from celeriac.concurrency import prefork, solo, thread

    assert {"prefork", "solo", "threads"} <= set(get_available_pool_names())
    assert get_implementation("solo") is solo.TaskPool
    assert get_implementation("threads") is thread.TaskPool
    assert get_implementation("processes") is prefork.TaskPool
    assert get_implementation("celeriac.concurrency.solo:TaskPool") is solo.TaskPool
    assert get_implementation(solo.TaskPool) is solo.TaskPool
    with pytest.raises(NotImplementedError, match="async def"):
        get_implementation("gevent")


def test_apply_target_calls_back_and_reports_lost_workers() -> None:
    got: list[object] = []
    accepted: list[int] = []
    apply_target(
        _square, (3,), callback=got.append, accept_callback=lambda pid, t: accepted.append(pid)
    )
    assert got == [9] and accepted == [os.getpid()]
    with pytest.raises(ZeroDivisionError):
        apply_target(lambda: 1 / 0, callback=got.append)

    def interrupted() -> None:
        raise KeyboardInterrupt

    apply_target(interrupted, callback=got.append)
    assert isinstance(got[-1], WorkerLostError)


def test_solo_pool_runs_inline_and_sends_process_init() -> None:
    from celeriac.concurrency.solo import TaskPool

    senders: list[object] = []

    def receiver(sender: object = None, **_: object) -> None:
        senders.append(sender)

    worker_process_init.connect(receiver)
    try:
        pool = TaskPool(initargs=(None, "solo@host"))
    finally:
        worker_process_init.disconnect(receiver)
    assert senders == ["solo@host"] and pool.num_processes == 1
    pool.start()
    assert pool.active
    got: list[object] = []
    pool.apply_async(_square, (4,), callback=got.append)
    assert got == [16]  # already ran: inline
    assert pool.info["implementation"] == "celeriac.concurrency.solo:TaskPool"
    pool.stop()
    assert not pool.active


def test_thread_pool_runs_in_threads() -> None:
    from celeriac.concurrency.thread import TaskPool

    pool = TaskPool(limit=2)
    pool.start()
    threads: list[str] = []
    got: list[object] = []
    results = [
        pool.apply_async(
            lambda x: threads.append(threading.current_thread().name) or x,
            (i,),
            callback=got.append,
        )
        for i in range(4)
    ]
    for result in results:
        result.wait(5)
    assert sorted(got) == [0, 1, 2, 3]  # type: ignore[type-var]
    assert threading.current_thread().name not in threads
    assert pool.info["max-concurrency"] == 2
    pool.stop()


def test_prefork_pool_runs_in_children() -> None:
    from celeriac.concurrency.prefork import TaskPool

    pool = TaskPool(limit=2)
    pool.start()
    done = threading.Event()
    got: list[object] = []
    result = pool.apply_async(os.getpid, callback=lambda v: (got.append(v), done.set()))
    result.wait(30)
    assert done.wait(5)
    assert got and got[0] != os.getpid()
    assert pool.apply_async(_square, (5,)).get(30) == 25
    pool.stop()


def test_process_destructor_sends_shutdown() -> None:
    from celeriac.concurrency.prefork import process_destructor

    seen: list[dict[str, object]] = []

    def receiver(sender: object = None, **named: object) -> None:
        seen.append(named)

    worker_process_shutdown.connect(receiver)
    try:
        process_destructor(1234, 0)
    finally:
        worker_process_shutdown.disconnect(receiver)
    assert seen and seen[0]["pid"] == 1234 and seen[0]["exitcode"] == 0


def test_base_pool_says_what_it_lacks() -> None:
    pool = BasePool(limit=3)
    assert pool.num_processes == 3
    with pytest.raises(NotImplementedError):
        pool.restart()
    with pytest.raises(NotImplementedError):
        pool.apply_async(_square, (1,))
