"""What only the SQLite broker promises: several processes on one file, recovery, idle cost."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac.exceptions import BrokerError, ImproperlyConfigured
from celeriac.transports.base import TransportOptions
from celeriac.transports.registry import create_transport
from celeriac.transports.sqlite import SQLiteTransport
from celeriac.utils.sqlite import sqlite_path

from .conftest import make_message, task_ids

SPAWN = multiprocessing.get_context("spawn")


def _url(tmp_path: Path, name: str = "broker.db") -> str:
    return f"sqlite:///{tmp_path / name}"


# -- helpers run in child processes (module level so "spawn" can import them) ----------
def _produce(url: str, start: int, count: int) -> None:
    transport = SQLiteTransport(url)
    for n in range(start, start + count):
        transport.publish(make_message(n), "celery", priority=n % 3)
    transport.close()


def _consume(url: str, out: str, producers_done: Any) -> None:
    async def run() -> list[str]:
        transport = SQLiteTransport(url)
        await transport.open()
        seen: list[str] = []
        while True:
            finished = producers_done.is_set()
            deliveries = await transport.fetch(["celery"], 50, 0.2)
            if not deliveries and finished:
                break
            seen.extend(task_ids(deliveries))
            await transport.ack(deliveries)
        await transport.aclose()
        return seen

    Path(out).write_text("\n".join(asyncio.run(run())))


def _hold_leases(url: str, count: int, holding: Any) -> None:
    async def run() -> None:
        transport = SQLiteTransport(url)
        taken = await transport.fetch(["celery"], count, 5.0)
        assert len(taken) == count
        holding.set()
        await asyncio.sleep(60)

    asyncio.run(run())


def _idle_cpu(url: str, seconds: float, result: Any) -> None:
    async def run() -> float:
        transport = SQLiteTransport(url)
        await transport.open()
        await transport.fetch(["idle"], 10, 0.1)
        cpu, wall = time.process_time(), time.monotonic()
        while time.monotonic() - wall < seconds:
            await transport.fetch(["idle"], 10, 0.5)
        share = (time.process_time() - cpu) / (time.monotonic() - wall)
        await transport.aclose()
        return share

    result.put(asyncio.run(run()))


def _start_at_once(url: str, n: int, go: Any) -> None:
    from celeriac.backends.sqlite import SQLiteBackend

    go.wait(10)
    transport = SQLiteTransport(url)
    transport.publish(make_message(n), "celery")
    backend = SQLiteBackend(url)
    backend.store(f"task-{n}", {"status": "SUCCESS", "result": n, "task_id": f"task-{n}"})
    transport.close()
    backend.close()


# -- tests ---------------------------------------------------------------------------
@pytest.mark.slow
def test_two_producers_two_consumers_each_message_once(tmp_path: Path) -> None:
    url = _url(tmp_path)
    SQLiteTransport(url).close()  # create the file and schema up front
    producers_done = SPAWN.Event()
    outs = [str(tmp_path / f"consumer-{i}.txt") for i in range(2)]
    consumers = [SPAWN.Process(target=_consume, args=(url, out, producers_done)) for out in outs]
    producers = [SPAWN.Process(target=_produce, args=(url, i * 5000, 5000)) for i in range(2)]
    for process in consumers + producers:
        process.start()
    for process in producers:
        process.join(30)
        assert process.exitcode == 0
    producers_done.set()
    for process in consumers:
        process.join(30)
        assert process.exitcode == 0
    seen = [line for out in outs for line in Path(out).read_text().split("\n") if line]
    assert len(seen) == 10_000
    assert set(seen) == {f"task-{n}" for n in range(10_000)}
    assert all(Path(out).read_text() for out in outs), "both consumers should get work"
    assert SQLiteTransport(url).queue_length("celery") == 0


@pytest.mark.slow
async def test_killed_consumers_leases_come_back_within_seconds(tmp_path: Path) -> None:
    url = _url(tmp_path)
    survivor = SQLiteTransport(url)
    for n in range(5):
        survivor.publish(make_message(n), "celery")
    holding = SPAWN.Event()
    victim = SPAWN.Process(target=_hold_leases, args=(url, 5, holding))
    victim.start()
    try:
        assert await asyncio.to_thread(holding.wait, 15)
        # A live owner keeps its leases, even across the once-a-second recovery look.
        assert await survivor.fetch(["celery"], 10, 1.3) == []
        waiting = asyncio.create_task(survivor.fetch(["celery"], 10, 5.0))
        await asyncio.sleep(0.1)
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        deliveries = await waiting  # the victim is not reaped yet: a zombie counts as dead
        elapsed = time.monotonic() - killed
    finally:
        victim.kill()
        victim.join(5)
    assert sorted(task_ids(deliveries)) == [f"task-{n}" for n in range(5)]
    assert {d.delivery_count for d in deliveries} == {2}
    assert elapsed < 2.0
    await survivor.aclose()
    survivor.close()


@pytest.mark.slow
def test_idle_fetch_loop_uses_under_two_percent_of_a_core(tmp_path: Path) -> None:
    result = SPAWN.Queue()
    process = SPAWN.Process(target=_idle_cpu, args=(_url(tmp_path), 2.0, result))
    process.start()
    share = result.get(timeout=20)
    process.join(5)
    assert share < 0.02, f"idle fetch loop used {share:.1%} of a core"


@pytest.mark.slow
def test_schema_creation_race(tmp_path: Path) -> None:
    url = _url(tmp_path, "fresh.db")
    go = SPAWN.Event()
    processes = [SPAWN.Process(target=_start_at_once, args=(url, n, go)) for n in range(6)]
    for process in processes:
        process.start()
    time.sleep(0.5)  # let them all import and block on the event
    go.set()
    for process in processes:
        process.join(20)
        assert process.exitcode == 0
    assert SQLiteTransport(url).queue_length("celery") == 6


async def test_fork_child_opens_its_own_connection(tmp_path: Path) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    url = _url(tmp_path)
    transport = SQLiteTransport(url)
    transport.publish(make_message("parent"), "celery")
    child = multiprocessing.get_context("fork").Process(
        target=_produce, args=(url, 100, 3)
    )  # reuses the module, and the inherited transport's file, in the child
    inherited = multiprocessing.get_context("fork").Process(
        target=transport.publish, args=(make_message("inherited"), "celery")
    )
    child.start()
    inherited.start()
    child.join(10)
    inherited.join(10)
    assert (child.exitcode, inherited.exitcode) == (0, 0)
    transport.publish(make_message("parent-again"), "celery")
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    assert sorted(task_ids(deliveries)) == sorted(
        ["task-parent", "task-inherited", "task-100", "task-101", "task-102", "task-parent-again"]
    )
    await transport.aclose()
    transport.close()


async def test_messages_survive_a_restart(tmp_path: Path) -> None:
    url = _url(tmp_path)
    first = SQLiteTransport(url)
    first.publish(make_message("now"), "celery")
    first.publish(make_message("eta"), "celery", eta=time.time() + 0.3)
    first.close()
    second = SQLiteTransport(url)
    assert second.queue_length("celery") == 2
    deliveries = await second.fetch(["celery"], 10, 0.05)
    deliveries += await second.fetch(["celery"], 10, 2.0)
    assert task_ids(deliveries) == ["task-now", "task-eta"]
    await second.aclose()
    second.close()


async def test_garbage_row_written_by_hand(tmp_path: Path) -> None:
    url = _url(tmp_path)
    transport = SQLiteTransport(url)
    transport.queue_length("celery")  # creates the schema
    with sqlite3.connect(tmp_path / "broker.db") as conn:
        conn.execute(
            "INSERT INTO celeriac_messages (queue, created_at, payload) VALUES (?, ?, ?)",
            ("celery", time.time(), "{not json"),
        )
        conn.execute(
            "INSERT INTO celeriac_messages (queue, created_at, payload) VALUES (?, ?, ?)",
            ("celery", time.time(), b'{"no": "body"}'),
        )
    deliveries = await transport.fetch(["celery"], 10, 1.0)
    assert [d.message for d in deliveries] == [None, None]
    assert [d.raw for d in deliveries] == [b"{not json", b'{"no": "body"}']
    assert all(d.error for d in deliveries)
    await transport.aclose()
    transport.close()


def test_schema_tables_are_prefixed(tmp_path: Path) -> None:
    SQLiteTransport(_url(tmp_path)).queue_length("celery")
    with sqlite3.connect(tmp_path / "broker.db") as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    assert {"celeriac_messages", "celeriac_dead_letters"} <= names
    assert all(n.startswith(("celeriac_", "sqlite_")) for n in names)


def test_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "broker.db"
    transport = SQLiteTransport(f"sqlite:///{missing}")
    with pytest.raises(BrokerError, match=r"no-such-dir/broker\.db") as info:
        transport.publish(make_message(1), "celery")
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_url_forms(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:///relative.db") == "relative.db"
    assert sqlite_path("sqlite:////abs/path.db") == "/abs/path.db"
    assert sqlite_path("sqla+sqlite:///sub/dir.db") == "sub/dir.db"
    assert sqlite_path("db+sqlite:////abs/results.db") == "/abs/results.db"
    with pytest.raises(ImproperlyConfigured):
        sqlite_path("sqlite://")
    with pytest.raises(ImproperlyConfigured):
        sqlite_path("sqlite:///:memory:")
    transport = create_transport(f"sqla+sqlite:///{tmp_path / 'x.db'}", TransportOptions())
    assert isinstance(transport, SQLiteTransport)
    assert transport.path == str(tmp_path / "x.db")


def test_crosses_processes_flags() -> None:
    from celeriac.transports.memory import MemoryTransport

    assert SQLiteTransport.crosses_processes
    assert not MemoryTransport.crosses_processes


async def test_fetch_cancelled_while_leasing_gives_the_messages_back(tmp_path: Path) -> None:
    url = _url(tmp_path)
    transport = SQLiteTransport(url)
    transport.publish(make_message(1), "celery")
    blocker = sqlite3.connect(tmp_path / "broker.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the lease will wait for this write lock
    task = asyncio.create_task(transport.fetch(["celery"], 10, 5.0))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    blocker.execute("COMMIT")  # now the lease goes through, for nobody
    blocker.close()
    [delivery] = await transport.fetch(["celery"], 10, 2.0)
    assert delivery.delivery_count == 1
    await transport.aclose()
    transport.close()
