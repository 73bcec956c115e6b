"""Celery's SQLAlchemy result backend (``db+postgresql://…``, ``db+sqlite:///results.db``,
``db+mysql://…``): Celery's tables, so Celery and celeriac read each other's results.

The tables are Celery 5.7's (``celery/backends/database/models.py``): ``celery_taskmeta``
(id from the ``task_id_sequence`` sequence where the database has sequences, task_id,
status, result and children in the result serializer, date_done, traceback, and the
``result_extended`` columns name, args, kwargs, worker, retries, queue, stamps) and
``celery_tasksetmeta`` for saved groups. On MySQL/MariaDB the tables this backend creates
have LONGBLOB/LONGTEXT where Celery's have BLOB/TEXT (64 KiB), so a large result fits;
tables Celery created keep their types. A result column older Celery versions pickled
is still read (as Celery 5.7 reads it); a table without the newer columns is written
without them.
``database_table_names`` / ``database_table_schemas`` rename them or put them in a schema
(``{"task": …, "group": …}``), ``database_engine_options`` go to ``create_engine``, and
``database_create_tables_at_setup`` (default True) creates missing tables on first use.

What Celery's tables cannot hold is not stored: a task's group and parent ids.
Chords wait through ``celery.chord_unlock`` (no counters), as with Celery. Rows do not
expire by themselves: beat runs ``celery.backend_cleanup`` daily, and reads treat a row
older than ``result_expires`` as missing.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import pickle
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from celeriac import states
from celeriac.backends.base import Backend, BackendOptions
from celeriac.exceptions import BackendError
from celeriac.protocol import serializers

__all__ = ["DatabaseBackend", "celery_tables", "engine_url"]

#: Columns only a ``result_extended`` table has (Celery's ``TaskExtended``).
EXTENDED = ("name", "args", "kwargs", "worker", "retries", "queue")

_ID = sa.Integer().with_variant(sa.BigInteger(), "mssql")
#: Celery's ``LargeBinary``/``Text`` columns; on MySQL/MariaDB as LONGBLOB/LONGTEXT
#: (Celery's BLOB/TEXT hold 64 KiB; either implementation reads and writes both).
_BLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def celery_tables(
    names: Mapping[str, str] | None = None, schemas: Mapping[str, str] | None = None
) -> tuple[sa.Table, sa.Table]:
    """Celery's task and group tables (extended columns included), named as configured."""
    names, schemas = names or {}, schemas or {}
    metadata = sa.MetaData()
    task_schema, group_schema = schemas.get("task"), schemas.get("group")
    task = sa.Table(
        names.get("task", "celery_taskmeta"),
        metadata,
        sa.Column(
            "id",
            _ID,
            sa.Sequence("task_id_sequence", schema=task_schema),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("task_id", sa.String(155), unique=True),
        sa.Column("status", sa.String(50), default=states.PENDING),
        sa.Column("result", _BLOB, nullable=True),
        sa.Column("date_done", sa.DateTime, nullable=True, index=True),
        sa.Column("traceback", _TEXT, nullable=True),
        sa.Column("children", _BLOB, nullable=True),
        sa.Column("name", sa.String(155), nullable=True),
        sa.Column("args", _BLOB, nullable=True),
        sa.Column("kwargs", _BLOB, nullable=True),
        sa.Column("worker", sa.String(155), nullable=True),
        sa.Column("retries", sa.Integer, nullable=True),
        sa.Column("queue", sa.String(155), nullable=True),
        sa.Column("stamps", _BLOB, nullable=True),
        schema=task_schema,
        sqlite_autoincrement=True,
    )
    group = sa.Table(
        names.get("group", "celery_tasksetmeta"),
        metadata,
        sa.Column(
            "id",
            _ID,
            sa.Sequence("taskset_id_sequence", schema=group_schema),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("taskset_id", sa.String(155), unique=True),
        sa.Column("result", _BLOB, nullable=True),
        sa.Column("date_done", sa.DateTime, nullable=True, index=True),
        schema=group_schema,
        sqlite_autoincrement=True,
    )
    return task, group


def engine_url(url: str) -> str:
    """The SQLAlchemy URL of a ``db+…`` result backend URL.

    ``postgres://`` becomes ``postgresql://``. A URL without a driver uses SQLAlchemy's
    default one when it is installed, else the other maintained one: psycopg (3) for
    PostgreSQL when psycopg2 is missing, PyMySQL for MySQL/MariaDB when mysqlclient
    (``MySQLdb``) is missing.
    """
    target = url.removeprefix("db+")
    scheme, sep, rest = target.partition("://")
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg" if _only("psycopg", "psycopg2") else "postgresql"
    elif scheme == "mysql" and _only("pymysql", "MySQLdb"):
        scheme = "mysql+pymysql"
    return f"{scheme}{sep}{rest}"


def _only(fallback: str, default: str) -> bool:
    """Whether the driver ``fallback`` is installed and SQLAlchemy's ``default`` is not."""
    find = importlib.util.find_spec
    return find(fallback) is not None and find(default) is None


class DatabaseBackend(Backend):
    """Results in Celery's SQLAlchemy tables."""

    schemes = ("db+sqlite", "db+postgresql", "db+postgres", "db+mysql")
    crosses_processes = True
    #: rows stay until ``celery.backend_cleanup`` deletes them (beat runs it daily)
    supports_autoexpire: ClassVar[bool] = False

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        extra = self.options.extra or {}
        self.engine_url = engine_url(url)
        self.engine_options = dict(extra.get("database_engine_options") or {})
        self.create_tables = extra.get("database_create_tables_at_setup", True) is not False
        self.task_table, self.group_table = celery_tables(
            extra.get("database_table_names"), extra.get("database_table_schemas")
        )
        self._lock = threading.Lock()
        self._engine: tuple[int, sa.Engine] | None = None
        self._columns: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {sa.make_url(self.engine_url)!r}>"

    # -- connection ------------------------------------------------------------------
    @property
    def engine(self) -> sa.Engine:
        """This process's engine (made on first use; a forked child makes its own)."""
        with self._lock:
            if self._engine is not None and self._engine[0] == os.getpid():
                return self._engine[1]
            if self._engine is not None:
                self._engine[1].dispose(close=False)  # the parent's connections stay its own
            engine = self._make_engine()
            self._engine = (os.getpid(), engine)
            return engine

    def _make_engine(self) -> sa.Engine:
        options = dict(self.engine_options)
        if self.engine_url.startswith("sqlite"):
            options.pop("pool_recycle", None)
        try:
            engine = sa.create_engine(self.engine_url, **options)
            if self.create_tables:
                self.task_table.metadata.create_all(engine, checkfirst=True)
            inspector = sa.inspect(engine)
            columns = inspector.get_columns(self.task_table.name, schema=self.task_table.schema)
        except sa.exc.SQLAlchemyError as exc:
            raise BackendError(f"result backend {self!r}: {exc}") from exc
        except ImportError as exc:
            raise BackendError(
                f"result backend {self!r} needs the database driver {exc.name!r}"
            ) from exc
        self._columns = frozenset(column["name"] for column in columns)
        return engine

    def _run(self, work: Any) -> Any:
        """Run ``work(connection)`` in a transaction; database errors become BackendError.

        A pooled connection the server closed (MySQL's ``wait_timeout`` after an idle
        night, a restart, an administrator's kill) fails its first statement: SQLAlchemy
        discards it, and the work runs once more on a new connection.
        """
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except sa.exc.DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    continue
                raise BackendError(f"result backend {self!r}: {exc}") from exc
            except sa.exc.SQLAlchemyError as exc:
                raise BackendError(f"result backend {self!r}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- encoding --------------------------------------------------------------------
    def _row(self, meta: Mapping[str, object]) -> dict[str, Any]:
        status = str(meta.get("status") or states.PENDING)
        row: dict[str, Any] = {
            "status": status,
            "result": self._dumps(meta.get("result")),
            "traceback": meta.get("traceback"),
            "date_done": _utcnow(),
        }
        if "children" in self._columns:
            children = meta.get("children")
            row["children"] = self._dumps(children) if children else None
        if meta.get("name") is not None and "name" in self._columns:
            for key in EXTENDED:
                value = meta.get(key)
                if key in ("args", "kwargs") and value is not None:
                    value = self._dumps(value)
                row[key] = value
        return row

    def _dumps(self, value: object) -> bytes:
        """A value as Celery stores it: bytes in the result serializer."""
        return serializers.dumps(value, self.options.serializer)[2]

    def _loads(self, payload: object) -> Any:
        """A stored value; a pickle from Celery before 5.7 (``PickleType``) is read too."""
        if payload is None:
            return None
        raw = bytes(payload) if not isinstance(payload, str) else payload.encode()  # type: ignore[call-overload]
        try:
            return self.decode_value(raw)
        except Exception:
            if raw[:1] != b"\x80":
                raise
            # Celery's own legacy format, read only from this backend's database
            return pickle.loads(raw)

    def _meta(self, row: Any) -> dict[str, Any]:
        done = row.date_done
        mapping = row._mapping
        meta: dict[str, Any] = {
            "status": row.status or states.PENDING,
            "result": self._loads(row.result),
            "traceback": row.traceback,
            "children": self._loads(mapping.get("children")) or [],
            "date_done": _iso(done) if row.status in states.READY_STATES else None,
            "task_id": row.task_id,
        }
        if mapping.get("name") is not None:
            for key in EXTENDED:
                value = mapping.get(key)
                if key in ("args", "kwargs") and value is not None:
                    value = self._loads(value)
                meta[key] = value
        return meta

    def decode_value(self, payload: bytes) -> Any:
        """A value stored in the result serializer (the extended args/kwargs)."""
        entry = serializers.serializer_for(self.options.serializer)
        return serializers.loads(
            payload, entry.content_type, entry.content_encoding, accept=self.options.accept
        )

    def _alive(self, done: dt.datetime | None, status: str | None = None) -> bool:
        expires = self.options.expires_for(status)
        if not expires or done is None:
            return True
        return _naive_utc(done) > _utcnow() - dt.timedelta(seconds=expires)

    # -- storage ---------------------------------------------------------------------
    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Store metas in one transaction (one read of which rows exist, one insert of the
        new ones); a stored ``SUCCESS`` is never overwritten."""
        if not items:
            return
        self.engine  # noqa: B018 - learn the table's columns first
        ids = [task_id for task_id, _ in items]
        if len(set(ids)) != len(ids):  # one id twice: in order, one at a time
            for item in items:
                self.store_many([item])
            return
        try:
            self._run(lambda conn: self._write_batch(conn, items))
        except BackendError as exc:
            if not isinstance(exc.__cause__, sa.exc.IntegrityError):
                raise
            # a row was created meanwhile by another process: now it is an update
            self._run(lambda conn: self._write_batch(conn, items))

    def _write_batch(
        self, conn: sa.Connection, items: Sequence[tuple[str, Mapping[str, object]]]
    ) -> None:
        table = self.task_table
        ids = [task_id for task_id, _ in items]
        query = sa.select(table.c.task_id, table.c.status, table.c.date_done).where(
            table.c.task_id.in_(ids)
        )
        existing = {row.task_id: (row.status, row.date_done) for row in conn.execute(query)}
        new = []
        for task_id, meta in items:
            row = self._row(meta)
            if task_id not in existing:
                new.append({"task_id": task_id, **row})
                continue
            status, done = existing[task_id]
            if status == states.SUCCESS and self._alive(done, status):
                continue
            conn.execute(table.update().where(table.c.task_id == task_id).values(**row))
        if new:
            columns = {key for row in new for key in row}
            rows = [{key: row.get(key) for key in columns} for row in new]
            conn.execute(table.insert(), rows)

    def get(self, task_id: str) -> dict[str, Any] | None:
        """A task's meta; None when there is no row or it expired."""
        table = self.task_table

        def read(conn: sa.Connection) -> dict[str, Any] | None:
            row = conn.execute(sa.select(table).where(table.c.task_id == task_id)).first()
            if row is None or not self._alive(row.date_done, row.status):
                return None
            return self._meta(row)

        result: dict[str, Any] | None = self._run(read)
        return result

    def forget(self, task_id: str) -> None:
        """Delete a task's row."""
        table = self.task_table
        self._run(lambda conn: conn.execute(table.delete().where(table.c.task_id == task_id)))

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
        """Store a group (its result tuple, pickled as Celery pickles its column)."""
        table = self.group_table
        values = {"result": self._dumps(meta.get("result")), "date_done": _utcnow()}

        def write(conn: sa.Connection) -> None:
            done = conn.execute(
                table.update().where(table.c.taskset_id == group_id).values(**values)
            )
            if not done.rowcount:
                conn.execute(table.insert().values(taskset_id=group_id, **values))

        self._run(write)

    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """A saved group's meta; None when not saved or expired."""
        table = self.group_table

        def read(conn: sa.Connection) -> dict[str, Any] | None:
            row = conn.execute(sa.select(table).where(table.c.taskset_id == group_id)).first()
            if row is None or not self._alive(row.date_done):
                return None
            value = self._loads(row.result)
            if hasattr(value, "as_tuple"):  # a GroupResult object Celery < 5.7 pickled
                value = value.as_tuple()
            return {"result": value, "date_done": _iso(row.date_done)}

        result: dict[str, Any] | None = self._run(read)
        return result

    def forget_group(self, group_id: str) -> None:
        """Delete a saved group."""
        table = self.group_table
        self._run(lambda conn: conn.execute(table.delete().where(table.c.taskset_id == group_id)))

    def cleanup(self) -> int:
        """Delete the rows older than ``result_expires`` (``celery.backend_cleanup``)."""
        expires = self.options.expires
        if not expires:
            return 0
        cutoff = _utcnow() - dt.timedelta(seconds=expires)

        def delete(conn: sa.Connection) -> int:
            removed = 0
            for table in (self.task_table, self.group_table):
                removed += conn.execute(table.delete().where(table.c.date_done < cutoff)).rowcount
            return removed

        removed: int = self._run(delete)
        return removed

    def close(self) -> None:
        """Close this process's connections (the engine is made again on next use)."""
        with self._lock:
            if self._engine is not None:
                self._engine[1].dispose(close=self._engine[0] == os.getpid())
            self._engine = None


def _utcnow() -> dt.datetime:
    """Now in UTC without a time zone: Celery's ``DateTime`` columns have none."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return _naive_utc(value).replace(tzinfo=dt.UTC).isoformat()
