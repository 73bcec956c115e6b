"""SyncRunner: dedicated threads that run sync task bodies for an event loop, with time limits."""

from __future__ import annotations

import asyncio
import ctypes
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celeriac.exceptions import SoftTimeLimitExceeded
from celeriac.utils.log import own_logger

__all__ = ["SyncRunner", "raise_in_thread"]

logger = own_logger(__name__)


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raise ``exc_type`` asynchronously in a thread (takes effect at its next bytecode)."""
    affected: int = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    if affected > 1:  # undo: should never happen with a valid id
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        return False
    return affected == 1


@dataclass(slots=True)
class _Job:
    fun: Callable[[], Any]
    future: asyncio.Future[Any]
    label: str
    soft_limit: float | None
    started: float = 0.0
    thread: threading.Thread | None = None
    soft_sent: bool = False
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class SyncRunner:
    """Runs sync callables on ``size`` dedicated threads and hands results back to the loop.

    The loop stays free for leases, heartbeats and async tasks while sync task bodies
    run. Soft time limits raise :class:`SoftTimeLimitExceeded` inside the running body;
    a hard limit that a thread cannot honour is reported through :meth:`abandon`, which
    replaces the stuck thread so the pool keeps its size.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, name: str = "celeriac-task"):
        self.loop = loop
        self.size = max(1, size)
        self.name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._running: dict[int, _Job] = {}
        self._lock = threading.Lock()
        self._counter = 0
        self._watchdog: asyncio.Task[None] | None = None
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        self._counter += 1
        thread = threading.Thread(
            target=self._work, name=f"{self.name}-{self._counter}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            ident = threading.get_ident()
            job.thread = threading.current_thread()
            job.started = time.monotonic()
            with self._lock:
                self._running[ident] = job
            try:
                result: Any = job.fun()
                error: BaseException | None = None
            except BaseException as exc:  # returned to the loop, never lost
                result, error = None, exc
            finally:
                with self._lock:
                    self._running.pop(ident, None)
                    abandoned = job.done
                    job.done = True
            if abandoned:
                logger.warning("Abandoned task %s finished late; its outcome is ignored", job.label)
                if threading.current_thread() not in self._threads:
                    return  # a replacement already took this thread's place
                continue
            self.loop.call_soon_threadsafe(self._settle, job.future, result, error)

    @staticmethod
    def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    @property
    def busy(self) -> int:
        """Threads currently running a body."""
        return len(self._running)

    def submit(
        self, fun: Callable[[], Any], *, label: str = "", soft_limit: float | None = None
    ) -> asyncio.Future[Any]:
        """Queue a callable; the returned future resolves on the loop with its result."""
        future: asyncio.Future[Any] = self.loop.create_future()
        self._queue.put(_Job(fun, future, label, soft_limit))
        if soft_limit and self._watchdog is None:
            self._watchdog = self.loop.create_task(self._watch())
        return future

    async def _watch(self) -> None:
        """Deliver soft time limits: raise SoftTimeLimitExceeded in overdue bodies."""
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            with self._lock:
                overdue = [
                    (ident, job)
                    for ident, job in self._running.items()
                    if job.soft_limit and not job.soft_sent and now - job.started >= job.soft_limit
                ]
                for _ident, job in overdue:
                    job.soft_sent = True
            for ident, job in overdue:
                logger.warning("Soft time limit (%ss) exceeded for %s", job.soft_limit, job.label)
                raise_in_thread(ident, SoftTimeLimitExceeded)

    def abandon(self, future: asyncio.Future[Any]) -> bool:
        """Give up on the body behind ``future`` (hard limit): replace its thread.

        Returns True when the job was still running and a replacement thread started.
        """
        with self._lock:
            for job in self._running.values():
                if job.future is future and not job.done:
                    job.done = True
                    if job.thread in self._threads:
                        self._threads.remove(job.thread)
                    break
            else:
                return False
        self._spawn()
        return True

    def shutdown(self, wait: bool = True) -> None:
        """Stop the threads after the queued bodies ran (or at once when not waiting)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in list(self._threads):
                thread.join(timeout=5)
