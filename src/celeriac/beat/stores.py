"""Where beat keeps each entry's last run: the schedule file (SQLite) and the broker's lock state.

An entry's state is one JSON value: ``last_run_at`` (ISO, UTC), ``total_run_count`` and
``pending``, the id of a task recorded as sent but not yet confirmed published. Beat writes
the state *before* publishing (so a crash never sends a run twice) and clears ``pending``
after: a ``pending`` id found at start-up means beat died while sending that run, and is
logged, never resent.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from celeriac.exceptions import ImproperlyConfigured, OperationalError
from celeriac.utils.log import own_logger
from celeriac.utils.sqlite import SQLiteDatabase

if TYPE_CHECKING:
    from celeriac.beat.lock import LeaderLock

__all__ = ["BrokerStore", "EntryState", "FileStore", "MemoryStore", "Store", "merge_states"]

logger = own_logger(__name__)


@dataclass(slots=True)
class EntryState:
    """What is remembered about one schedule entry."""

    last_run_at: datetime | None = None
    total_run_count: int = 0
    pending: str | None = None

    def dumps(self) -> str:
        """The JSON text stored."""
        last = self.last_run_at.astimezone(UTC).isoformat() if self.last_run_at else None
        return json.dumps(
            {"last_run_at": last, "total_run_count": self.total_run_count, "pending": self.pending}
        )

    @classmethod
    def loads(cls, text: str) -> EntryState:
        """Parse stored JSON (unreadable values give an empty state)."""
        try:
            data = json.loads(text)
            last = data.get("last_run_at")
            return cls(
                datetime.fromisoformat(last) if last else None,
                int(data.get("total_run_count") or 0),
                data.get("pending"),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


def merge_states(loaded: Iterable[Mapping[str, EntryState]]) -> dict[str, EntryState]:
    """Per entry, the state with the latest ``last_run_at`` among several stores."""
    merged: dict[str, EntryState] = {}
    floor = datetime.min.replace(tzinfo=UTC)
    for states in loaded:
        for name, state in states.items():
            old = merged.get(name)
            if old is None or (state.last_run_at or floor) > (old.last_run_at or floor):
                merged[name] = state
    return merged


class Store(abc.ABC):
    """A place entry states are loaded from and saved to."""

    @abc.abstractmethod
    def load(self) -> dict[str, EntryState]:
        """Every stored state, by entry name."""

    @abc.abstractmethod
    def save(self, states: Mapping[str, EntryState]) -> bool:
        """Store states atomically; False when this beat may no longer write (lost the lock)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the store holds."""


class MemoryStore(Store):
    """States kept in this process only (tests; nothing survives a restart)."""

    def __init__(self) -> None:
        self.states: dict[str, EntryState] = {}

    def load(self) -> dict[str, EntryState]:
        """A copy of the states."""
        return dict(self.states)

    def save(self, states: Mapping[str, EntryState]) -> bool:
        """Keep the states."""
        self.states.update(states)
        return True


_FILE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS celeriac_beat_state (name TEXT PRIMARY KEY, state TEXT NOT NULL)",
)


class FileStore(Store):
    """The schedule file (``-s``, ``beat_schedule_filename``): a small SQLite database.

    Celery's file of the same name is a ``shelve``; celeriac refuses to open one (it cannot
    read it) and says so, instead of overwriting it.
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self._db = SQLiteDatabase(self.path, error=OperationalError, schema=_FILE_SCHEMA)

    def _check(self, exc: OperationalError) -> ImproperlyConfigured:
        return ImproperlyConfigured(
            f"beat schedule file {self.path!r} is not a celeriac schedule file ({exc}); "
            "it may be Celery's shelve file: remove it or pass another file with -s"
        )

    def load(self) -> dict[str, EntryState]:
        """Every state in the file."""
        try:
            with self._db.connection() as conn:
                rows = conn.execute("SELECT name, state FROM celeriac_beat_state").fetchall()
        except OperationalError as exc:
            raise self._check(exc) from exc
        return {str(name): EntryState.loads(str(state)) for name, state in rows}

    def save(self, states: Mapping[str, EntryState]) -> bool:
        """Write states in one transaction."""
        if not states:
            return True
        rows = [(name, state.dumps()) for name, state in states.items()]
        try:
            with self._db.write() as conn:
                conn.executemany(
                    "INSERT INTO celeriac_beat_state (name, state) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET state = excluded.state",
                    rows,
                )
        except OperationalError as exc:
            if "not a database" in str(exc):
                raise self._check(exc) from exc
            raise
        return True

    def close(self) -> None:
        """Close the file."""
        self._db.close()


class BrokerStore(Store):
    """States kept beside the leader lock in the broker, written only while holding it.

    Every beat of a deployment reads them when it becomes the leader, so a new leader
    knows what the previous one ran (no double run on failover).
    """

    def __init__(self, lock: LeaderLock) -> None:
        self.lock = lock

    def load(self) -> dict[str, EntryState]:
        """The states written by this lock's holders."""
        raw = self.lock.store.read_lock_state(self.lock.name)
        return {name: EntryState.loads(text) for name, text in raw.items()}

    def save(self, states: Mapping[str, EntryState]) -> bool:
        """Write states if this beat still holds the lock (renewing it)."""
        items = {name: state.dumps() for name, state in states.items()}
        ok = self.lock.store.write_lock_state(self.lock.name, self.lock.owner, self.lock.ttl, items)
        if ok:
            self.lock.renewed()
        else:
            self.lock.lost()
        return ok
