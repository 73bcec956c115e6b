"""Celery's result members beyond waiting for one value.

:class:`AsyncResultExtras` (a base of ``AsyncResult``): following a task's graph of
children (``collect``, ``iterdeps``, ``get_leaf``), re-raising a stored failure
(``maybe_throw``), callbacks when a result is ready (``then``), ``exists``, ``as_list``.
:class:`ResultSetExtras` (a base of ``ResultSet``): editing the set, ``join_native`` /
``iter_native`` and ``then``. :func:`wait_with_hooks` is the polling wait behind
``get(on_message=..., on_interval=...)``; :func:`allow_join_result` lets a task wait on
another task's result.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.exceptions import (
    IncompleteStream,
    SyncInAsyncContextError,
    TaskRevokedError,
    TimeoutError,
)
from celeriac.execution import context
from celeriac.protocol import results as result_protocol
from celeriac.utils.graph import DependencyGraph, GraphFormatter

if TYPE_CHECKING:
    from celeriac.backends.base import Backend
    from celeriac.results.result import AsyncResult, ResultSet

__all__ = [
    "assert_may_block",
    "assert_not_in_task",
    "AsyncResultExtras",
    "ResultBase",
    "ResultSetExtras",
    "allow_join_result",
    "denied_join_result",
    "joins_allowed",
    "wait_with_hooks",
]

#: ``None``: decide by context (waiting inside a task is refused); True/False: forced.
_joins_allowed: ContextVar[bool | None] = ContextVar("celeriac_joins_allowed", default=None)


def joins_allowed() -> bool | None:
    """Whether :func:`allow_join_result` (True) or :func:`denied_join_result` (False) is on."""
    return _joins_allowed.get()


@contextmanager
def allow_join_result() -> Iterator[None]:
    """Let a task wait on other results (``get()``) inside the ``with`` block."""
    token = _joins_allowed.set(True)
    try:
        yield
    finally:
        _joins_allowed.reset(token)


@contextmanager
def denied_join_result() -> Iterator[None]:
    """Refuse ``get()`` inside the ``with`` block, even outside a task."""
    token = _joins_allowed.set(False)
    try:
        yield
    finally:
        _joins_allowed.reset(token)


def assert_may_block(name: str) -> None:
    """Refuse a blocking wait inside a running event loop (``aget()`` exists for that)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise SyncInAsyncContextError(
            f"{name}() blocks and was called inside a running event loop; "
            f"use 'await result.a{name}()' instead"
        )


def assert_not_in_task(disable_sync_subtasks: bool) -> None:
    """Refuse waiting on a result inside a task, unless allowed (:func:`allow_join_result`)."""
    allowed = joins_allowed()
    if not disable_sync_subtasks or allowed:
        return
    if allowed is False:
        raise RuntimeError("Never call result.get() within a task! (denied_join_result)")
    request = context.get_executing_request()
    if request is not None and request.id and not request.called_directly and not request.is_eager:
        raise RuntimeError(
            "Never call result.get() within a task! It can deadlock the worker; "
            "see the Celery docs on avoiding synchronous subtasks "
            "(pass disable_sync_subtasks=False to override)"
        )


def wait_with_hooks(
    backend: Backend,
    task_id: str,
    timeout: float | None,
    interval: float,
    on_message: Callable[[dict[str, Any]], object] | None,
    on_interval: Callable[[], object] | None,
) -> dict[str, Any]:
    """Poll the stored meta until ready, calling ``on_message`` on each new state.

    Raises:
        TimeoutError: not ready within ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    last: object = None
    pause = max(0.01, min(interval, 0.1))
    while True:
        meta = backend.get(task_id) or {"status": states.PENDING, "result": None}
        status = meta.get("status")
        if on_message is not None and status != last:
            on_message({**meta, "task_id": task_id})
        last = status
        if status in states.READY_STATES:
            return meta
        if on_interval is not None:
            on_interval()
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError("The operation timed out.")
        time.sleep(pause)


def _raise_stored(meta: dict[str, Any]) -> None:
    value = result_protocol.meta_value(meta)
    if isinstance(value, BaseException):
        raise value
    raise TaskRevokedError(str(value))


class ResultBase:
    """Base class of every result class (Celery's ``ResultBase``)."""

    #: The result of the task that sent this one, when known.
    parent: Any = None


class AsyncResultExtras(ResultBase):
    """Graph walking, re-raising and callbacks of ``AsyncResult`` (Celery's names)."""

    #: Raised by ``get()`` when the wait times out.
    TimeoutError = TimeoutError

    def _me(self) -> AsyncResult[Any]:
        return self  # type: ignore[return-value]

    def _reraise_parent_error(self) -> None:
        """Raise the failure of the first failed parent, root first (Celery's
        ``follow_parents``: a chain or chord fails with its cause, not the consequence)."""
        parents: list[Any] = []
        node = self._me().parent
        while node is not None and len(parents) < 1000:
            parents.append(node)
            node = node.parent
        for parent in reversed(parents):
            parent.maybe_throw()

    @property
    def ignored(self) -> bool:
        """Whether the task was sent with ``ignore_result`` (its result is not stored)."""
        return bool(getattr(self, "_ignored", False))

    @ignored.setter
    def ignored(self, value: bool) -> None:
        self._ignored = value

    @property
    def supports_native_join(self) -> bool:
        """Whether the backend tells waiters when results arrive (Redis: yes)."""
        return bool(getattr(self._me().backend, "supports_native_join", False))

    def exists(self) -> bool:
        """Whether the backend has a result for this id (PENDING ones and unknown ids differ)."""
        return self._me().backend.get(self._me().id) is not None

    def as_list(self) -> list[str]:
        """This id and its parents' ids, newest first."""
        me = self._me()
        ids = [me.id]
        if me.parent is not None:
            ids.extend(me.parent.as_list())
        return ids

    def throw(self, exc: BaseException | None = None, tb: object = None) -> None:
        """Raise ``exc`` (the stored failure when not given)."""
        if exc is None:
            _raise_stored(self._me()._get_meta())
            return
        raise exc

    def maybe_throw(
        self, propagate: bool = True, callback: Callable[[str, Any], object] | None = None
    ) -> Any:
        """Raise the stored failure when ``propagate``; else return the stored value."""
        me = self._me()
        meta = me._get_meta()
        value = result_protocol.meta_value(meta)
        if propagate and meta.get("status") in states.PROPAGATE_STATES:
            _raise_stored(meta)
        if callback is not None:
            callback(me.id, value)
        return value

    maybe_reraise = maybe_throw

    def iterdeps(self, intermediate: bool = False) -> Iterator[tuple[Any, Any]]:
        """``(parent, node)`` for this result and its children, breadth first.

        Raises:
            IncompleteStream: a node is not ready yet (unless ``intermediate``).
        """
        stack: deque[tuple[Any, Any]] = deque([(None, self)])
        while stack:
            parent, node = stack.popleft()
            yield parent, node
            if node.ready():
                stack.extend((node, child) for child in node.children or [])
            elif not intermediate:
                raise IncompleteStream()

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
        """``(result, value)`` for this result and every task it started, depth first."""
        for _, node in self.iterdeps(intermediate=intermediate):
            yield node, node.get(**kwargs)

    def build_graph(
        self, intermediate: bool = False, formatter: GraphFormatter | None = None
    ) -> DependencyGraph:
        """The :class:`DependencyGraph` of this result and the results it started (its
        ``children``, theirs …): each node depends on the results it started.

        Raises:
            IncompleteStream: a node is not ready yet (unless ``intermediate``).
        """
        formatter = formatter or GraphFormatter(root=self._me().id, shape="oval")
        graph = DependencyGraph(formatter=formatter)
        for parent, node in self.iterdeps(intermediate=intermediate):
            graph.add_arc(node)
            if parent is not None:
                graph.add_edge(parent, node)
        return graph

    @cached_property
    def graph(self) -> DependencyGraph:
        """:meth:`build_graph`, built once (the results must be ready)."""
        return self.build_graph()

    def get_leaf(self) -> Any:
        """The value of the last result in the graph (a chain's last link)."""
        value = None
        for _, node in self.iterdeps():
            value = node.get()
        return value

    def then(
        self,
        callback: Callable[[Any], object],
        on_error: Callable[[BaseException], object] | None = None,
        weak: bool = False,
    ) -> threading.Thread:
        """Call ``callback(result)`` on a thread once it is ready (``on_error(exc)`` on errors)."""
        me = self._me()

        def watch() -> None:
            try:
                me.backend.wait_for(me.id, timeout=None, interval=0.1)
                callback(me)
            except BaseException as exc:
                if on_error is None:
                    raise
                on_error(exc)

        thread = threading.Thread(target=watch, name=f"then-{me.id}", daemon=True)
        thread.start()
        return thread

    def revoke_by_stamped_headers(
        self,
        headers: dict[str, Any],
        connection: object = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        wait: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Revoke the tasks whose stamps match ``headers`` (``app.control``'s command)."""
        return self._me().app.control.revoke_by_stamped_headers(  # type: ignore[attr-defined]
            headers, terminate=terminate, signal=signal, reply=wait, timeout=timeout
        )


class ResultSetExtras(ResultBase):
    """Editing a result set and Celery's ``join_native``/``iter_native``/``then``."""

    def _me(self) -> ResultSet[Any]:
        return self  # type: ignore[return-value]

    @property
    def backend(self) -> Backend:
        """The app's result backend."""
        return self._me().app.backend

    @property
    def supports_native_join(self) -> bool | None:
        """Whether the first result's backend notifies waiters (``None`` when empty)."""
        results = self._me().results
        return results[0].supports_native_join if results else None

    def update(self, results: Any) -> None:
        """Add every result of ``results`` that is not in the set yet."""
        mine = self._me().results
        mine.extend(r for r in results if r not in mine)

    def remove(self, result: Any) -> None:
        """Remove a member (a result or an id).

        Raises:
            KeyError: it is not a member.
        """
        try:
            self._me().results.remove(result)
        except ValueError:
            raise KeyError(result) from None

    def discard(self, result: Any) -> None:
        """Remove a member if it is one."""
        try:
            self.remove(result)
        except KeyError:
            pass

    def clear(self) -> None:
        """Remove every member (the list object stays)."""
        self._me().results[:] = []

    def maybe_throw(
        self, callback: Callable[[str, Any], object] | None = None, propagate: bool = True
    ) -> None:
        """Raise the first stored failure (see ``AsyncResult.maybe_throw``)."""
        for result in self._me().results:
            result.maybe_throw(callback=callback, propagate=propagate)

    maybe_reraise = maybe_throw

    def iter_native(
        self,
        timeout: float | None = None,
        interval: float = 0.5,
        no_ack: bool = True,
        on_message: Callable[[dict[str, Any]], object] | None = None,
        on_interval: Callable[[], object] | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(task_id, meta)`` for each member as it becomes ready (in completion order)."""
        me = self._me()
        pending = {r.id: r for r in me.results}
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: dict[str, object] = {}
        while pending:
            for task_id, result in list(pending.items()):
                meta = result.backend.get(task_id) or {"status": states.PENDING}
                if on_message is not None and seen.get(task_id) != meta.get("status"):
                    on_message({**meta, "task_id": task_id})
                seen[task_id] = meta.get("status")
                if meta.get("status") in states.READY_STATES:
                    del pending[task_id]
                    yield task_id, meta
            if not pending:
                return
            if on_interval is not None:
                on_interval()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("The operation timed out.")
            time.sleep(max(0.01, min(interval, 0.1)))

    def join_native(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        callback: Callable[[str, Any], object] | None = None,
        no_ack: bool = True,
        on_message: Callable[[dict[str, Any]], object] | None = None,
        on_interval: Callable[[], object] | None = None,
        disable_sync_subtasks: bool = True,
    ) -> list[Any] | None:
        """Wait for every member as results arrive; values in the set's order.

        With ``callback``, ``callback(task_id, value)`` is called per result instead and
        ``None`` is returned.
        """
        me = self._me()
        order = {r.id: i for i, r in enumerate(me.results)}
        values: list[Any] = [None] * len(me.results)
        for task_id, meta in self.iter_native(timeout, interval, no_ack, on_message, on_interval):
            if propagate and meta.get("status") in states.PROPAGATE_STATES:
                _raise_stored(meta)
            value = result_protocol.meta_value(meta)
            if callback is not None:
                callback(task_id, value)
            else:
                values[order[task_id]] = value
        return None if callback is not None else values

    def then(
        self,
        callback: Callable[[Any], object],
        on_error: Callable[[BaseException], object] | None = None,
        weak: bool = False,
    ) -> threading.Thread:
        """Call ``callback(result_set)`` on a thread once every member is ready."""
        me = self._me()

        def watch() -> None:
            try:
                for _ in self.iter_native(interval=0.1):
                    pass
                callback(me)
            except BaseException as exc:
                if on_error is None:
                    raise
                on_error(exc)

        thread = threading.Thread(target=watch, name="then-resultset", daemon=True)
        thread.start()
        return thread
