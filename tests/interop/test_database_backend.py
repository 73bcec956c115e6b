"""Celery's SQLAlchemy result backend shared by real Celery 5.7 and celeriac processes.

A Celery worker (``celery -A celery_tasks worker -P solo``) and a celeriac worker on one
Redis broker both store results with ``result_backend = "db+…"`` (SQLite, PostgreSQL,
MariaDB) and ``result_extended = True``; each side's client reads what the other side's
worker stored: values, states, a failure's exception and traceback, the extended columns,
and a group saved by one side and restored by the other (``celery_tasksetmeta``).
Both write the same two tables, ``celery_taskmeta`` and ``celery_tasksetmeta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from helpers.services import mysql_database, postgres_url, redis_client

from .conftest import Interop

pytestmark = [
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    # Celery's @app.task is shared: each test's Celery app meets the earlier tests' tasks
    pytest.mark.filterwarnings("ignore:Task name .* is already registered"),
]

sa = pytest.importorskip("sqlalchemy")

TIMEOUT = 30
#: Celery 5.7's extended columns (``TaskExtended``); ``stamps`` is celeriac's addition.
EXTENDED = {"name", "args", "kwargs", "worker", "retries", "queue"}


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def db_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ``db+…`` URL on an empty database, with the driver named (Celery's SQLAlchemy
    defaults, psycopg2 and mysqlclient, are not installed here: psycopg and PyMySQL are)."""
    if request.param == "sqlite":
        yield f"db+sqlite:///{tmp_path / 'results.db'}"
    elif request.param == "mysql":
        pytest.importorskip("pymysql")
        with mysql_database("itr") as url:
            yield "db+mysql+pymysql://" + url.split("://", 1)[1]
    else:
        psycopg = pytest.importorskip("psycopg")
        import uuid

        base = postgres_url().rsplit("/", 1)[0]
        name = f"celeriac_itr_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield "db+postgresql+psycopg://" + f"{base}/{name}".split("://", 1)[1]
        finally:
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def interop(tmp_path: Path, db_backend: str) -> Iterator[Interop]:
    """Both tasks modules on Redis as the broker and ``db_backend`` for results."""
    client = redis_client()
    env = Interop(tmp_path, client, "redis", results=db_backend)
    try:
        yield env
    finally:
        env.close()
        client.close()


def rows(url: str, query: str) -> list[Any]:
    """Rows of ``query`` on the results database."""
    engine = sa.create_engine(url.removeprefix("db+"))
    try:
        with engine.begin() as conn:
            return list(conn.execute(sa.text(query)))
    finally:
        engine.dispose()


def columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url.removeprefix("db+"))
    try:
        return {column["name"] for column in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def check_reads(reader: Any, ok: str, bad: str, queue: str, worker_prefix: str) -> None:
    """``reader`` (a tasks module of one side) reads the results the other side stored."""
    result = reader.app.AsyncResult(ok)
    assert result.get(timeout=TIMEOUT) == 5
    assert result.state == "SUCCESS" and result.successful()
    assert result.date_done is not None
    assert result.name == "tasks.add" and list(result.args) == [2, 3]
    assert result.queue == queue and result.worker.startswith(worker_prefix)
    failed = reader.app.AsyncResult(bad)
    with pytest.raises(ValueError, match="stored by the other side"):
        failed.get(timeout=TIMEOUT)
    assert failed.state == "FAILURE" and failed.failed()
    assert "ValueError: stored by the other side" in (failed.traceback or "")
    assert "raise ValueError(text)" in failed.traceback
    assert reader.app.AsyncResult("never-sent").state == "PENDING"


@pytest.mark.parametrize(("worker", "client"), [("celery", "celeriac"), ("celeriac", "celery")])
def test_a_workers_results_are_read_by_the_other_client(
    interop: Interop, worker: str, client: str
) -> None:
    interop.start_worker(worker, "solo", 1)
    producer, reader = interop.tasks(worker), interop.tasks(client)
    # the worker's own side sends (its client makes the tables if the worker has not)
    ok = producer.add.delay(2, 3)
    bad = producer.fail.delay("stored by the other side")
    assert ok.get(timeout=TIMEOUT) == 5, interop.logs()
    with pytest.raises(ValueError):
        bad.get(timeout=TIMEOUT)
    check_reads(reader, ok.id, bad.id, interop.queue, worker)

    # the reader's side sends to the other's worker: the same rows, read back by it
    sent = reader.add.delay(2, 3)
    assert sent.get(timeout=TIMEOUT) == 5, interop.logs()
    assert sent.worker.startswith(worker)

    # Celery's tables, extended columns filled by either worker
    url = interop.results
    assert EXTENDED <= columns(url, "celery_taskmeta")
    assert {"id", "taskset_id", "result", "date_done"} <= columns(url, "celery_tasksetmeta")
    stored = rows(url, "SELECT task_id, status, name, worker, queue FROM celery_taskmeta")
    by_id = {row.task_id: row for row in stored}
    assert by_id[ok.id].status == "SUCCESS" and by_id[bad.id].status == "FAILURE"
    for task_id in (ok.id, bad.id, sent.id):
        assert by_id[task_id].worker.startswith(worker)
        assert by_id[task_id].queue == interop.queue
    assert by_id[bad.id].name == "tasks.fail"


@pytest.mark.parametrize(("saver", "restorer"), [("celery", "celeriac"), ("celeriac", "celery")])
def test_a_saved_group_is_restored_by_the_other_side(
    interop: Interop, saver: str, restorer: str
) -> None:
    interop.start_worker("celery", "solo", 1)
    interop.start_worker("celeriac", "prefork", 1)
    ours, theirs = interop.tasks(saver), interop.tasks(restorer)
    sent = import_module(saver).group(ours.add.s(i, i) for i in range(4)).apply_async()
    assert sent.get(timeout=TIMEOUT) == [0, 2, 4, 6], interop.logs()
    sent.save()
    assert rows(interop.results, "SELECT taskset_id FROM celery_tasksetmeta")[0][0] == sent.id
    restored = restore(restorer, theirs.app, sent.id)
    assert restored is not None and restored.id == sent.id
    assert [r.id for r in restored.results] == [r.id for r in sent.results]
    assert restored.get(timeout=TIMEOUT) == [0, 2, 4, 6]
    assert restored.ready() and restored.successful() and restored.completed_count() == 4
    restored.forget()  # the tasks' rows, as Celery's forget
    assert rows(interop.results, "SELECT task_id FROM celery_taskmeta") == []
    restored.delete()  # the group's row
    assert restore(saver, ours.app, sent.id) is None


def restore(impl: str, app: Any, group_id: str) -> Any:
    """``GroupResult.restore(group_id, app=app)`` of ``celery.result`` or ``celeriac.result``."""
    return import_module(f"{impl}.result").GroupResult.restore(group_id, app=app)


@pytest.mark.parametrize("worker", ["celery", "celeriac"])
def test_a_chord_from_the_other_side_waits_with_chord_unlock(interop: Interop, worker: str) -> None:
    """Without chord counters both wait for the header with ``celery.chord_unlock``: the
    other side's client sends it, the worker runs it and then the body."""
    interop.start_worker(worker, "solo", 1)
    client = "celeriac" if worker == "celery" else "celery"
    tasks = interop.tasks(client)
    canvas = import_module(client)
    result = canvas.chord(tasks.add.s(i, i) for i in range(3))(tasks.tsum.s())
    assert result.get(timeout=TIMEOUT) == 6, interop.logs()
    ran = interop.client.lrange(interop.key("interop.tsum"), 0, -1)
    assert ran == [worker.encode()]
    names = {row.name for row in rows(interop.results, "SELECT name FROM celery_taskmeta")}
    assert {"tasks.add", "tasks.tsum"} <= names
