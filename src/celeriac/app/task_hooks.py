"""Celery's hook and flag members of ``Task``: ``on_bound``, ``shadow_name``, ``trail`` and
``add_trail``, ``send_events``, ``resultrepr_maxsize`` (a base class of ``Task``).

* ``on_bound(app)`` is called (on the class) each time a task is bound to an app: made by
  ``@app.task``, registered with ``app.register_task`` or given ``task.app = app``.
* ``shadow_name(args, kwargs, options)`` names one call in logs and monitors (the message's
  ``shadow``) when ``apply_async`` is given no ``shadow=``; the default returns None (the
  task's own name). ``@app.task(shadow_name=fun)`` takes ``fun(task, args, kwargs, options)``.
* ``add_trail(result)`` records ``result`` in ``request.children`` when ``trail`` is set:
  tasks sent while a task runs (``add_to_parent=False`` to leave one out) are recorded so.
* ``send_events = False`` keeps the worker from sending this task's ``task-*`` events.
* ``resultrepr_maxsize`` cuts the return value in the worker's "succeeded" log line and in
  the ``task-succeeded`` event.
* ``store_eager_result``: an eager run (``apply()``, ``task_always_eager``) stores its
  result in the result backend, as a worker would; None follows
  ``task_store_eager_result``. ``ignore_result`` still wins.
* ``acks_on_failure``/``acks_on_timeout``: whether a late-acked message of a run that
  failed (timed out) is acked, else requeued; None follows the ``task_acks_on_failure``/
  ``task_acks_on_timeout`` settings, then ``acks_on_failure_or_timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from celeriac.execution.request import Context

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.config.settings import Settings

__all__ = ["TaskHooks"]

T = TypeVar("T")


class TaskHooks:
    """Celery's ``Task`` hooks and flags around binding, naming and monitoring."""

    #: Record the results of the tasks this one sends in ``request.children``.
    trail: bool = True
    #: Send this task's events when the worker sends task events (``-E``).
    send_events: bool = True
    #: Most characters of a return value's repr in the worker's log and events.
    resultrepr_maxsize: int = 1024
    #: Ack a late-acked message whose run failed (None: ``task_acks_on_failure``).
    acks_on_failure: bool | None = None
    #: Ack a late-acked message whose run timed out (None: ``task_acks_on_timeout``).
    acks_on_timeout: bool | None = None
    acks_on_failure_or_timeout: bool = True
    #: Store the result of an eager run (None: ``task_store_eager_result``).
    store_eager_result: bool | None = None

    if TYPE_CHECKING:

        @property
        def request(self) -> Context: ...

    def acks_failed_run(self, conf: Settings, *, timeout: bool = False) -> bool:
        """Whether the message of a run that failed (``timeout``: hit its time limit) is
        acked rather than requeued: :attr:`acks_on_failure` (:attr:`acks_on_timeout`),
        else the setting, else :attr:`acks_on_failure_or_timeout` (Celery's order)."""
        if timeout:
            own = self.acks_on_timeout
            setting = conf.task_acks_on_timeout
        else:
            own = self.acks_on_failure
            setting = conf.task_acks_on_failure
        for choice in (own, setting):
            if choice is not None:
                return bool(choice)
        return bool(self.acks_on_failure_or_timeout)

    @classmethod
    def on_bound(cls, app: Celery) -> None:
        """Called when a task of this class is bound to ``app`` (override to act on it:
        Celery's ``PeriodicTask`` adds itself to the beat schedule here)."""

    def shadow_name(
        self, args: Sequence[object], kwargs: Mapping[str, object], options: Mapping[str, object]
    ) -> str | None:
        """Override to give one call another name in worker logs and monitors.

        Args:
            args: the call's positional arguments.
            kwargs: the call's keyword arguments.
            options: the call's execution options.

        Returns:
            The name, or None for the task's own name.
        """
        return None

    def _shadow_for(
        self,
        args: Sequence[object] | None,
        kwargs: Mapping[str, object] | None,
        options: Mapping[str, object],
    ) -> str | None:
        """What :meth:`shadow_name` returns for a call (a ``shadow_name=`` function given
        to ``@app.task`` is called with the task first, as Celery's task class does)."""
        given = self.__dict__.get("shadow_name")
        call_args, call_kwargs = tuple(args or ()), dict(kwargs or {})
        if given is not None:
            name: object = given(self, call_args, call_kwargs, options)
        else:
            name = self.shadow_name(call_args, call_kwargs, options)
        return None if name is None else str(name)

    def add_trail(self, result: T) -> T:
        """Record ``result`` (of a task sent from this one) in ``request.children``, when
        :attr:`trail` is set; return it."""
        if self.trail:
            self.request.children.append(result)
        return result
