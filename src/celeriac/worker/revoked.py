"""Revoked task ids: a bounded, expiring set, shared with prefork children and kept in statedb.

* :class:`RevokedSet` is Celery's ``LimitedSet`` for revokes: at most ``maxlen`` ids
  (50 000), each forgotten ``expires`` seconds (10 800) after it was revoked.
* Under prefork the parent owns remote control. It creates the set with a
  :class:`RevokeRing` before forking: an anonymous shared mapping the parent appends
  revoked ids to *before* it replies to ``revoke``, and that each child reads (new
  entries only, one memory read when nothing changed) whenever it checks an id. A
  child forked later inherits the parent's whole set with its memory. So once a client
  has the reply, no child of that worker starts the task; no pipe, socket or extra
  broker connection per child.
* :class:`StateDB` persists the set in a small SQLite file (``--statedb`` /
  ``worker_state_db``) and restores it at start. It is not Celery's shelve format.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import sqlite3
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["REVOKE_EXPIRES", "REVOKES_MAX", "RevokeRing", "RevokedSet", "StateDB"]

#: Celery's ``REVOKES_MAX`` and ``REVOKE_EXPIRES``.
REVOKES_MAX = 50_000
REVOKE_EXPIRES = 10_800.0

_ENTRY = 256
_COUNTER = struct.Struct("<Q")
_HEAD = struct.Struct("<HB")  # length, kind

#: ring entry kinds: a revoked id, or a setting change (JSON ``[method, arguments]``)
REVOKE, COMMAND = 0, 1


class RevokeRing:
    """A single-writer ring of recent revokes in memory shared across ``fork``.

    Besides revoked ids it carries the few settings remote control changes at run time
    (``time_limit``, ``rate_limit``), which a prefork child applies the same way.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._map = mmap.mmap(-1, _COUNTER.size + size * _ENTRY)

    @property
    def written(self) -> int:
        """How many entries were ever appended."""
        return int(_COUNTER.unpack_from(self._map, 0)[0])

    def append(self, text: str, kind: int = REVOKE) -> None:
        """Writer side (the parent): store an entry, then publish it by bumping the counter."""
        data = text.encode()
        if len(data) > _ENTRY - _HEAD.size:
            raise ValueError(f"ring entry too long ({len(data)} bytes)")
        count = self.written
        offset = _COUNTER.size + (count % self.size) * _ENTRY
        _HEAD.pack_into(self._map, offset, len(data), kind)
        start = offset + _HEAD.size
        self._map[start : start + len(data)] = data
        _COUNTER.pack_into(self._map, 0, count + 1)

    def read(self, start: int) -> tuple[list[tuple[int, str]], int]:
        """Reader side: ``(kind, text)`` entries appended since ``start``, and the new position."""
        end = self.written
        first = max(start, end - self.size)
        entries = []
        for index in range(first, end):
            offset = _COUNTER.size + (index % self.size) * _ENTRY
            length, kind = _HEAD.unpack_from(self._map, offset)
            begin = offset + _HEAD.size
            # A wrapping writer can overwrite the oldest entry while it is read: never
            # raise for that (the entry is simply lost, like any older than the ring).
            entries.append((kind, self._map[begin : begin + length].decode(errors="replace")))
        return entries, end


#: the ring command carrying ``revoke_by_stamped_headers``' headers to prefork children
_STAMPS = "revoke_stamps"


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


class RevokedSet:
    """Revoked task ids, bounded and expiring (Celery's ``LimitedSet``), thread-safe."""

    def __init__(
        self,
        maxlen: int = REVOKES_MAX,
        expires: float = REVOKE_EXPIRES,
        ring: RevokeRing | None = None,
    ) -> None:
        self.maxlen = maxlen
        self.expires = expires
        self.ring = ring
        self._ids: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._position = ring.written if ring is not None else 0
        #: a prefork child's handler for setting changes relayed by the parent
        self.on_command: Callable[[str, dict[str, Any]], None] | None = None
        #: stamped headers revoked by ``revoke_by_stamped_headers``: header -> values
        #: (Celery's ``worker_state.revoked_stamps``); a task stamped with one is revoked
        self.stamps: dict[str, list[Any]] = {}

    def add(self, task_ids: Iterable[str], when: float | None = None) -> list[str]:
        """Revoke ids (also into the shared ring); return the ids added. One id (a
        string) is one id, as in Celery's ``revoked.add(task_id)``."""
        if isinstance(task_ids, str):
            task_ids = [task_ids]
        now = time.time() if when is None else when
        added = []
        with self._lock:
            for task_id in task_ids:
                task_id = str(task_id)
                self._ids.pop(task_id, None)
                self._ids[task_id] = now
                added.append(task_id)
                if self.ring is not None:
                    self.ring.append(task_id)
            if self.ring is not None:
                self._position = self.ring.written
            self._purge(now)
        return added

    def _purge(self, now: float) -> None:
        while self._ids:
            stamp = next(iter(self._ids.values()))
            if len(self._ids) > self.maxlen or stamp + self.expires <= now:
                self._ids.popitem(last=False)
            else:
                break

    def _sync(self) -> None:
        """A prefork child: take in the ids the parent appended since we last looked."""
        ring = self.ring
        if ring is None or ring.written == self._position:
            return
        commands = []
        with self._lock:
            entries, self._position = ring.read(self._position)
            now = time.time()
            for kind, text in entries:
                if kind == COMMAND:
                    commands.append(text)
                    continue
                self._ids.pop(text, None)
                self._ids[text] = now
        for text in commands:
            try:
                method, arguments = json.loads(text)
            except ValueError:
                continue
            if method == _STAMPS:
                self._merge_stamps(arguments)
            elif self.on_command is not None:
                self.on_command(method, arguments)

    def relay(self, method: str, arguments: dict[str, Any]) -> bool:
        """The parent: pass a setting change to the children; False without a ring."""
        if self.ring is None:
            return False
        with self._lock:
            self.ring.append(json.dumps([method, arguments]), COMMAND)
            self._position = self.ring.written
        return True

    def add_stamps(self, headers: dict[str, Any]) -> None:
        """Revoke every task stamped with one of ``headers``' values (now and later), as
        Celery's ``revoke_by_stamped_headers``; a prefork parent relays it to its children."""
        self._merge_stamps(headers)
        self.relay(_STAMPS, headers)

    def _merge_stamps(self, headers: dict[str, Any]) -> None:
        for header, values in headers.items():
            self.stamps[header] = [*_listed(self.stamps.get(header)), *_listed(values)]

    def stamped(self, stamps: dict[str, Any] | None) -> bool:
        """Whether a task with these stamps was revoked by its stamped headers."""
        self._sync()
        if not self.stamps or not stamps:
            return False
        for header, revoked in list(self.stamps.items()):
            if header not in stamps:
                continue
            value = stamps[header]
            wanted = _listed(revoked)
            if any(item in wanted for item in _listed(value)) or value == revoked:
                return True
        return False

    def revoked(self, task_id: str, stamps: dict[str, Any] | None = None) -> bool:
        """Whether a task must not run: its id, or one of its stamps, was revoked."""
        return task_id in self or self.stamped(stamps)

    # -- Celery's LimitedSet API (``celery.worker.state.revoked``) ------------------------
    def discard(self, task_id: str) -> None:
        """Forget a revoked id."""
        with self._lock:
            self._ids.pop(str(task_id), None)

    def update(self, task_ids: Iterable[str]) -> None:
        """Revoke several ids."""
        self.add(task_ids)

    def clear(self) -> None:
        """Forget every revoked id and stamp."""
        with self._lock:
            self._ids.clear()
        self.stamps.clear()

    def as_dict(self) -> dict[str, float]:
        """``{task id: revoked at}`` of the ids in force, on the :func:`time.monotonic`
        clock as Celery's ``LimitedSet`` (kept here in epoch seconds, see :meth:`items`)."""
        offset = time.monotonic() - time.time()
        return {task_id: stamp + offset for task_id, stamp in self.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())

    def poll(self) -> None:
        """Take in what the parent relayed (a child does this before each task)."""
        self._sync()

    def __contains__(self, task_id: object) -> bool:
        self._sync()
        with self._lock:
            stamp = self._ids.get(str(task_id))
        return stamp is not None and stamp + self.expires > time.time()

    def __len__(self) -> int:
        self._sync()
        return len(self._ids)

    def items(self) -> list[tuple[str, float]]:
        """``(task id, revoked at)`` pairs still in force, oldest first."""
        self._sync()
        with self._lock:
            self._purge(time.time())
            return list(self._ids.items())

    def ids(self) -> list[str]:
        """The revoked ids still in force, oldest first."""
        return [task_id for task_id, _ in self.items()]


class StateDB:
    """Revoked ids persisted in a SQLite file (``--statedb``), restored at start."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS revoked (task_id TEXT PRIMARY KEY, revoked_at REAL)"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def load(self, into: RevokedSet) -> int:
        """Restore the ids still in force into ``into`` (dropping expired ones); return count."""
        cutoff = time.time() - into.expires
        with self._lock, self._connect() as conn:
            conn.execute("DELETE FROM revoked WHERE revoked_at <= ?", (cutoff,))
            rows = conn.execute(
                "SELECT task_id, revoked_at FROM revoked ORDER BY revoked_at"
            ).fetchall()
        for task_id, revoked_at in rows[-into.maxlen :]:
            into.add([str(task_id)], when=float(revoked_at))
        return len(rows)

    def add(self, task_ids: Iterable[str], when: float | None = None) -> None:
        """Persist newly revoked ids."""
        now = time.time() if when is None else when
        with self._lock, self._connect() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO revoked VALUES (?, ?)", [(i, now) for i in task_ids]
            )
