"""Result handles: read a task's state and value from the backend, wait for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from celeriac import states
from celeriac.app import context
from celeriac.exceptions import SyncInAsyncContextError, TaskRevokedError
from celeriac.protocol import results as result_protocol

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["AsyncResult", "EagerResult", "GroupResult", "ResultSet", "result_from_tuple"]

R = TypeVar("R")


def _assert_may_block(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise SyncInAsyncContextError(
            f"{name}() blocks and was called inside a running event loop; "
            f"use 'await result.a{name}()' instead"
        )


def _assert_not_in_task(disable_sync_subtasks: bool) -> None:
    if not disable_sync_subtasks:
        return
    request = context.get_executing_request()
    if request is not None and request.id and not request.called_directly and not request.is_eager:
        raise RuntimeError(
            "Never call result.get() within a task! It can deadlock the worker; "
            "see the Celery docs on avoiding synchronous subtasks "
            "(pass disable_sync_subtasks=False to override)"
        )


class AsyncResult(Generic[R]):
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
        backend: Any = None,
        task_name: str | None = None,
        app: Celery | None = None,
        parent: AsyncResult[Any] | None = None,
    ) -> None:
        self.id = id
        self.app = app or context.get_current_app()
        self._backend = backend
        self.task_name = task_name
        self.parent = parent
        self._meta: dict[str, Any] | None = None

    @property
    def backend(self) -> Any:
        """The result backend."""
        return self._backend if self._backend is not None else self.app.backend

    @property
    def task_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

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

    def as_tuple(self) -> list[Any]:
        """Celery's tuple form: ``[[id, parent_tuple], None]``."""
        parent = self.parent.as_tuple() if self.parent is not None else None
        return [[self.id, parent], None]

    # -- meta --------------------------------------------------------------------
    def _get_meta(self) -> dict[str, Any]:
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
        return cast(dict[str, Any], meta)

    def _set_meta(self, meta: dict[str, Any]) -> None:
        if meta.get("status") in states.READY_STATES:
            self._meta = meta

    @property
    def state(self) -> str:
        """The task's state: PENDING until the worker stores something."""
        return str(self._get_meta()["status"])

    status = state

    @property
    def result(self) -> Any:
        """The return value, or the exception for failed/retried/revoked tasks."""
        return result_protocol.meta_value(self._get_meta())

    @property
    def info(self) -> Any:
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
    def children(self) -> list[Any]:
        """Results of tasks this task sent, as stored with its result."""
        return [
            result_from_tuple(item, self.app) for item in self._get_meta().get("children") or ()
        ]

    @property
    def name(self) -> str | None:
        """The task name (stored with ``result_extended``)."""
        return self._get_meta().get("name") or self.task_name

    @property
    def args(self) -> Any:
        """The call's args (stored with ``result_extended``)."""
        return self._get_meta().get("args")

    @property
    def kwargs(self) -> Any:
        """The call's kwargs (stored with ``result_extended``)."""
        return self._get_meta().get("kwargs")

    @property
    def worker(self) -> str | None:
        """The worker that ran the task (``result_extended``)."""
        return self._get_meta().get("worker")

    @property
    def queue(self) -> str | None:
        """The queue the task came from (``result_extended``)."""
        return self._get_meta().get("queue")

    @property
    def retries(self) -> int | None:
        """How many times the task was retried (``result_extended``)."""
        return self._get_meta().get("retries")

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
        self, connection: Any = None, terminate: bool = False, signal: str | None = None, **kw: Any
    ) -> None:
        """Ask the workers not to run this task (``app.control.revoke``)."""
        _revoke(self.app, [self.id], terminate, signal, **kw)

    # -- waiting -------------------------------------------------------------------
    def _outcome(self, meta: dict[str, Any], propagate: bool) -> R:
        self._set_meta(meta)
        value = result_protocol.meta_value(meta)
        status = meta.get("status")
        if propagate and status in states.PROPAGATE_STATES:
            if isinstance(value, BaseException):
                raise value
            raise TaskRevokedError(str(value))
        return cast(R, value)

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        no_ack: bool = True,
        follow_parents: bool = True,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> R:
        """Wait for the task and return its value; re-raise its exception when it failed.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
            SyncInAsyncContextError: called inside a running event loop (use :meth:`aget`).
            RuntimeError: called inside a task (see ``disable_sync_subtasks``).
        """
        _assert_may_block("get")
        _assert_not_in_task(disable_sync_subtasks)
        if self._meta is not None:
            return self._outcome(self._meta, propagate)
        meta = self.backend.wait_for(self.id, timeout=timeout, interval=interval)
        return self._outcome(meta, propagate)

    wait = get

    async def aget(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
    ) -> R:
        """Async twin of :meth:`get`: waits without blocking the event loop."""
        if self._meta is not None:
            return self._outcome(self._meta, propagate)
        meta = await self.backend.await_for(self.id, timeout=timeout, interval=interval)
        return self._outcome(meta, propagate)


class EagerResult(AsyncResult[R]):
    """The result of a task run eagerly (``apply()``): already known, nothing stored."""

    def __init__(
        self,
        id: str,
        ret_value: Any,
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
    def app(self) -> Any:
        return context.get_current_app()

    @app.setter
    def app(self, value: Any) -> None:
        pass

    @property
    def state(self) -> str:
        return self._state

    status = state

    @property
    def result(self) -> Any:
        return self._value

    @property
    def traceback(self) -> str | None:
        return self._traceback

    def get(self, timeout: float | None = None, propagate: bool = True, *a: Any, **kw: Any) -> R:
        if (
            propagate
            and self._state in states.PROPAGATE_STATES
            and isinstance(self._value, BaseException)
        ):
            raise self._value
        return cast(R, self._value)

    async def aget(
        self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5
    ) -> R:
        return self.get(propagate=propagate)

    def forget(self) -> None:
        pass


class ResultSet(Generic[R]):
    """A set of results, waited for together."""

    def __init__(
        self, results: Iterable[AsyncResult[R]] | None = None, app: Celery | None = None, **_: Any
    ) -> None:
        self.results: list[AsyncResult[R]] = list(results or [])
        self.app = app or context.get_current_app()

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Any:
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
        self, connection: Any = None, terminate: bool = False, signal: str | None = None, **kw: Any
    ) -> None:
        """Revoke every task of the set in one ``app.control.revoke`` call."""
        _revoke(self.app, [result.id for result in self.results], terminate, signal, **kw)

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[R]:
        """Wait for every result, in order; return their values."""
        return self.join(
            timeout=timeout,
            propagate=propagate,
            interval=interval,
            disable_sync_subtasks=disable_sync_subtasks,
        )

    def join(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[R]:
        """Wait for every result, in order; ``timeout`` bounds the whole wait."""
        _assert_may_block("get")
        _assert_not_in_task(disable_sync_subtasks)
        deadline = None if timeout is None else time.monotonic() + timeout
        values: list[R] = []
        for result in self.results:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(
                result.get(
                    timeout=remaining,
                    propagate=propagate,
                    interval=interval,
                    disable_sync_subtasks=disable_sync_subtasks,
                )
            )
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
        parent: AsyncResult[Any] | None = None,
        app: Celery | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(results, app=app)
        self.id = id
        self.parent = parent

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def as_tuple(self) -> list[Any]:
        """Celery's tuple form: ``[[group_id, parent], [member tuples]]``."""
        parent = self.parent.as_tuple() if self.parent is not None else None
        return [[self.id, parent], [result.as_tuple() for result in self.results]]

    @property
    def children(self) -> list[AsyncResult[R]]:
        """The member results."""
        return self.results

    def save(self, backend: Any = None) -> None:
        """Store the group so :meth:`restore` can find it by id."""
        (backend or self.app.backend).save_group(str(self.id), {"result": self.as_tuple()})

    def delete(self, backend: Any = None) -> None:
        """Remove the saved group."""
        (backend or self.app.backend).forget_group(str(self.id))

    @classmethod
    def restore(
        cls, id: str, backend: Any = None, app: Celery | None = None
    ) -> GroupResult[Any] | None:
        """Load a saved group by id (``None`` when not saved)."""
        app = app or context.get_current_app()
        meta = (backend or app.backend).get_group(id)
        if meta is None:
            return None
        restored = result_from_tuple(meta["result"], app)
        return restored if isinstance(restored, GroupResult) else None


def _revoke(app: Any, ids: list[str], terminate: bool, signal: str | None, **kw: Any) -> None:
    control = getattr(app, "control", None)
    if control is None:
        raise NotImplementedError("revoke needs app.control (remote control), not available here")
    wanted = ("destination", "reply", "timeout")
    options = {key: value for key, value in kw.items() if key in wanted}
    control.revoke(ids, terminate=terminate, signal=signal or "SIGTERM", **options)


def result_from_tuple(value: Any, app: Celery | None = None) -> Any:
    """Rebuild an AsyncResult or GroupResult from Celery's tuple form."""
    app = app or context.get_current_app()
    (result_id, parent), members = value
    parent_result = result_from_tuple(parent, app) if parent else None
    if members is not None:
        return GroupResult(
            result_id, [result_from_tuple(m, app) for m in members], parent=parent_result, app=app
        )
    return AsyncResult(result_id, app=app, parent=parent_result)
