"""From events to the store: worker events update the registry at once; task events are
merged into rows and written in batches.

:meth:`Ingestor.feed` is cheap and synchronous (the event source calls it for every
event). Every ``interval`` the ingest loop merges what accumulated into rows (recent rows
are kept in memory, others read back from the store), counts the metrics and tells the
live pages which rows changed; a writer task of its own then writes the merged rows in
one transaction from a thread. A slow write (a big history file on a busy machine) thus
never holds a new task back from the live pages, and the API finds a row merged but not
written yet (:meth:`Ingestor.unwritten`). :meth:`Ingestor.flush` does both steps at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from celeriac.dashboard.hub import Hub
from celeriac.dashboard.metrics import Metrics
from celeriac.dashboard.records import TaskRow, apply_event, event_state, new_row
from celeriac.dashboard.store import TaskStore
from celeriac.dashboard.workers import WorkerRegistry
from celeriac.utils.log import own_logger

__all__ = ["LIVE_FIELDS", "Ingestor", "live_row"]

logger = own_logger(__name__)

#: The fields a live table row needs (sent to the browsers for each changed task).
LIVE_FIELDS = ("uuid", "name", "state", "hostname", "queue", "args", "kwargs", "received",
               "started", "timestamp", "runtime", "retries", "root_id", "parent_id")  # fmt: skip


def live_row(row: Mapping[str, object]) -> dict[str, object]:
    """The part of a row the live table shows (args/kwargs cut to 200 characters)."""
    data = {k: row.get(k) for k in LIVE_FIELDS}
    for key in ("args", "kwargs"):
        value = data.get(key)
        if isinstance(value, str) and len(value) > 200:
            data[key] = value[:200] + "…"
    return data


def _copy(row: TaskRow | None) -> TaskRow | None:
    return dict(row) if row is not None else None


class Ingestor:
    """Events in, batched rows out (see the module docstring)."""

    def __init__(
        self,
        store: TaskStore,
        workers: WorkerRegistry,
        metrics: Metrics,
        hub: Hub,
        *,
        cache_size: int = 20_000,
        interval: float = 0.1,
    ) -> None:
        self.store = store
        self.workers = workers
        self.metrics = metrics
        self.hub = hub
        self.interval = interval
        self.events_seen = 0
        self._pending: list[Mapping[str, object]] = []
        self._cache: OrderedDict[str, TaskRow] = OrderedDict()
        self._cache_size = cache_size
        self._last_prune = 0.0
        #: Seconds the last batch took to write, its size, and how long its oldest event
        #: waited between arriving and being written (``/healthz`` shows them).
        self.last_flush_seconds = 0.0
        self.last_flush_events = 0
        self.last_lag_seconds = 0.0
        #: Seconds the oldest event of the last merged batch waited until the live pages
        #: were told (what "a new task is visible" measures).
        self.last_publish_lag_seconds = 0.0
        #: Copies of rows merged but not written yet (the newest wins), and those being
        #: written now; with the events they came from (their oldest arrival time).
        self._unwritten: dict[str, TaskRow] = {}
        self._unwritten_new = 0
        self._unwritten_since: float | None = None
        self._writing: dict[str, TaskRow] = {}
        self._write_lock = threading.Lock()
        self._dirty: asyncio.Event | None = None
        #: Held while a batch is written, so a caller of :meth:`write` returns only once
        #: everything merged before it is in the store (the loop's writer may be mid-batch).
        self._writer_busy: asyncio.Lock | None = None

    def feed(self, event: Mapping[str, object]) -> None:
        """Take one event (a dict with Celery's fields); unknown types are ignored."""
        self.events_seen += 1
        kind = event.get("type")
        if not isinstance(kind, str):
            return
        if kind.startswith("worker-"):
            worker = self.workers.on_worker_event(event)
            if worker is not None:
                self.hub.publish({"type": "worker", "worker": worker.as_dict()})
        elif event_state(kind) is not None and isinstance(event.get("uuid"), str):
            self._pending.append(event)

    def feed_many(self, events: Iterable[Mapping[str, object]]) -> None:
        """:meth:`feed` each event."""
        for event in events:
            self.feed(event)

    @property
    def pending(self) -> int:
        """Task events waiting for the next flush."""
        return len(self._pending)

    def _merge(self, events: list[Mapping[str, object]]) -> tuple[dict[str, TaskRow], int]:
        """Merge events into rows (runs in a thread: it may read the store)."""
        uuids = list(dict.fromkeys(str(e["uuid"]) for e in events))
        # A first delivery (task-sent, or task-received with no retries) names a task not
        # stored yet: skip the read. If it was stored after all (a re-run with the same
        # id), the merged row replaces it.
        first = {
            str(e["uuid"])
            for e in events
            if e.get("type") == "task-sent"
            or (e.get("type") == "task-received" and not e.get("retries"))
        }
        unwritten, writing = self._unwritten, self._writing
        missing = [
            u
            for u in uuids
            if u not in self._cache and u not in first and u not in unwritten and u not in writing
        ]
        stored = self.store.rows(missing) if missing else {}
        changed: dict[str, TaskRow] = {}
        new = 0
        for event in events:
            uuid = str(event["uuid"])
            row = (
                self._cache.get(uuid)
                or _copy(unwritten.get(uuid) or writing.get(uuid))
                or stored.get(uuid)
            )
            if row is None:
                row = new_row(uuid)
                new += 1
            self._cache[uuid] = row
            self._cache.move_to_end(uuid)
            apply_event(row, event)
            changed[uuid] = row
            self._count(event, row)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        # Copies for the writer: the cached rows change again with the next batch.
        return {uuid: dict(row) for uuid, row in changed.items()}, new

    def _write(self, rows: dict[str, TaskRow], new: int) -> None:
        """Write merged rows in one transaction, and prune now and then (in a thread)."""
        with self._write_lock:
            self.store.upsert(rows.values(), new=new)
            now = time.time()
            if now - self._last_prune > 5.0:
                self._last_prune = now
                self.store.prune(now)

    def unwritten(self, uuid: str) -> TaskRow | None:
        """A copy of the row of ``uuid`` if it was merged and is not in the store yet."""
        row = self._unwritten.get(uuid) or self._writing.get(uuid)
        return dict(row) if row is not None else None

    def _count(self, event: Mapping[str, object], row: TaskRow) -> None:
        kind = str(event["type"]).removeprefix("task-")
        hostname = str(event.get("hostname") or row.get("hostname") or "unknown")
        if kind != "sent":
            self.workers.count_task(hostname, kind)
        runtime = event.get("runtime")
        self.metrics.task_event(
            kind,
            str(row["name"]) if row.get("name") else None,
            hostname,
            str(row["queue"]) if row.get("queue") else None,
            float(runtime) if isinstance(runtime, int | float) else None,
        )

    async def merge(self) -> int:
        """Merge what accumulated into rows and tell the live pages; return how many rows
        changed (the writer writes them: :meth:`write`)."""
        if not self._pending:
            return 0
        events, self._pending = self._pending, []
        changed, new = await asyncio.to_thread(self._merge, events)
        arrived = events[0].get("local_received")
        if isinstance(arrived, float):
            self.last_publish_lag_seconds = time.time() - arrived
            if self._unwritten_since is None:
                self._unwritten_since = arrived
        self._unwritten.update(changed)
        self._unwritten_new += new
        self.last_flush_events = len(events)
        if self.hub.subscribers:
            rows = [live_row(r) for r in changed.values()]
            for start in range(0, len(rows), 200):
                self.hub.publish({"type": "tasks", "tasks": rows[start : start + 200]})
        if self._dirty is not None:
            self._dirty.set()
        return len(changed)

    async def write(self) -> None:
        """Write every merged row not written yet (one transaction, from a thread); a
        batch the background writer has in hand is waited for, not skipped."""
        if self._writer_busy is None:
            self._writer_busy = asyncio.Lock()
        async with self._writer_busy:
            await self._write_unwritten()

    async def _write_unwritten(self) -> None:
        if not self._unwritten:
            return
        rows, new, since = self._unwritten, self._unwritten_new, self._unwritten_since
        self._writing, self._unwritten, self._unwritten_new = rows, {}, 0
        self._unwritten_since = None
        started = time.time()
        try:
            await asyncio.to_thread(self._write, rows, new)
        finally:
            if self._writing is rows:
                self._writing = {}
        done = time.time()
        self.last_flush_seconds = done - started
        self.last_lag_seconds = done - since if since is not None else 0.0

    async def flush(self) -> int:
        """Merge and write what accumulated; return how many rows changed."""
        changed = await self.merge()
        await self.write()
        return changed

    async def _write_loop(self) -> None:
        dirty = self._dirty
        assert dirty is not None
        while True:
            await dirty.wait()
            dirty.clear()
            try:
                await self.write()
            except Exception:
                logger.exception("dashboard: writing a batch of task events failed")

    async def run(self) -> None:
        """Merge every ``interval`` seconds, and write in a task of its own, until
        cancelled (a failed batch is logged)."""
        self._dirty = asyncio.Event()
        writer = asyncio.create_task(self._write_loop(), name="dashboard-ingest-writer")
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    await self.merge()
                except Exception:
                    logger.exception("dashboard: merging a batch of task events failed")
        finally:
            writer.cancel()
            self._dirty = None
