"""The in-process result store (``memory://``, ``cache+memory://``) for tests and one process."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from celeriac import states
from celeriac.backends.base import Backend, BackendOptions, ChordBackend, ChordClaim, status_of
from celeriac.exceptions import TimeoutError

__all__ = ["MemoryBackend"]


@dataclass(slots=True)
class _Record:
    payload: bytes
    status: str | None
    expires_at: float | None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(slots=True)
class _Chord:
    """One chord's counters: size, extra parts, recorded parts, claim."""

    size: int | None = None
    extra: int = 0
    parts: dict[tuple[str, int | None], bytes] = field(default_factory=dict)
    claim: str | None = None


@dataclass(slots=True, eq=False, weakref_slot=True)
class _Store:
    """The records every ``memory://name`` backend of one process shares."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    results: dict[str, _Record] = field(default_factory=dict)
    groups: dict[str, _Record] = field(default_factory=dict)
    chords: dict[str, _Chord] = field(default_factory=dict)
    changed: threading.Condition = field(init=False)
    #: awaiting coroutines, woken from any thread when a record is stored.
    waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(
        default_factory=set
    )

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class MemoryBackend(ChordBackend, Backend):
    """Results kept in this process's memory, shared by every backend with the same URL.

    Metas are stored encoded with the result serializer, so a result that could not
    travel through a real backend fails here too. Waiting is event-driven: a store
    wakes :meth:`wait_for` and :meth:`await_for` at once, with no polling.
    """

    schemes = ("memory", "cache+memory")
    crosses_processes = False

    _stores: ClassVar[weakref.WeakValueDictionary[str, _Store]] = weakref.WeakValueDictionary()
    _stores_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str = "memory://", options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        parts = urlsplit(url)
        self.name = parts.netloc + parts.path
        with self._stores_lock:
            store = self._stores.get(self.name)
            if store is None:
                store = self._stores[self.name] = _Store()
        self._store = store

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r}>"

    def _expires_at(self, now: float, status: str | None = None) -> float | None:
        expires = self.options.expires_for(status)
        return now + expires if expires else None

    # -- storage -----------------------------------------------------------------------
    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Store several metas at once; a stored ``SUCCESS`` is never overwritten."""
        now = time.time()
        encoded = [(task_id, self.encode(meta), status_of(meta)) for task_id, meta in items]
        store = self._store
        with store.lock:
            for task_id, payload, status in encoded:
                old = store.results.get(task_id)
                if old is not None and old.status == states.SUCCESS and not old.expired(now):
                    continue
                store.results[task_id] = _Record(payload, status, self._expires_at(now, status))
            store.changed.notify_all()
            waiters = list(store.waiters)
            store.waiters.clear()
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed
                pass

    def _record(self, task_id: str) -> _Record | None:
        """The live record of a task (caller holds the lock); drops an expired one."""
        record = self._store.results.get(task_id)
        if record is not None and record.expired(time.time()):
            del self._store.results[task_id]
            return None
        return record

    def get(self, task_id: str) -> dict[str, Any] | None:
        """Read a task's meta; ``None`` when nothing is stored or it expired."""
        with self._store.lock:
            record = self._record(task_id)
        return None if record is None else self.decode(record.payload)

    def forget(self, task_id: str) -> None:
        """Delete a task's meta."""
        with self._store.lock:
            self._store.results.pop(task_id, None)

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
        """Store a group's meta."""
        record = _Record(self.encode(meta), None, self._expires_at(time.time()))
        with self._store.lock:
            self._store.groups[group_id] = record

    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """Read a group's meta; ``None`` when not saved or expired."""
        with self._store.lock:
            record = self._store.groups.get(group_id)
            if record is not None and record.expired(time.time()):
                del self._store.groups[group_id]
                record = None
        return None if record is None else self.decode(record.payload)

    def forget_group(self, group_id: str) -> None:
        """Delete a group's meta."""
        with self._store.lock:
            self._store.groups.pop(group_id, None)

    def cleanup(self) -> int:
        """Delete expired records; return how many."""
        now = time.time()
        removed = 0
        with self._store.lock:
            for table in (self._store.results, self._store.groups):
                for key in [key for key, record in table.items() if record.expired(now)]:
                    del table[key]
                    removed += 1
        return removed

    # -- waiting -----------------------------------------------------------------------
    def _ready(self, task_id: str) -> dict[str, Any] | None:
        """The task's meta if it is in a ready state (caller holds the lock)."""
        record = self._record(task_id)
        if record is None or record.status not in states.READY_STATES:
            return None
        return self.decode(record.payload)

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Block until the task is ready; return its meta (woken by the store, no polling).

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        store = self._store
        with store.changed:
            while True:
                meta = self._ready(task_id)
                if meta is not None:
                    return meta
                if deadline is None:
                    # Wake now and then anyway, so an expiry is noticed.
                    store.changed.wait(max(interval, 0.001))
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"The operation timed out waiting for task {task_id}")
                store.changed.wait(remaining)

    async def await_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Async twin of :meth:`wait_for`."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        store = self._store
        while True:
            future: asyncio.Future[None] = loop.create_future()
            with store.lock:
                meta = self._ready(task_id)
                if meta is None:
                    store.waiters.add((loop, future))
            if meta is not None:
                return meta
            pause = max(interval, 0.001)
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    with store.lock:
                        store.waiters.discard((loop, future))
                    raise TimeoutError(f"The operation timed out waiting for task {task_id}")
                pause = min(pause, remaining)
            handle = loop.call_later(pause, _wake, future)
            try:
                await future
            finally:
                handle.cancel()
                with store.lock:
                    store.waiters.discard((loop, future))

    # -- chords (in-process counters under the store's lock) ----------------------------
    def set_chord_size(self, group_id: str, size: int) -> None:
        """Register a chord's header size (a new run of a reused group id starts over)."""
        with self._store.lock:
            chord = self._store.chords.get(group_id)
            if chord is None or chord.claim is not None:
                self._store.chords[group_id] = _Chord(size=size)
            else:  # parts of a header still being sent may be in already
                chord.size = size

    def chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        """Record a part; the call that completes the chord gets the claim (once)."""
        with self._store.lock:
            chord = self._store.chords.setdefault(group_id, _Chord())
            if chord.claim is not None:
                return None
            chord.parts.setdefault((task_id, group_index), part)
            if chord.size is None or len(chord.parts) != chord.size + chord.extra:
                return None
            chord.claim = uuid.uuid4().hex
            ordered = sorted(
                chord.parts.items(),
                key=lambda item: (item[0][1] is None, item[0][1] or 0, item[1]),
            )
            return ChordClaim(chord.claim, [payload for _, payload in ordered])

    def chord_cleanup(self, group_id: str, token: str) -> None:
        """Drop the parts; the chord stays marked done so late duplicates are ignored."""
        with self._store.lock:
            chord = self._store.chords.get(group_id)
            if chord is not None and chord.claim == token:
                chord.parts.clear()

    def add_to_chord(self, group_id: str, count: int = 1) -> None:
        """Wait for ``count`` more parts."""
        with self._store.lock:
            self._store.chords.setdefault(group_id, _Chord()).extra += count
