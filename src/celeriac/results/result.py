"""Result handles: read a task's state and value from the backend, wait for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from celeriac import states
from celeriac.exceptions import TaskRevokedError
from celeriac.execution import context
from celeriac.protocol import results as result_protocol
from celeriac.results.extras import (
    AsyncResultExtras,
    ResultSetExtras,
    assert_may_block,
    assert_not_in_task,
    wait_with_hooks,
)

if TYPE_CHECKING:
    from celeriac.backends.base import Backend
    from celeriac.execution.applike import AppLike
    from celeriac.transports.base import Transport

__all__ = [
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "ResultSet",
    "ResultTuple",
    "result_from_tuple",
]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

#: Celery's tuple form of a result: ``[[id, parent tuple], None | [member tuples]]``.
ResultTuple = list[object]
#: A result's stored meta (``status``, ``result``, ``traceback``, ``children`` …).
Meta = dict[str, object]


class AsyncResult(AsyncResultExtras, Generic[R_co]):
    """The result of a task sent to a worker, read from the result backend.

    Args:
        id: the task id.
        app: the app whose backend stores the result (default: the current app).
        task_name: the task's name, when known.
        parent: the result of the task that sent this one, when known.
    """

    def __init__(
        self,
        id: str,
        backend: Backend | None = None,
        task_name: str | None = None,
        app: AppLike | None = None,
        parent: AsyncResult[object] | None = None,
    ) -> None:
        self.id = id
        self.app = app or context.get_current_app()
        self._backend = backend
        self.task_name = task_name
        self.parent = parent
        self._meta: Meta | None = None

    @property
    def backend(self) -> Backend:
        """The result backend."""
        return self._backend if self._backend is not None else self.app.backend

    @property
    def task_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

    def _exception_modules(self) -> list[str] | None:
        """``result_exception_modules``: where a re-raised failure's class may come from."""
        allowed = self.app.conf.result_exception_modules
        return None if allowed is None else [str(entry) for entry in allowed]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.id}>"

    def __str__(self) -> str:
        return self.id

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def as_tuple(self) -> ResultTuple:
        """Celery's tuple form: ``[[id, parent_tuple], None]``."""
        parent = self.parent.as_tuple() if self.parent is not None else None
        return [[self.id, parent], None]

    # -- meta --------------------------------------------------------------------
    def _get_meta(self) -> Meta:
        if self._meta is not None:
            return self._meta
        meta = self.backend.get(self.id)
        if meta is None:
            return {
                "status": states.PENDING,
                "result": None,
                "traceback": None,
                "children": [],
                "date_done": None,
                "task_id": self.id,
            }
        if meta.get("status") in states.READY_STATES:
            self._meta = meta
        return meta

    def _set_meta(self, meta: Meta) -> None:
        if meta.get("status") in states.READY_STATES:
            self._meta = meta

    @property
    def state(self) -> str:
        """The task's state: PENDING until the worker stores something."""
        return str(self._get_meta()["status"])

    status = state

    @property
    def result(self) -> object:
        """The return value, or the exception for failed/retried/revoked tasks."""
        return result_protocol.meta_value(self._get_meta(), self._exception_modules())

    @property
    def info(self) -> object:
        """Alias of :attr:`result` (the meta of custom states such as PROGRESS)."""
        return self.result

    @property
    def traceback(self) -> str | None:
        """The formatted traceback of a failure."""
        value = self._get_meta().get("traceback")
        return str(value) if value else None

    @property
    def date_done(self) -> datetime | None:
        """When the task became ready (aware UTC datetime)."""
        return result_protocol.parse_date_done(self._get_meta().get("date_done"))

    @property
    def children(self) -> list[AsyncResult[object] | GroupResult[object]]:
        """Results of tasks this task sent, as stored with its result."""
        children = self._get_meta().get("children")
        if not isinstance(children, list):
            return []
        return [result_from_tuple(item, self.app) for item in children]

    @property
    def name(self) -> str | None:
        """The task name (stored with ``result_extended``)."""
        name = self._get_meta().get("name")
        return name if isinstance(name, str) and name else self.task_name

    @property
    def args(self) -> object:
        """The call's args (stored with ``result_extended``)."""
        return self._get_meta().get("args")

    @property
    def kwargs(self) -> object:
        """The call's kwargs (stored with ``result_extended``)."""
        return self._get_meta().get("kwargs")

    @property
    def worker(self) -> str | None:
        """The worker that ran the task (``result_extended``)."""
        value = self._get_meta().get("worker")
        return value if isinstance(value, str) else None

    @property
    def queue(self) -> str | None:
        """The queue the task came from (``result_extended``)."""
        value = self._get_meta().get("queue")
        return value if isinstance(value, str) else None

    @property
    def retries(self) -> int | None:
        """How many times the task was retried (``result_extended``)."""
        value = self._get_meta().get("retries")
        return value if isinstance(value, int) else None

    def ready(self) -> bool:
        """True once the task succeeded, failed or was revoked."""
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        """True when the task succeeded."""
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        """True when the task failed."""
        return self.state == states.FAILURE

    def forget(self) -> None:
        """Delete the stored result."""
        self._meta = None
        self.backend.forget(self.id)

    def revoke(
        self,
        connection: Transport | None = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        wait: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Revoke the task (``app.control.revoke``); ``wait`` collects the workers' replies."""
        self.app.control.revoke(
            self.id,
            connection=connection,
            terminate=terminate,
            signal=signal,
            reply=wait,
            timeout=timeout if timeout is not None else 1.0,
        )

    # -- waiting -------------------------------------------------------------------
    def _outcome(self, meta: Meta, propagate: bool) -> R_co:
        self._set_meta(meta)
        value = result_protocol.meta_value(meta, self._exception_modules())
        status = meta.get("status")
        if propagate and status in states.PROPAGATE_STATES:
            if isinstance(value, BaseException):
                raise value
            raise TaskRevokedError(str(value))
        return cast(R_co, value)

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        no_ack: bool = True,
        follow_parents: bool = True,
        disable_sync_subtasks: bool = True,
        callback: Callable[[str, Any], object] | None = None,
        on_message: Callable[[dict[str, Any]], object] | None = None,
        on_interval: Callable[[], object] | None = None,
        **_: object,
    ) -> R_co:
        """Wait for the task and return its value; re-raise its exception when it failed.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
            SyncInAsyncContextError: called inside a running event loop (use :meth:`aget`).
            RuntimeError: called inside a task (see ``disable_sync_subtasks``).
        """
        if self.ignored:
            return cast(R_co, None)
        assert_may_block("get")
        assert_not_in_task(disable_sync_subtasks)
        if self._meta is not None:
            meta = self._meta
        elif on_message is not None or on_interval is not None:
            meta = wait_with_hooks(
                self.backend, self.id, timeout, interval, on_message, on_interval
            )
        else:
            meta = self.backend.wait_for(self.id, timeout=timeout, interval=interval)
        if propagate and follow_parents and meta.get("status") in states.PROPAGATE_STATES:
            self._reraise_parent_error()
        value = self._outcome(meta, propagate)
        if callback is not None:
            callback(self.id, value)
        return value

    wait = get

    async def aget(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
    ) -> R_co:
        """Async twin of :meth:`get`: waits without blocking the event loop."""
        if self._meta is not None:
            return self._outcome(self._meta, propagate)
        meta = await self.backend.await_for(self.id, timeout=timeout, interval=interval)
        return self._outcome(meta, propagate)


class EagerResult(AsyncResult[R_co]):
    """The result of a task run eagerly (``apply()``): already known, nothing stored."""

    def __init__(
        self,
        id: str,
        ret_value: object,
        state: str,
        traceback: str | None = None,
        name: str | None = None,
    ) -> None:
        self.id = id
        self.task_name = name
        self.parent = None
        self._backend = None
        self._value = ret_value
        self._state = state
        self._traceback = traceback
        self._meta = {
            "status": state,
            "result": ret_value,
            "traceback": traceback,
            "children": [],
            "date_done": None,
            "task_id": id,
        }

    @property
    def app(self) -> AppLike:
        return context.get_current_app()

    @app.setter
    def app(self, value: AppLike) -> None:
        pass

    @property
    def state(self) -> str:
        return self._state

    status = state

    @property
    def result(self) -> object:
        return self._value

    @property
    def traceback(self) -> str | None:
        return self._traceback

    def get(
        self, timeout: float | None = None, propagate: bool = True, *a: object, **kw: object
    ) -> R_co:
        if (
            propagate
            and self._state in states.PROPAGATE_STATES
            and isinstance(self._value, BaseException)
        ):
            raise self._value
        return cast(R_co, self._value)

    async def aget(
        self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5
    ) -> R_co:
        return self.get(propagate=propagate)

    def forget(self) -> None:
        pass


class ResultSet(ResultSetExtras, Generic[R]):
    """A set of results, waited for together."""

    def __init__(
        self,
        results: Iterable[AsyncResult[R]] | None = None,
        app: AppLike | None = None,
        **_: object,
    ) -> None:
        self.results: list[AsyncResult[R]] = list(results or [])
        self.app = app or context.get_current_app()

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[AsyncResult[R]]:
        return iter(self.results)

    def __getitem__(self, index: int) -> AsyncResult[R]:
        return self.results[index]

    def add(self, result: AsyncResult[R]) -> None:
        """Add a result."""
        if result not in self.results:
            self.results.append(result)

    def ready(self) -> bool:
        """True when every result is ready."""
        return all(result.ready() for result in self.results)

    def successful(self) -> bool:
        """True when every task succeeded."""
        return all(result.successful() for result in self.results)

    def failed(self) -> bool:
        """True when any task failed."""
        return any(result.failed() for result in self.results)

    def waiting(self) -> bool:
        """True when any result is not ready."""
        return not self.ready()

    def completed_count(self) -> int:
        """How many tasks succeeded."""
        return sum(1 for result in self.results if result.successful())

    def forget(self) -> None:
        """Forget every result."""
        for result in self.results:
            result.forget()

    def revoke(
        self,
        connection: Transport | None = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        wait: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Revoke every task of the set in one broadcast."""
        if not self.results:
            return
        self.app.control.revoke(
            [result.id for result in self.results],
            connection=connection,
            terminate=terminate,
            signal=signal,
            reply=wait,
            timeout=timeout if timeout is not None else 1.0,
        )

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        callback: Callable[[str, Any], object] | None = None,
        on_message: Callable[[dict[str, Any]], object] | None = None,
        on_interval: Callable[[], object] | None = None,
        **_: object,
    ) -> list[R]:
        """Wait for every result, in order; return their values."""
        return self.join(
            timeout=timeout,
            propagate=propagate,
            interval=interval,
            disable_sync_subtasks=disable_sync_subtasks,
            callback=callback,
            on_message=on_message,
            on_interval=on_interval,
        )

    def join(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        callback: Callable[[str, Any], object] | None = None,
        on_message: Callable[[dict[str, Any]], object] | None = None,
        on_interval: Callable[[], object] | None = None,
        **_: object,
    ) -> list[R]:
        """Wait for every result, in order; ``timeout`` bounds the whole wait.

        With ``callback``, ``callback(task_id, value)`` is called for each result and the
        values are not collected (Celery's rule).
        """
        assert_may_block("get")
        assert_not_in_task(disable_sync_subtasks)
        deadline = None if timeout is None else time.monotonic() + timeout
        values: list[R] = []
        for result in self.results:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            value = result.get(
                timeout=remaining,
                propagate=propagate,
                interval=interval,
                disable_sync_subtasks=disable_sync_subtasks,
                on_message=on_message,
                on_interval=on_interval,
            )
            if callback is not None:
                callback(result.id, value)
            else:
                values.append(value)
        return values

    async def aget(self, timeout: float | None = None, propagate: bool = True) -> list[R]:
        """Async twin of :meth:`get`."""
        async with asyncio.timeout(timeout):
            return list(
                await asyncio.gather(*(result.aget(propagate=propagate) for result in self.results))
            )


class GroupResult(ResultSet[R]):
    """The results of a group, with the group's id."""

    def __init__(
        self,
        id: str | None = None,
        results: Iterable[AsyncResult[R]] | None = None,
        parent: AsyncResult[object] | None = None,
        app: AppLike | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(results, app=app)
        self.id = id
        self.parent = parent

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def __eq__(self, other: object) -> bool:
        # Celery's: the same id, members and parent (or the group's id as a string)
        if isinstance(other, GroupResult):
            return (other.id, other.results, other.parent) == (self.id, self.results, self.parent)
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def as_tuple(self) -> ResultTuple:
        """Celery's tuple form: ``[[group_id, parent], [member tuples]]``."""
        parent = self.parent.as_tuple() if self.parent is not None else None
        return [[self.id, parent], [result.as_tuple() for result in self.results]]

    @property
    def children(self) -> list[AsyncResult[R]]:
        """The member results."""
        return self.results

    def save(self, backend: Backend | None = None) -> None:
        """Store the group so :meth:`restore` can find it by id."""
        (backend or self.app.backend).save_group(str(self.id), {"result": self.as_tuple()})

    def delete(self, backend: Backend | None = None) -> None:
        """Remove the saved group."""
        (backend or self.app.backend).forget_group(str(self.id))

    @classmethod
    def restore(
        cls, id: str, backend: Backend | None = None, app: AppLike | None = None
    ) -> GroupResult[object] | None:
        """Load a saved group by id (``None`` when not saved)."""
        app = app or context.get_current_app()
        meta = (backend or app.backend).get_group(id)
        if meta is None:
            return None
        restored = result_from_tuple(meta["result"], app)
        return restored if isinstance(restored, GroupResult) else None


def result_from_tuple(
    value: object, app: AppLike | None = None
) -> AsyncResult[object] | GroupResult[object]:
    """Rebuild an AsyncResult or GroupResult from Celery's tuple form.

    Raises:
        ValueError: ``value`` is not a result tuple.
    """
    app = app or context.get_current_app()
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not isinstance(value[0], list | tuple)
    ):
        raise ValueError(f"not a result tuple: {value!r}")
    (result_id, parent), members = value
    parent_result = _member_from_tuple(parent, app) if parent else None
    if members is not None:
        if not isinstance(members, list | tuple):
            raise ValueError(f"not a result tuple: {value!r}")
        return GroupResult(
            str(result_id),
            [_member_from_tuple(m, app) for m in members],
            parent=parent_result,
            app=app,
        )
    return AsyncResult(str(result_id), app=app, parent=parent_result)


def _member_from_tuple(value: object, app: AppLike) -> AsyncResult[object]:
    """A group member or a parent: a nested group's GroupResult stands in that place as
    in Celery (it answers ``id``, ``ready()``, ``get()`` … like a result)."""
    return cast(AsyncResult[object], result_from_tuple(value, app))
