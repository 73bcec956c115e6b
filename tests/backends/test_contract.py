"""The result backend contract, run against every store (the ``backend`` fixture's kinds)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

from celeriac.backends.base import Backend
from celeriac.backends.registry import create_backend
from celeriac.exceptions import TimeoutError

from .conftest import BackendFactory, meta


def test_store_and_get(backend: Backend) -> None:
    backend.store("t1", meta("t1", result={"answer": [1, 2.5, "x", None]}))
    assert backend.get("t1") == meta("t1", result={"answer": [1, 2.5, "x", None]})


def test_missing_is_pending_none(backend: Backend) -> None:
    assert backend.get("never-stored") is None


def test_later_states_overwrite_earlier_ones(backend: Backend) -> None:
    backend.store("t1", meta("t1", "STARTED", None))
    backend.store("t1", meta("t1", "RETRY", "boom"))
    assert backend.get("t1") == meta("t1", "RETRY", "boom")
    backend.store("t1", meta("t1", "SUCCESS", 4))
    assert backend.get("t1") == meta("t1", "SUCCESS", 4)


def test_success_is_never_overwritten(backend: Backend) -> None:
    backend.store("t1", meta("t1", "SUCCESS", 4))
    backend.store("t1", meta("t1", "FAILURE", "late duplicate failed"))
    backend.store_many([("t1", meta("t1", "STARTED", None)), ("t1", meta("t1", "SUCCESS", 5))])
    assert backend.get("t1") == meta("t1", "SUCCESS", 4)


def test_store_many(backend: Backend) -> None:
    backend.store_many([(f"t{n}", meta(f"t{n}", result=n)) for n in range(20)])
    assert [backend.get(f"t{n}")["result"] for n in range(20)] == list(range(20))  # type: ignore[index]
    backend.store_many([])


def test_results_expire(backend_factory: BackendFactory) -> None:
    backend = backend_factory(expires=0.2)
    backend.store("t1", meta("t1"))
    backend.save_group("g1", {"result": [["g1", None], [[["t1", None], None]]]})
    assert backend.get("t1") is not None
    assert backend.get_group("g1") is not None
    time.sleep(0.3)
    assert backend.get("t1") is None
    assert backend.get_group("g1") is None
    # An expired SUCCESS is gone: a new run of the same id may store again.
    backend.store("t1", meta("t1", "SUCCESS", 99))
    assert backend.get("t1") == meta("t1", "SUCCESS", 99)


def test_cleanup_deletes_expired(backend_factory: BackendFactory) -> None:
    short, forever = backend_factory(expires=0.1), backend_factory(expires=None)
    short.store_many([("a", meta("a")), ("b", meta("b"))])
    short.save_group("g", {"result": None})
    forever.store("kept", meta("kept"))
    time.sleep(0.2)
    removed = forever.cleanup()
    assert removed in (0, 3)  # memory drops expired records as it meets them
    assert short.cleanup() == 0
    assert forever.get("kept") == meta("kept")
    assert short.get("a") is None


def test_forget(backend: Backend) -> None:
    backend.store("t1", meta("t1"))
    backend.forget("t1")
    assert backend.get("t1") is None
    backend.forget("never-stored")


def test_groups(backend: Backend) -> None:
    group_meta = {"result": [["g1", None], [[["t1", None], None], [["t2", None], None]]]}
    assert backend.get_group("g1") is None
    backend.save_group("g1", group_meta)
    assert backend.get_group("g1") == group_meta
    backend.forget_group("g1")
    assert backend.get_group("g1") is None


def test_another_client_reads_what_one_stored(backend_factory: BackendFactory) -> None:
    writer, reader = backend_factory(), backend_factory()
    writer.store("t1", meta("t1"))
    assert reader.get("t1") == meta("t1")


def _store_later(backend: Backend, task_id: str, delay: float, stamps: list[float]) -> None:
    time.sleep(delay)
    stamps.append(time.monotonic())
    backend.store(task_id, meta(task_id))


@pytest.mark.parametrize("same_client", [True, False], ids=["same-client", "other-client"])
@pytest.mark.parametrize("delay", [0.05, 0.4])
def test_wait_for_returns_quickly(
    backend_factory: BackendFactory, same_client: bool, delay: float
) -> None:
    waiter = backend_factory()
    writer = waiter if same_client else backend_factory()
    waiter.get("warm-up")
    stamps: list[float] = []
    thread = threading.Thread(target=_store_later, args=(writer, "t1", delay, stamps))
    thread.start()
    result = waiter.wait_for("t1", timeout=5)
    returned = time.monotonic()
    thread.join()
    assert result == meta("t1")
    assert returned - stamps[0] < 0.1  # woken: Celery-style 0.5 s polling would fail


def test_wait_for_ignores_unready_states(backend: Backend) -> None:
    backend.store("t1", meta("t1", "STARTED", None))
    with pytest.raises(TimeoutError):
        backend.wait_for("t1", timeout=0.1)


def test_wait_for_times_out(backend: Backend) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="t1"):
        backend.wait_for("t1", timeout=0.2)
    assert 0.18 <= time.monotonic() - start < 0.5


@pytest.mark.parametrize("same_client", [True, False], ids=["same-client", "other-client"])
async def test_await_for_returns_quickly(
    backend_factory: BackendFactory, same_client: bool
) -> None:
    waiter = backend_factory()
    writer = waiter if same_client else backend_factory()
    stamps: list[float] = []
    thread = threading.Thread(target=_store_later, args=(writer, "t1", 0.3, stamps))
    thread.start()
    result = await waiter.await_for("t1", timeout=5)
    returned = time.monotonic()
    thread.join()
    assert result == meta("t1")
    assert returned - stamps[0] < 0.1  # woken, not polling (load on 2 cores stretches it)


async def test_await_for_times_out(backend: Backend) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        await backend.await_for("t1", timeout=0.2)
    assert 0.18 <= time.monotonic() - start < 0.5


async def test_async_twins(backend: Backend) -> None:
    await backend.astore_many([("t1", meta("t1"))])
    assert await backend.aget("t1") == meta("t1")


def _store_in_child(url: str) -> None:
    backend = create_backend(url)
    backend.store("from-child", meta("from-child", result="hello"))
    backend.close()


def _read_in_child(url: str, out: Any) -> None:
    backend = create_backend(url)
    out.put(backend.wait_for("from-parent", timeout=10))
    backend.close()


@pytest.mark.slow
def test_another_process_reads_the_result(backend: Backend) -> None:
    if not backend.crosses_processes:
        pytest.skip(f"{type(backend).__name__} lives in one process")
    spawn = multiprocessing.get_context("spawn")
    child = spawn.Process(target=_store_in_child, args=(backend.url,))
    child.start()
    child.join(20)
    assert child.exitcode == 0
    assert backend.get("from-child") == meta("from-child", result="hello")
    out = spawn.Queue()
    reader = spawn.Process(target=_read_in_child, args=(backend.url, out))
    reader.start()
    time.sleep(0.3)
    backend.store("from-parent", meta("from-parent"))
    assert out.get(timeout=20) == meta("from-parent")
    reader.join(10)
