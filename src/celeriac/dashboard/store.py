"""The task history: a ``tasks`` table (one row per task id) plus queue-length samples and
the last known state of each worker, on SQLite or PostgreSQL.

Bounded by ``max_tasks`` (the oldest rows by last update go first) and ``max_age``.
Indexed for the tasks table's filters and sorts, so a page over a million rows reads a
page's worth of index, not the table. Every method is synchronous (a lock per
connection); the dashboard calls them from a thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence

from celeriac.dashboard.database import (
    Checkpointer,
    Database,
    DatabasePool,
    open_database,
    sqlite_file,
)
from celeriac.dashboard.query import SORTABLE, TaskQuery
from celeriac.dashboard.records import COLUMNS, TaskRow

__all__ = ["COUNT_CAP", "TaskStore"]

#: Connections the API reads through (a slow search holds one of them).
READERS = 4

#: Counting stops here: a page shows "10,000+" instead of scanning a million rows.
COUNT_CAP = 10_000

_REAL = {"sent", "received", "started", "succeeded", "failed", "retried", "revoked",
         "rejected", "timestamp", "runtime"}  # fmt: skip


def _column_type(column: str, dialect: str) -> str:
    if column == "uuid":
        return "TEXT PRIMARY KEY"
    if column in _REAL:
        return "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    return "INTEGER" if column == "retries" else "TEXT"


class TaskStore:
    """Task rows, queue samples and workers, in one database (see the module docstring)."""

    def __init__(self, url: str, *, max_tasks: int = 1_000_000, max_age: float | None = None):
        self.url = url
        self.max_tasks = max_tasks
        self.max_age = max_age
        self._writer = open_database(url)
        self._reader: Database | DatabasePool = (
            self._writer if url in ("sqlite://", ":memory:") else DatabasePool(url, READERS)
        )
        self._create()
        self._count = self._exact_count()
        self._checkpointer: Checkpointer | None = None
        path = sqlite_file(url)
        if path is not None:
            self._writer.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = Checkpointer(path)

    # -- schema ----------------------------------------------------------------------------
    def _create(self) -> None:
        db = self._writer
        columns = ", ".join(f"{c} {_column_type(c, db.dialect)}" for c in COLUMNS)
        db.execute(f"CREATE TABLE IF NOT EXISTS tasks ({columns})")
        for column in [*SORTABLE, "root_id", "parent_id", "group_id", "queue"]:
            if column == "timestamp":
                db.execute("CREATE INDEX IF NOT EXISTS tasks_timestamp ON tasks (timestamp)")
                continue
            # (column, timestamp): a filter on the column keeps newest-first order cheap.
            db.execute(f"CREATE INDEX IF NOT EXISTS tasks_{column} ON tasks ({column}, timestamp)")
        # Every index costs each event's write; these two (sorting by receive and start
        # time) were dropped for the newest-first order that serves the same purpose.
        db.execute("DROP INDEX IF EXISTS tasks_received")
        db.execute("DROP INDEX IF EXISTS tasks_started")
        real = "DOUBLE PRECISION" if db.dialect == "postgresql" else "REAL"
        db.execute(
            f"CREATE TABLE IF NOT EXISTS queue_samples (at {real}, queue TEXT, length INTEGER)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS queue_samples_at ON queue_samples (at)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS workers "
            f"(hostname TEXT PRIMARY KEY, seen {real}, info TEXT)"
        )

    def close(self) -> None:
        """Close the connections."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._writer.close()
        if self._reader is not self._writer:
            self._reader.close()

    # -- tasks -----------------------------------------------------------------------------
    def _exact_count(self) -> int:
        return int(str(self._reader.query("SELECT count(*) FROM tasks")[0][0]))

    @property
    def approximate_count(self) -> int:
        """Rows stored, as counted at start plus rows inserted since, minus rows pruned."""
        return self._count

    def rows(self, uuids: Sequence[str]) -> dict[str, TaskRow]:
        """The stored rows of these task ids (missing ids are left out)."""
        found: dict[str, TaskRow] = {}
        for start in range(0, len(uuids), 500):
            chunk = uuids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for values in self._writer.query(
                f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE uuid IN ({marks})", chunk
            ):
                row = dict(zip(COLUMNS, values, strict=True))
                found[str(row["uuid"])] = row
        return found

    def upsert(self, rows: Iterable[TaskRow], *, new: int = 0) -> None:
        """Write whole rows (insert or replace by id); ``new`` of them were not stored before."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "uuid")
        marks = ", ".join("?" for _ in COLUMNS)
        self._writer.execute_many(
            f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks}) "
            f"ON CONFLICT (uuid) DO UPDATE SET {updates}",
            ([row.get(c) for c in COLUMNS] for row in rows),
        )
        self._count += new

    def prune(self, now: float | None = None) -> int:
        """Delete rows over ``max_tasks`` (oldest first) and older than ``max_age``."""
        deleted = 0
        if self.max_age is not None:
            cutoff = (time.time() if now is None else now) - self.max_age
            before = self._count
            self._writer.execute("DELETE FROM tasks WHERE timestamp < ?", (cutoff,))
            self._count = self._exact_count()
            deleted += max(0, before - self._count)
        excess = self._count - self.max_tasks
        if excess > 0:
            self._writer.execute(
                "DELETE FROM tasks WHERE uuid IN "
                "(SELECT uuid FROM tasks ORDER BY timestamp ASC LIMIT ?)",
                (excess,),
            )
            self._count -= excess
            deleted += excess
        return deleted

    def query(self, query: TaskQuery) -> tuple[list[TaskRow], int]:
        """One page of rows and the number of matches (capped at :data:`COUNT_CAP`; with a
        search, the rows up to this page plus one when there is more)."""
        where, params = query.where()
        page, page_params = query.page()
        rows = [
            dict(zip(COLUMNS, values, strict=True))
            for values in self._reader.query(
                f"SELECT {', '.join(COLUMNS)} FROM tasks{where}{query.order()}{page}",
                [*params, *page_params],
            )
        ]
        if not where:
            return rows, self._count
        if query.search:
            # A substring search reads rows, newest first, until the page is full; counting
            # every match would read them all. The total says whether a next page exists.
            more = len(rows) == query.limit and bool(
                self._reader.query(
                    f"SELECT 1 FROM tasks{where}{query.order()} LIMIT 1 OFFSET ?",
                    [*params, query.offset + query.limit],
                )
            )
            return rows, query.offset + len(rows) + (1 if more else 0)
        total = self._reader.query(
            f"SELECT count(*) FROM (SELECT 1 FROM tasks{where} LIMIT {COUNT_CAP + 1}) AS m",
            params,
        )
        return rows, int(str(total[0][0]))

    def task(self, uuid: str) -> TaskRow | None:
        """The row of one task, or None."""
        values = self._reader.query(
            f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE uuid = ?", (uuid,)
        )
        return dict(zip(COLUMNS, values[0], strict=True)) if values else None

    def related(self, root_id: str, limit: int = 500) -> list[TaskRow]:
        """The tasks of one workflow: the root and everything with that ``root_id``."""
        return [
            dict(zip(COLUMNS, values, strict=True))
            for values in self._reader.query(
                f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE root_id = ? OR uuid = ? "
                "ORDER BY received ASC LIMIT ?",
                (root_id, root_id, limit),
            )
        ]

    def children(self, uuid: str, limit: int = 200) -> list[TaskRow]:
        """The tasks whose ``parent_id`` is ``uuid``."""
        return [
            dict(zip(COLUMNS, values, strict=True))
            for values in self._reader.query(
                f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE parent_id = ? LIMIT ?",
                (uuid, limit),
            )
        ]

    def in_groups(self, group_ids: Sequence[str], limit: int = 500) -> list[TaskRow]:
        """The tasks that belong to these groups (a chord's header, a group's members)."""
        if not group_ids:
            return []
        marks = ", ".join("?" for _ in group_ids)
        return [
            dict(zip(COLUMNS, values, strict=True))
            for values in self._reader.query(
                f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE group_id IN ({marks}) LIMIT ?",
                [*group_ids, limit],
            )
        ]

    def distinct(self, column: str, limit: int = 200) -> list[str]:
        """Values seen in ``name``, ``hostname``, ``queue`` or ``state`` (for filter menus)."""
        if column not in ("name", "hostname", "queue", "state"):
            raise ValueError(f"no distinct values for {column!r}")
        return [
            str(v[0])
            for v in self._reader.query(
                f"SELECT DISTINCT {column} FROM tasks WHERE {column} IS NOT NULL "
                f"ORDER BY {column} LIMIT ?",
                (limit,),
            )
        ]

    def finished_since(self, since: float, until: float) -> list[tuple[str, str, float, float]]:
        """``(name, state, timestamp, runtime)`` of tasks that finished in the window."""
        return [
            (str(n), str(s), float(str(t)), float(str(r)) if r is not None else 0.0)
            for n, s, t, r in self._reader.query(
                "SELECT name, state, timestamp, runtime FROM tasks WHERE timestamp >= ? "
                "AND timestamp <= ? AND state IN ('SUCCESS', 'FAILURE') LIMIT 200000",
                (since, until),
            )
        ]

    # -- queues and workers ----------------------------------------------------------------
    def add_queue_samples(self, at: float, lengths: Mapping[str, int]) -> None:
        """Record each queue's length at ``at``; samples older than a week are dropped."""
        self._writer.execute_many(
            "INSERT INTO queue_samples (at, queue, length) VALUES (?, ?, ?)",
            [(at, q, n) for q, n in lengths.items()],
        )
        self._writer.execute("DELETE FROM queue_samples WHERE at < ?", (at - 7 * 86400,))

    def queue_samples(self, since: float) -> list[tuple[float, str, int]]:
        """``(at, queue, length)`` samples since ``since``, oldest first."""
        return [
            (float(str(a)), str(q), int(str(n)))
            for a, q, n in self._reader.query(
                "SELECT at, queue, length FROM queue_samples WHERE at >= ? ORDER BY at",
                (since,),
            )
        ]

    def save_workers(self, workers: Mapping[str, Mapping[str, object]]) -> None:
        """Keep the last known state of each worker (shown after a restart)."""
        self._writer.execute_many(
            "INSERT INTO workers (hostname, seen, info) VALUES (?, ?, ?) "
            "ON CONFLICT (hostname) DO UPDATE SET seen = excluded.seen, info = excluded.info",
            [(h, time.time(), json.dumps(info, default=repr)) for h, info in workers.items()],
        )

    def load_workers(self) -> dict[str, dict[str, object]]:
        """The workers saved by :meth:`save_workers`."""
        return {
            str(h): json.loads(str(info))
            for h, info in self._reader.query("SELECT hostname, info FROM workers")
        }
