"""Beat entries kept in the broker, so any process can add, change or remove them at run time.

``SharedSchedule(app).add("poll", "proj.poll", 60.0)`` from a web process or a shell; the
leading beat reads the shared entries at start and every ``beat_max_loop_interval``
(``--max-interval``) and applies what changed. Entries are stored beside a lock of their
own (``celeriac.beat.entries``) in the same place as beat's leader lock (see
``beat/lock.py``): writers take that lock for the moment of a write.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from celeriac.beat.schedules import BaseSchedule, crontab, schedule
from celeriac.beat.solar import solar
from celeriac.exceptions import OperationalError
from celeriac.transports.contracts import LockStore, unsupported

__all__ = ["ENTRIES_LOCK", "SharedSchedule", "dump_schedule", "load_schedule"]

#: The lock (and state) name shared entries are stored under.
ENTRIES_LOCK = "celeriac.beat.entries"
_PREFIX = "entry:"
#: Seconds a writer holds the entries lock at most; attempts to take it.
_WRITE_TTL = 5.0
_ATTEMPTS = 100


def dump_schedule(value: float | timedelta | BaseSchedule, relative: bool = False) -> Any:
    """A schedule as JSON data (intervals, crontabs and solar schedules)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"every": float(value), "relative": relative}
    if isinstance(value, timedelta):
        return {"every": value.total_seconds(), "relative": relative}
    if isinstance(value, schedule):
        return {"every": value.seconds, "relative": value.relative or relative}
    if isinstance(value, crontab):
        return {"crontab": [_field(item) for item in value._orig]}
    if isinstance(value, solar):
        return {"solar": [value.event, value.lat, value.lon]}
    raise TypeError(f"cannot store {value!r} as a shared beat schedule")


def _field(value: Any) -> Any:
    return value if isinstance(value, int | str) else sorted(value)


def load_schedule(data: Mapping[str, Any]) -> BaseSchedule:
    """The schedule :func:`dump_schedule` stored."""
    if "every" in data:
        return schedule(float(data["every"]), bool(data.get("relative")))
    if "crontab" in data:
        return crontab(*data["crontab"])
    if "solar" in data:
        return solar(*data["solar"])
    raise ValueError(f"not a stored beat schedule: {data!r}")


class SharedSchedule:
    """Beat entries in the broker (needs a broker with a leader lock: Redis, SQLite, memory).

    Each entry is Celery's entry dict (``task``, ``schedule``, ``args``, ``kwargs``,
    ``options``); ``args``, ``kwargs`` and ``options`` must be JSON-serializable.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def transport(self) -> LockStore:
        """The app's broker connection, as the lock store the entries live in.

        Raises:
            NotImplementedError: the broker has no leader lock.
        """
        transport = self.app.transport
        if not isinstance(transport, LockStore):
            raise unsupported(transport, "LockStore")
        return transport

    def raw(self) -> dict[str, str]:
        """Entry name → stored JSON text (``"null"`` for a removed entry)."""
        stored = self.transport.read_lock_state(ENTRIES_LOCK)
        return {
            key[len(_PREFIX) :]: value for key, value in stored.items() if key.startswith(_PREFIX)
        }

    def entries(self) -> dict[str, dict[str, Any]]:
        """The shared entries, as beat_schedule-style dicts."""
        found = {}
        for name, text in self.raw().items():
            spec = json.loads(text)
            if spec is not None:
                spec["schedule"] = load_schedule(spec["schedule"])
                found[name] = spec
        return found

    def add(
        self,
        name: str,
        task: str,
        schedule: float | timedelta | BaseSchedule,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        relative: bool = False,
    ) -> None:
        """Add or replace an entry (a running beat picks it up within its max interval)."""
        spec = {
            "task": task,
            "schedule": dump_schedule(schedule, relative),
            "args": list(args),
            "kwargs": dict(kwargs or {}),
            "options": dict(options or {}),
        }
        self._write({_PREFIX + name: json.dumps(spec, sort_keys=True)})

    def update(self, name: str, **changes: Any) -> None:
        """Change fields of a shared entry (``task``, ``schedule``, ``args``, ``kwargs``,
        ``options``, ``relative``)."""
        current = self.entries().get(name)
        if current is None:
            raise KeyError(f"no shared beat entry named {name!r}")
        current.update(changes)
        self.add(name, **current)

    def remove(self, name: str) -> None:
        """Remove an entry (also one from ``beat_schedule``, for as long as beat runs)."""
        self._write({_PREFIX + name: "null"})

    def _write(self, items: Mapping[str, str]) -> None:
        owner = f"writer-{uuid.uuid4().hex}"
        for _ in range(_ATTEMPTS):
            if self.transport.acquire_lock(ENTRIES_LOCK, owner, _WRITE_TTL):
                try:
                    if self.transport.write_lock_state(ENTRIES_LOCK, owner, _WRITE_TTL, items):
                        return
                finally:
                    self.transport.release_lock(ENTRIES_LOCK, owner)
            time.sleep(0.05)
        raise OperationalError("could not write shared beat entries: the entries lock is busy")
