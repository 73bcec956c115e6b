"""Celery's request-stack members of ``Task``: ``push_request``/``pop_request``,
``request_stack``, ``signature_from_request`` and the exception classes as attributes.

``task.push_request(id="x", retries=2)`` makes ``task.request`` that context until
``pop_request()`` (the usual way to unit-test a bound task without a worker).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import MaxRetriesExceededError, OperationalError
from celeriac.execution import context
from celeriac.execution.request import Context

if TYPE_CHECKING:
    from celeriac.canvas.signature import Signature

__all__ = ["RequestStack", "TaskRequests"]


class RequestStack:
    """The contexts pushed on one task in this thread (Celery's ``request_stack``)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def _items(self) -> list[tuple[Context, Any]]:
        items: list[tuple[Context, Any]] | None = getattr(self._local, "items", None)
        if items is None:
            items = self._local.items = []
        return items

    def push(self, request: Context) -> None:
        """Make ``request`` the current request."""
        self._items.append((request, context.push_request(request)))

    def pop(self) -> Context | None:
        """Undo the last :meth:`push`; return its context (None when empty)."""
        if not self._items:
            return None
        request, token = self._items.pop()
        context.pop_request(token)
        return request

    @property
    def top(self) -> Context | None:
        """The last pushed context."""
        return self._items[-1][0] if self._items else None

    @property
    def stack(self) -> list[Context]:
        """The pushed contexts, oldest first."""
        return [request for request, _ in self._items]

    def __len__(self) -> int:
        return len(self._items)


class TaskRequests:
    """Celery's ``Task`` members around ``self.request`` (a base class of ``Task``)."""

    #: Celery's exception classes, reachable from a task (``self.MaxRetriesExceededError``)
    MaxRetriesExceededError = MaxRetriesExceededError
    OperationalError = OperationalError

    if TYPE_CHECKING:
        name: str

        @property
        def request(self) -> Context: ...
        def signature(
            self,
            args: Sequence[object] | None = None,
            kwargs: Mapping[str, object] | None = None,
            **options: object,
        ) -> Signature: ...

    @property
    def request_stack(self) -> RequestStack:
        """This task's pushed requests (per thread)."""
        stack: RequestStack | None = self.__dict__.get("_request_stack")
        if stack is None:
            stack = self.__dict__["_request_stack"] = RequestStack()
        return stack

    def push_request(self, *args: Any, **kwargs: Any) -> None:
        """Make ``Context(*args, **kwargs)`` this task's ``request`` until :meth:`pop_request`."""
        request = Context(*args, **kwargs)
        if request.task is None:
            request.task = self.name
        self.request_stack.push(request)

    def pop_request(self) -> None:
        """Undo the last :meth:`push_request`."""
        self.request_stack.pop()

    def signature_from_request(
        self,
        request: Context | None = None,
        args: Any = None,
        kwargs: Any = None,
        queue: str | None = None,
        **extra_options: Any,
    ) -> Signature:
        """A signature that sends ``request`` (the current one) again: its args, ids,
        workflow links and limits, to its queue (``queue`` to change it)."""
        request = self.request if request is None else request
        args = request.args if args is None else args
        kwargs = request.kwargs if kwargs is None else kwargs
        options: dict[str, Any] = {**request.as_execution_options(), **extra_options}
        info = request.delivery_info or {}
        if info.get("priority") is not None:
            options["priority"] = info["priority"]
        routing_key = info.get("routing_key")
        if queue or routing_key:
            options["queue"] = queue or routing_key
        options = {key: value for key, value in options.items() if value is not None}
        return self.signature(args, kwargs, **options)

    subtask_from_request = signature_from_request
