"""Celery's SQLAlchemy backend (``db+sqlite://``, ``db+postgresql://``, ``db+mysql://``) on
real SQLite, PostgreSQL and MariaDB: Celery's tables, and Celery's own backend reads what
celeriac wrote and the other way round."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa

from celeriac.backends.base import BackendOptions
from celeriac.backends.database import DatabaseBackend, engine_url
from celeriac.backends.registry import backend_class, create_backend
from helpers.services import mysql_database, postgres_url

DATABASES = ["sqlite", "postgres", "mysql"]


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ``db+…`` URL on an empty database of its own."""
    if request.param == "sqlite":
        yield f"db+sqlite:///{tmp_path / 'results.db'}"
        return
    if request.param == "mysql":  # no driver named: PyMySQL when mysqlclient is missing
        with mysql_database("sa") as url:
            yield f"db+{url}"
        return
    psycopg = pytest.importorskip("psycopg")
    base = postgres_url().rsplit("/", 1)[0]
    name = f"celeriac_sa_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"db+postgresql://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def meta(task_id: str, status: str = "SUCCESS", result: object = 4, **extra: object) -> dict:
    return {
        "status": status,
        "result": result,
        "traceback": None,
        "children": [],
        "date_done": None,
        "task_id": task_id,
        **extra,
    }


def test_every_db_scheme_is_the_sqlalchemy_backend() -> None:
    for url in (
        "db+sqlite:///r.db",
        "db+postgresql://h/db",
        "db+mysql://h/db",
        "db+postgresql+psycopg://h/db",
        "db+mysql+pymysql://h/db",
    ):
        assert backend_class(url) is DatabaseBackend
    assert engine_url("db+postgres://u@h/db").split("://")[0].startswith("postgresql")
    assert engine_url("db+mysql+pymysql://u@h/db") == "mysql+pymysql://u@h/db"
    assert engine_url("db+mysql+mysqldb://u@h/db") == "mysql+mysqldb://u@h/db"


def test_a_url_without_a_driver_falls_back_to_the_installed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    installed: set[str] = set()
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: object() if name in installed else None
    )
    installed.update({"pymysql", "psycopg"})
    assert engine_url("db+mysql://u@h/db") == "mysql+pymysql://u@h/db"
    assert engine_url("db+postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    installed.update({"MySQLdb", "psycopg2"})  # SQLAlchemy's defaults win when present
    assert engine_url("db+mysql://u@h/db") == "mysql://u@h/db"
    assert engine_url("db+postgresql://u@h/db") == "postgresql://u@h/db"


def test_round_trip_in_celerys_tables(db_url: str) -> None:
    backend = create_backend(db_url)
    assert backend.get("missing") is None
    backend.store("t1", meta("t1", "STARTED", {"pid": 1}))
    assert backend.get("t1")["status"] == "STARTED"
    backend.store("t1", meta("t1", "SUCCESS", [1, "two"]))
    got = backend.get("t1")
    assert got["status"] == "SUCCESS" and got["result"] == [1, "two"]
    assert dt.datetime.fromisoformat(got["date_done"]).tzinfo is not None
    backend.store("t1", meta("t1", "FAILURE", "late"))  # a SUCCESS stays
    assert backend.get("t1")["result"] == [1, "two"]
    extended = meta(
        "t2",
        name="tasks.add",
        args=[2, 3],
        kwargs={"z": 1},
        worker="w@h",
        retries=0,
        queue="celery",
    )
    backend.store_many([("t2", extended), ("t3", meta("t3"))])
    got = backend.get("t2")
    assert (got["name"], got["args"], got["kwargs"], got["worker"], got["queue"]) == (
        "tasks.add",
        [2, 3],
        {"z": 1},
        "w@h",
        "celery",
    )
    backend.save_group("g1", {"result": [["g1", None], [[["t1", None], None]]]})
    assert backend.get_group("g1")["result"] == [["g1", None], [[["t1", None], None]]]
    backend.forget("t3")
    backend.forget_group("g1")
    assert backend.get("t3") is None and backend.get_group("g1") is None
    engine = sa.create_engine(engine_url(db_url))
    tables = set(sa.inspect(engine).get_table_names())
    assert {"celery_taskmeta", "celery_tasksetmeta"} <= tables
    engine.dispose()
    backend.close()


def test_a_large_result_fits(db_url: str) -> None:
    """300 KB of result, arguments and traceback (MySQL's BLOB/TEXT hold 64 KiB: the tables
    made here have LONGBLOB/LONGTEXT there), read back by Celery's backend too."""
    big = "x" * 300_000
    backend = create_backend(db_url)
    extended = meta("big", result=big, traceback=big, name="t", args=[big], kwargs={})
    backend.store("big", extended)
    got = backend.get("big")
    assert got["result"] == big and got["traceback"] == big and got["args"] == [big]
    backend.save_group("g", {"result": [["g", None], [[["big", None], None]] * 5000]})
    assert len(backend.get_group("g")["result"][1]) == 5000
    celery = pytest.importorskip("celery")
    url = db_url.replace("db+mysql://", "db+mysql+pymysql://", 1)
    url = url.replace("db+postgresql://", "db+postgresql+psycopg://", 1)
    theirs = celery.Celery("theirs", backend=url, result_extended=True)
    try:
        assert theirs.AsyncResult("big").get(timeout=5) == big
    finally:
        theirs.close()
        backend.close()


@pytest.mark.parametrize("db_url", ["postgres", "mysql"], indirect=True)  # SQLite: no server
def test_a_connection_the_server_closed_is_replaced(db_url: str) -> None:
    """The pooled connection is killed by the server (as MySQL's ``wait_timeout`` does to
    an idle one): the next read and store work, on a new connection."""
    backend = create_backend(db_url)
    backend.store("t1", meta("t1"))
    mine = "SELECT CONNECTION_ID()" if "mysql" in db_url else "SELECT pg_backend_pid()"
    kill = "KILL {}" if "mysql" in db_url else "SELECT pg_terminate_backend({})"
    with backend.engine.connect() as conn:  # the pool's one connection
        session = conn.execute(sa.text(mine)).scalar()
    other = sa.create_engine(engine_url(db_url))
    with other.begin() as conn:
        conn.execute(sa.text(kill.format(int(session))))
    other.dispose()
    assert backend.get("t1")["status"] == "SUCCESS"
    backend.store("t2", meta("t2"))
    assert backend.get("t2")["status"] == "SUCCESS"
    backend.close()


def test_result_expires_and_cleanup(db_url: str) -> None:
    backend = create_backend(db_url, BackendOptions(expires=60))
    backend.store("old", meta("old"))
    backend.store("new", meta("new"))
    engine = sa.create_engine(engine_url(db_url))
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE celery_taskmeta SET date_done = :when WHERE task_id = 'old'"),
            {"when": dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)},
        )
    assert backend.get("old") is None  # expired reads as PENDING
    assert backend.cleanup() == 1
    with engine.begin() as conn:
        left = [row[0] for row in conn.execute(sa.text("SELECT task_id FROM celery_taskmeta"))]
    assert left == ["new"]
    engine.dispose()
    backend.close()


def test_table_names_and_schemas(tmp_path: Path) -> None:
    url = f"db+sqlite:///{tmp_path / 'named.db'}"
    options = BackendOptions(
        extra={"database_table_names": {"task": "my_tasks", "group": "my_groups"}}
    )
    backend = create_backend(url, options)
    backend.store("t1", meta("t1"))
    backend.save_group("g1", {"result": [["g1", None], []]})
    engine = sa.create_engine(engine_url(url))
    assert {"my_tasks", "my_groups"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()
    backend.close()


def test_table_schema_on_postgresql() -> None:
    psycopg = pytest.importorskip("psycopg")
    url = postgres_url()
    schema = f"celeriac_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        options = BackendOptions(
            extra={"database_table_schemas": {"task": schema, "group": schema}}
        )
        backend = create_backend(f"db+{url}", options)
        backend.store("t1", meta("t1", result="in a schema"))
        assert backend.get("t1")["result"] == "in a schema"
        with psycopg.connect(url) as conn:
            rows = conn.execute(f"SELECT status FROM {schema}.celery_taskmeta").fetchall()
        assert rows == [("SUCCESS",)]
        backend.close()
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_table_schema_on_mariadb() -> None:
    """On MySQL/MariaDB a schema is another database on the same server."""
    with mysql_database("sa") as url, mysql_database("schema") as other:
        schema = other.rsplit("/", 1)[1]
        options = BackendOptions(
            extra={
                "database_table_schemas": {"task": schema, "group": schema},
                "database_table_names": {"task": "tasks", "group": "groups"},
            }
        )
        backend = create_backend(f"db+{url}", options)
        backend.store("t1", meta("t1", result="in another database"))
        backend.save_group("g1", {"result": [["g1", None], []]})
        assert backend.get("t1")["result"] == "in another database"
        assert backend.get_group("g1") is not None
        engine = sa.create_engine(engine_url(f"db+{other}"))
        assert {"tasks", "groups"} <= set(sa.inspect(engine).get_table_names())
        engine.dispose()
        backend.close()


@pytest.mark.interop
def test_celerys_backend_and_ours_read_each_other(db_url: str) -> None:
    celery = pytest.importorskip("celery")
    from celery.app.task import Context as CeleryContext

    url = db_url
    if url.startswith("db+postgresql://"):  # Celery's SQLAlchemy default driver is psycopg2
        url = url.replace("db+postgresql://", "db+postgresql+psycopg://", 1)
    if url.startswith("db+mysql://"):  # … and mysqlclient for MySQL
        url = url.replace("db+mysql://", "db+mysql+pymysql://", 1)
    theirs_app = celery.Celery("theirs", backend=url, result_extended=True)
    theirs = theirs_app.backend
    ours = create_backend(url)
    try:
        # Celery writes, celeriac reads.
        request = CeleryContext(
            id="c1",
            task="tasks.add",
            args=(2, 3),
            kwargs={},
            hostname="celery@h",
            retries=0,
            delivery_info={"routing_key": "celery"},
        )
        theirs.mark_as_done("c1", 5, request=request)
        try:
            raise ValueError("theirs failed")
        except ValueError as exc:
            theirs.mark_as_failure("c2", exc, traceback="Traceback: ValueError")
        got = ours.get("c1")
        assert got["status"] == "SUCCESS" and got["result"] == 5
        assert got["name"] == "tasks.add" and got["args"] == [2, 3] and got["worker"] == "celery@h"
        failed = ours.get("c2")
        assert failed["status"] == "FAILURE"
        assert failed["result"]["exc_type"] == "ValueError"
        assert failed["result"]["exc_message"] == ["theirs failed"]

        # celeriac writes, Celery reads.
        ours.store(
            "r1",
            meta(
                "r1",
                result={"total": 7},
                name="tasks.sum",
                args=[7],
                kwargs={},
                worker="celeriac@h",
                retries=0,
                queue="celery",
            ),
        )
        ours.store(
            "r2",
            meta(
                "r2",
                "FAILURE",
                {
                    "exc_type": "ValueError",
                    "exc_message": ["ours failed"],
                    "exc_module": "builtins",
                },
                traceback="Traceback: ValueError",
            ),
        )
        result = theirs_app.AsyncResult("r1")
        assert result.get(timeout=5) == {"total": 7}
        assert result.name == "tasks.sum" and result.args == [7]
        with pytest.raises(ValueError, match="ours failed"):
            theirs_app.AsyncResult("r2").get(timeout=5)
        assert theirs_app.AsyncResult("nothing").state == "PENDING"
    finally:
        ours.close()
        theirs_app.close()


WORKER_TASKS = """
@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.total")
def total(values):
    return sum(values)
"""


@pytest.mark.slow
def test_a_worker_stores_in_celerys_tables(db_url: str, tmp_path: Path) -> None:
    """A real prefork worker on ``db+…``: results, a chord (``celery.chord_unlock``),
    and the rows in Celery's table."""
    from celeriac import chord, signature
    from helpers.processes import Project

    settings = {"result_backend": db_url, "result_extended": True}
    with Project(tmp_path, WORKER_TASKS, settings=settings) as project:
        project.start_worker(concurrency=2)
        from celeriac import Celery

        producer = Celery("producer", broker=project.broker_url, backend=db_url)
        assert producer.send_task("tasks.add", args=[2, 3]).get(timeout=30) == 5
        body = signature("tasks.total", app=producer)
        header = [signature("tasks.add", args=(i, i), app=producer) for i in range(4)]
        assert chord(header)(body).get(timeout=30) == sum(2 * i for i in range(4))
        producer.close()
        engine = sa.create_engine(engine_url(db_url))
        with engine.begin() as conn:
            rows = conn.execute(
                sa.text("SELECT name, status FROM celery_taskmeta WHERE name = 'tasks.add'")
            ).fetchall()
        engine.dispose()
        assert len(rows) == 5 and {row.status for row in rows} == {"SUCCESS"}


def test_beat_schedules_backend_cleanup_for_database_backends(tmp_path: Path) -> None:
    from celeriac import Celery
    from celeriac.beat.scheduler import Scheduler

    broker = f"sqlite:///{tmp_path / 'broker.db'}"
    with_rows = Celery("rows", broker=broker, backend=f"db+sqlite:///{tmp_path / 'r.db'}")
    embedded = Celery("embedded", broker=broker, backend=broker)
    no_expiry = Celery("forever", broker=broker, backend=f"db+sqlite:///{tmp_path / 'f.db'}")
    no_expiry.conf.result_expires = None
    try:
        scheduler = Scheduler(with_rows)
        scheduler.setup_schedule()
        entry = scheduler.schedule["celery.backend_cleanup"]
        assert entry.task == "celery.backend_cleanup"
        assert repr(entry.schedule).startswith("<crontab: 0 4")
        for app in (embedded, no_expiry):
            other = Scheduler(app)
            other.setup_schedule()
            assert "celery.backend_cleanup" not in other.schedule
    finally:
        for app in (with_rows, embedded, no_expiry):
            app.close()
