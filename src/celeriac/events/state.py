"""State: the cluster as events describe it (Celery's ``app.events.State``).

Feed it every event (``Receiver(handlers={"*": state.event})``): ``state.workers`` maps
node names to :class:`~celeriac.events.records.Worker`, ``state.tasks`` task ids to
:class:`~celeriac.events.records.Task`, both bounded (least recently updated first out).
Thread-safe: :meth:`State.event` takes a lock, so a receiver thread can feed a state a web
server reads.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Any, Generic, TypeVar

from celeriac import states
from celeriac.events.records import Task, Worker, heartbeat_expires
from celeriac.protocol.events import Event

__all__ = ["LRUCache", "State", "TaskIndex", "heartbeat_expires"]

K = TypeVar("K")
V = TypeVar("V")

#: What :meth:`State.event` returns: ``((worker or task, created), subject)``.
EventResult = tuple[tuple[Worker | Task | None, bool], str]


class LRUCache(OrderedDict[K, V], Generic[K, V]):
    """A dict that forgets its least recently written entries beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)

    def touch(self, key: K) -> None:
        """Mark ``key`` as recently written."""
        self.move_to_end(key)


class TaskIndex(dict[str, "weakref.WeakSet[Task]"]):
    """Tasks by name (or by worker): ``index[name]`` is a set; ``index(name)`` yields
    ``(uuid, task)`` newest first, like Celery's ``tasks_by_type``."""

    def __init__(self, ordered: Callable[..., Iterator[tuple[str, Task]]]) -> None:
        super().__init__()
        self._ordered = ordered

    def __missing__(self, key: str) -> weakref.WeakSet[Task]:
        value: weakref.WeakSet[Task] = weakref.WeakSet()
        self[key] = value
        return value

    def __call__(
        self, key: str, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, Task]]:
        return self._ordered(key, limit=limit, reverse=reverse)


class State:
    """Records the cluster's state from its events.

    Args:
        callback: called with ``(state, event)`` for every event.
        max_workers_in_memory: workers kept (least recently updated forgotten first).
        max_tasks_in_memory: tasks kept.
        on_node_join: called with a Worker that came online.
        on_node_leave: called with a Worker that sent ``worker-offline``.
    """

    heap_multiplier = 4

    def __init__(
        self,
        callback: Callable[[State, Event], object] | None = None,
        max_workers_in_memory: int = 5000,
        max_tasks_in_memory: int = 10000,
        on_node_join: Callable[[Worker], object] | None = None,
        on_node_leave: Callable[[Worker], object] | None = None,
    ) -> None:
        self.event_callback = callback
        self.max_workers_in_memory = max_workers_in_memory
        self.max_tasks_in_memory = max_tasks_in_memory
        self.workers: LRUCache[str, Worker] = LRUCache(max_workers_in_memory)
        self.tasks: LRUCache[str, Task] = LRUCache(max_tasks_in_memory)
        self.on_node_join = on_node_join
        self.on_node_leave = on_node_leave
        self.event_count = 0
        self.task_count = 0
        #: (timestamp, clock, uuid) of every task event, oldest first, bounded
        self._timeline: list[tuple[float, int, str]] = []
        self._seen_types: set[str] = set()
        self._children_waiting: dict[str, weakref.WeakSet[Task]] = {}
        self._mutex = threading.RLock()
        #: extra handlers by event group (``custom-thing`` → ``handlers["custom"]``)
        self.handlers: dict[str, Callable[[str, Event], Any]] = {}
        self.tasks_by_type = TaskIndex(self._tasks_by_type)
        self.tasks_by_worker = TaskIndex(self._tasks_by_worker)

    # -- feeding -------------------------------------------------------------------------
    def event(self, event: Event) -> EventResult | tuple[Any, str] | None:
        """Take in one event; return ``((object, created), subject)`` (Celery's shape)."""
        with self._mutex:
            return self._event(event)

    def _event(self, event: Event) -> EventResult | tuple[Any, str] | None:
        self.event_count += 1
        if self.event_callback is not None:
            self.event_callback(self, event)
        group, _, subject = str(event.get("type", "")).partition("-")
        handler = self.handlers.get(group)
        if handler is not None:
            return handler(subject, event), subject
        if group == "worker":
            return self._worker_event(subject, event)
        if group == "task":
            return self._task_event(subject, event)
        return None

    def _worker_event(self, subject: str, event: Event) -> EventResult | None:
        hostname = event.get("hostname")
        if not isinstance(hostname, str) or "timestamp" not in event:
            return None
        offline = subject == "offline"
        worker = self.workers.get(hostname)
        created = False
        if worker is None:
            worker = Worker(hostname)
            if not offline:
                self.workers[hostname] = worker
                created = True
        else:
            self.workers.touch(hostname)
        worker.event(subject, event.get("timestamp"), event.get("local_received"), event)
        if self.on_node_join is not None and (created or subject == "online"):
            self.on_node_join(worker)
        if offline:
            if self.on_node_leave is not None:
                self.on_node_leave(worker)
            self.workers.pop(hostname, None)
        return (worker, created), subject

    def _task_event(self, subject: str, event: Event) -> EventResult | None:
        uuid = event.get("uuid")
        if not isinstance(uuid, str):
            return None
        hostname = str(event.get("hostname", ""))
        timestamp = event.get("timestamp")
        local_received = event.get("local_received")
        task = self.tasks.get(uuid)
        created = task is None
        if task is None:
            task = self.tasks[uuid] = Task(uuid, cluster_state=self)
        else:
            self.tasks.touch(uuid)
        if subject == "sent":  # sent by the producer, not a worker
            task.client = hostname
        else:
            worker = self.workers.get(hostname)
            if worker is None:
                worker = self.workers[hostname] = Worker(hostname)
            task.worker = worker
            # A task event is a sign of life from its worker.
            worker.event(None, timestamp, local_received)
        self._remember(task, timestamp, event.get("clock"))
        if subject == "received":
            self.task_count += 1
        task.event(subject, timestamp, local_received, event)
        if task.name is not None:
            self._seen_types.add(task.name)
            self.tasks_by_type[task.name].add(task)
            if task.worker is not None and task.worker.hostname:
                self.tasks_by_worker[task.worker.hostname].add(task)
        self._link(task)
        return (task, created), subject

    def _remember(self, task: Task, timestamp: Any, clock: Any) -> None:
        entry = (
            float(timestamp) if isinstance(timestamp, int | float) else 0.0,
            int(clock) if isinstance(clock, int) else 0,
            str(task.uuid),
        )
        timeline = self._timeline
        if len(timeline) + 1 > self.max_tasks_in_memory * self.heap_multiplier:
            del timeline[: max(1, len(timeline) // 10)]
        if not timeline or entry >= timeline[-1]:
            timeline.append(entry)
        else:
            bisect.insort(timeline, entry)

    def _link(self, task: Task) -> None:
        if task.parent_id:
            parent = self.tasks.get(task.parent_id)
            if parent is None:
                waiting = self._children_waiting.setdefault(task.parent_id, weakref.WeakSet())
                waiting.add(task)
            else:
                parent.children.add(task)
        children = self._children_waiting.pop(str(task.uuid), None)
        if children:
            task.children.update(children)

    # -- reading -------------------------------------------------------------------------
    def get_or_create_worker(self, hostname: str, **fields: Any) -> tuple[Worker, bool]:
        """``(worker, created)`` for ``hostname``, updating it with ``fields``."""
        with self._mutex:
            worker = self.workers.get(hostname)
            if worker is not None:
                if fields:
                    worker.update(fields)
                return worker, False
            worker = self.workers[hostname] = Worker(hostname, **fields)
            return worker, True

    def get_or_create_task(self, uuid: str) -> tuple[Task, bool]:
        """``(task, created)`` for ``uuid``."""
        with self._mutex:
            task = self.tasks.get(uuid)
            if task is not None:
                return task, False
            task = self.tasks[uuid] = Task(uuid, cluster_state=self)
            return task, True

    def tasks_by_time(
        self, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, Task]]:
        """``(uuid, task)`` ordered by their latest event's time, newest first by default."""
        with self._mutex:
            timeline = list(self._timeline)
        entries = reversed(timeline) if reverse else iter(timeline)
        seen: set[str] = set()
        found = 0
        for _, _, uuid in entries:
            if uuid in seen:
                continue
            seen.add(uuid)
            task = self.tasks.get(uuid)
            if task is None:
                continue
            yield uuid, task
            found += 1
            if limit is not None and found >= limit:
                return

    tasks_by_timestamp = tasks_by_time

    def _tasks_by_type(
        self, name: str, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, Task]]:
        matching = ((u, t) for u, t in self.tasks_by_time(reverse=reverse) if t.name == name)
        return islice(matching, limit)

    def _tasks_by_worker(
        self, hostname: str, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, Task]]:
        matching = (
            (u, t)
            for u, t in self.tasks_by_time(reverse=reverse)
            if t.worker is not None and t.worker.hostname == hostname
        )
        return islice(matching, limit)

    def itertasks(self, limit: int | None = None) -> Iterator[tuple[str, Task]]:
        """``(uuid, task)`` in the order they were last updated (oldest first)."""
        with self._mutex:
            items = list(self.tasks.items())
        return islice(iter(items), limit)

    def task_types(self) -> list[str]:
        """Every task name seen, sorted."""
        return sorted(self._seen_types)

    def alive_workers(self) -> list[Worker]:
        """The workers whose heartbeats are recent."""
        with self._mutex:
            return [worker for worker in self.workers.values() if worker.alive]

    def freeze_while(self, fun: Callable[..., V], *args: Any, clear_after: bool = False) -> V:
        """Call ``fun`` with no event taken in meanwhile (then :meth:`clear` if asked)."""
        with self._mutex:
            try:
                return fun(*args)
            finally:
                if clear_after:
                    self._clear()

    def clear_tasks(self, ready: bool = True) -> None:
        """Forget tasks: only finished ones when ``ready``, else all."""
        with self._mutex:
            self._clear_tasks(ready)

    def _clear_tasks(self, ready: bool) -> None:
        keep: Mapping[str, Task] = (
            {u: t for u, t in self.tasks.items() if t.state not in states.READY_STATES}
            if ready
            else {}
        )
        self.tasks.clear()
        for uuid, task in keep.items():
            self.tasks[uuid] = task
        self._timeline = [entry for entry in self._timeline if entry[2] in self.tasks]

    def clear(self, ready: bool = True) -> None:
        """Forget workers and tasks (unfinished tasks stay when ``ready``)."""
        with self._mutex:
            self._clear(ready)

    def _clear(self, ready: bool = True) -> None:
        self.workers.clear()
        self._clear_tasks(ready)
        self.event_count = 0
        self.task_count = 0

    def __repr__(self) -> str:
        return f"<State: events={self.event_count} tasks={self.task_count}>"
