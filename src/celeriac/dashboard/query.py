"""A task-table query (filters, search, sort, page) and the SQL it becomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from celeriac.dashboard.database import Params

__all__ = ["SORTABLE", "TaskQuery"]

#: Columns the task table can be sorted by; each has an index.
SORTABLE: Final = ("timestamp", "runtime", "name", "state", "hostname")

#: Without a time range, a search looks at this many of the newest tasks.
SEARCH_WINDOW: Final = 100_000

#: The largest page a query returns.
MAX_LIMIT: Final = 1000


@dataclass(slots=True)
class TaskQuery:
    """What the tasks table shows.

    Attributes:
        state, name, hostname, queue: exact matches (None: any); ``state`` may be a
            comma-separated list.
        since, until: bounds on the task's last update (epoch seconds).
        search: text looked for in args, kwargs, result, exception and id (a substring),
            among the newest :data:`SEARCH_WINDOW` tasks unless a time range is given.
        sort: a :data:`SORTABLE` column, ``-`` in front for descending (default
            ``-timestamp``, newest first).
        limit, offset: the page.
    """

    state: str | None = None
    name: str | None = None
    hostname: str | None = None
    queue: str | None = None
    since: float | None = None
    until: float | None = None
    search: str | None = None
    sort: str = "-timestamp"
    limit: int = 50
    offset: int = 0

    def where(self) -> tuple[str, list[object]]:
        """The WHERE clause (or "") and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.state:
            states = [s.strip().upper() for s in self.state.split(",") if s.strip()]
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        for column in ("name", "hostname", "queue"):
            value = getattr(self, column)
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("timestamp >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("timestamp <= ?")
            params.append(self.until)
        if self.search and self.since is None and self.until is None:
            # Without a time range a search looks at the newest SEARCH_WINDOW tasks: a
            # substring has no index, and reading a million rows takes seconds.
            clauses.append(
                "timestamp >= COALESCE((SELECT timestamp FROM tasks ORDER BY timestamp DESC "
                f"LIMIT 1 OFFSET {SEARCH_WINDOW - 1}), 0)"
            )
        if self.search:
            like = (
                "%"
                + self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            fields = ("args", "kwargs", "result", "exception", "uuid")
            clauses.append("(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields) + ")")
            params.extend([like] * len(fields))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def order(self) -> str:
        """The ORDER BY clause.

        Raises:
            ValueError: the sort column is not one of :data:`SORTABLE`.
        """
        column = self.sort.lstrip("-")
        if column not in SORTABLE:
            raise ValueError(f"cannot sort by {column!r}: use one of {', '.join(SORTABLE)}")
        direction = "DESC" if self.sort.startswith("-") else "ASC"
        if column == "timestamp":
            return f" ORDER BY timestamp {direction}"
        # The index is (column, timestamp): ordering by both reads it in order, while any
        # other tie-breaker would sort every tied row (a million equal runtimes) first.
        return f" ORDER BY {column} {direction}, timestamp {direction}"

    def page(self) -> tuple[str, Params]:
        """The LIMIT/OFFSET clause and its parameters.

        Raises:
            ValueError: a negative limit or offset.
        """
        if self.limit < 0 or self.offset < 0:
            raise ValueError("limit and offset must not be negative")
        return " LIMIT ? OFFSET ?", (min(self.limit, MAX_LIMIT), self.offset)
