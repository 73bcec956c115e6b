"""Waiting helpers for integration tests (``celery.contrib.testing.manager``).

``Manager(app)`` waits for results (``join``), for something to happen (``wait_for``) or
not to happen (``ensure_not_for_a_while``), and asks the workers about task states
(``assert_received``, ``assert_accepted``, ``query_task_states``).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import count
from typing import Any, TextIO

from celeriac import states
from celeriac.exceptions import BrokerError, OperationalError
from celeriac.exceptions import TimeoutError as ResultTimeout
from celeriac.result import AsyncResult, ResultSet
from celeriac.utils.time import humanize_seconds as _humanize_seconds

__all__ = ["Manager", "ManagerMixin", "Sentinel", "retry_over_time"]

E_STILL_WAITING = "Still waiting for {0}.  Trying again {when}: {exc!r}"
humanize_seconds = partial(_humanize_seconds, microseconds=True)


class Sentinel(Exception):
    """Signals that something has not happened yet."""


def _intervals(start: float, step: float, maximum: float) -> Iterator[float]:
    interval = start
    while True:
        yield min(interval, maximum)
        interval += step


def retry_over_time(
    fun: Callable[..., Any],
    catch: type[BaseException] | tuple[type[BaseException], ...],
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    errback: Callable[[BaseException, Iterator[float], int], float] | None = None,
    max_retries: int | None = None,
    interval_start: float = 2,
    interval_step: float = 2,
    interval_max: float = 30,
    callback: Callable[[], object] | None = None,
    timeout: float | None = None,
) -> Any:
    """Call ``fun`` until it does not raise ``catch`` (kombu's ``retry_over_time``).

    Raises:
        Exception: the last ``catch`` error once ``max_retries`` or ``timeout`` runs out.
    """
    intervals = _intervals(interval_start, interval_step, interval_max)
    end = None if timeout is None else time.monotonic() + timeout
    for retries in count():
        try:
            return fun(*args, **(kwargs or {}))
        except catch as exc:
            if max_retries is not None and retries >= max_retries:
                raise
            if end is not None and time.monotonic() > end:
                raise
            pause = errback(exc, intervals, retries) if errback else next(intervals)
            if callback is not None:
                callback()
            time.sleep(max(0.0, float(pause or 0)))
    raise AssertionError("unreachable")


class ManagerMixin:
    """What :class:`Manager` can do, for classes that have an ``app``."""

    app: Any

    def _init_manager(
        self,
        block_timeout: float = 30 * 60.0,
        no_join: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.stdout = sys.stdout if stdout is None else stdout
        self.stderr = sys.stderr if stderr is None else stderr
        self.connerrors: tuple[type[BaseException], ...] = (
            BrokerError, OperationalError, ConnectionError,
        )  # fmt: skip
        self.block_timeout = block_timeout
        self.no_join = no_join

    def remark(self, s: str, sep: str = "-") -> None:
        """Print a progress line."""
        print(f"{sep}{s}", file=self.stdout)

    def warn(self, s: str) -> None:
        """Print a warning line on stderr."""
        self.stderr.write(s + "\n")

    def missing_results(self, r: Sequence[AsyncResult[Any]]) -> list[str]:
        """The ids of the results not ready yet."""
        return [res.id for res in r if not res.ready()]

    def wait_for(
        self,
        fun: Callable[..., Any],
        catch: Any,
        desc: str = "thing",
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        errback: Callable[..., Any] | None = None,
        max_retries: int = 10,
        interval_start: float = 0.1,
        interval_step: float = 0.5,
        interval_max: float = 5.0,
        emit_warning: bool = False,
        **options: Any,
    ) -> Any:
        """Call ``fun`` until it stops raising ``catch`` (the event has not happened yet)."""

        def on_error(exc: BaseException, intervals: Iterator[float], retries: int) -> float:
            interval = next(intervals)
            if emit_warning:
                when = humanize_seconds(interval, "in", " ")
                self.warn(E_STILL_WAITING.format(desc, when=when, exc=exc))
            if errback:
                errback(exc, interval, retries)
            return interval

        return self.retry_over_time(
            fun, catch, args=args, kwargs=kwargs or {}, errback=on_error,
            max_retries=max_retries, interval_start=interval_start,
            interval_step=interval_step, interval_max=interval_max, **options,
        )  # fmt: skip

    def ensure_not_for_a_while(
        self,
        fun: Callable[..., Any],
        catch: Any,
        desc: str = "thing",
        max_retries: int = 20,
        interval_start: float = 0.1,
        interval_step: float = 0.02,
        interval_max: float = 1.0,
        emit_warning: bool = False,
        **options: Any,
    ) -> None:
        """Fail if ``fun`` stops raising ``catch`` within its retries (it must not happen)."""
        try:
            self.wait_for(
                fun, catch, desc=desc, max_retries=max_retries,
                interval_start=interval_start, interval_step=interval_step,
                interval_max=interval_max, emit_warning=emit_warning,
            )  # fmt: skip
        except catch:
            return
        raise AssertionError(f"Should not have happened: {desc}")

    def retry_over_time(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`retry_over_time`."""
        return retry_over_time(*args, **kwargs)

    def join(self, r: Any, propagate: bool = False, max_retries: int = 10, **kwargs: Any) -> Any:
        """Wait for a result or result set, retrying on timeouts (``None`` with ``no_join``)."""
        if self.no_join:
            return None
        if not isinstance(r, ResultSet):
            r = ResultSet([r], app=self.app)
        received: list[str] = []

        def on_result(task_id: str, value: Any) -> None:
            received.append(task_id)

        for _ in range(max_retries) if max_retries else count(0):
            received[:] = []
            try:
                return r.get(callback=on_result, propagate=propagate, **kwargs)
            except (TimeoutError, ResultTimeout) as exc:
                waiting = self.missing_results(r)
                self.remark(
                    f"Still waiting for {len(r) - len(received)}/{len(r)}: "
                    f"[{', '.join(waiting)[:200]}]: {exc!r}",
                    "!",
                )
            except self.connerrors as exc:
                self.remark(f"join: connection lost: {exc!r}", "!")
        raise AssertionError("Test failed: Missing task results")

    def inspect(self, timeout: float = 3.0) -> Any:
        """``app.control.inspect(timeout=...)``."""
        return self.app.control.inspect(timeout=timeout)

    def query_tasks(self, ids: Sequence[str], timeout: float = 0.5) -> Iterator[tuple[str, Any]]:
        """``(hostname, {task_id: [state, info]})`` from every worker."""
        tasks = self.inspect(timeout).query_task(*ids) or {}
        yield from tasks.items()

    def query_task_states(self, ids: Sequence[str], timeout: float = 0.5) -> dict[str, set[str]]:
        """Worker-side state (``active``, ``reserved``, ``ready`` …) to the task ids in it."""
        found: dict[str, set[str]] = defaultdict(set)
        for _, reply in self.query_tasks(ids, timeout=timeout):
            for task_id, (state, _info) in reply.items():
                found[state].add(task_id)
        return found

    def assert_accepted(
        self, ids: Sequence[str], interval: float = 0.5,
        desc: str = "waiting for tasks to be accepted", **policy: Any,
    ) -> Any:  # fmt: skip
        """Wait until every task is running or done on some worker."""
        return self.assert_task_worker_state(
            self.is_accepted, ids, interval=interval, desc=desc, **policy
        )

    def assert_received(
        self, ids: Sequence[str], interval: float = 0.5,
        desc: str = "waiting for tasks to be received", **policy: Any,
    ) -> Any:  # fmt: skip
        """Wait until every task was received by some worker."""
        return self.assert_task_worker_state(
            self.is_received, ids, interval=interval, desc=desc, **policy
        )

    def assert_result_tasks_in_progress_or_completed(
        self, async_results: Sequence[AsyncResult[Any]], interval: float = 0.5,
        desc: str = "waiting for tasks to be started or completed", **policy: Any,
    ) -> Any:  # fmt: skip
        """Wait until every result is STARTED or SUCCESS."""
        return self.assert_task_state_from_result(
            self.is_result_task_in_progress, async_results, interval=interval, desc=desc,
            **policy,
        )  # fmt: skip

    def assert_task_state_from_result(
        self, fun: Callable[..., bool], results: Any, interval: float = 0.5, **policy: Any
    ) -> Any:
        """Wait until ``fun(results)`` is true."""
        return self.wait_for(
            partial(self.true_or_raise, fun, results, timeout=interval), (Sentinel,), **policy
        )

    @staticmethod
    def is_result_task_in_progress(results: Sequence[AsyncResult[Any]], **kwargs: Any) -> bool:
        """Whether every result is STARTED or SUCCESS."""
        return all(r.state in (states.STARTED, states.SUCCESS) for r in results)

    def assert_task_worker_state(
        self, fun: Callable[..., bool], ids: Sequence[str], interval: float = 0.5, **policy: Any
    ) -> Any:
        """Wait until ``fun(ids)`` is true."""
        return self.wait_for(
            partial(self.true_or_raise, fun, ids, timeout=interval), (Sentinel,), **policy
        )

    def is_received(self, ids: Sequence[str], **kwargs: Any) -> bool:
        """Whether every task is reserved, running or done on some worker."""
        return self._ids_matches_state(["reserved", "active", "ready"], ids, **kwargs)

    def is_accepted(self, ids: Sequence[str], **kwargs: Any) -> bool:
        """Whether every task is running or done on some worker."""
        return self._ids_matches_state(["active", "ready"], ids, **kwargs)

    def _ids_matches_state(
        self, expected: Sequence[str], ids: Sequence[str], timeout: float = 0.5
    ) -> bool:
        found = self.query_task_states(ids, timeout=timeout)
        return all(any(t in found[k] for k in expected) for t in ids)

    def true_or_raise(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fun(...)``, or :class:`Sentinel` raised when it is false."""
        res = fun(*args, **kwargs)
        if not res:
            raise Sentinel()
        return res

    def wait_until_idle(self) -> None:
        """Purge the queues, then wait until no worker runs a task."""
        control = self.app.control
        while control.purge():
            pass
        while True:
            active = control.inspect().active() or {}
            if sum(len(tasks) for tasks in active.values()) == 0:
                return
            time.sleep(0.1)


class Manager(ManagerMixin):
    """Test helpers for integration tests of an app."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.app = app
        self._init_manager(**kwargs)
