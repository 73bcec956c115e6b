"""``shared_task``: a task for reusable apps, registered with every app."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, overload

from celeriac.app.builtins import shared_task_register
from celeriac.app.task import Task

__all__ = ["shared_task"]

P = ParamSpec("P")
R = TypeVar("R")


@overload
def shared_task(fun: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...


@overload
def shared_task(fun: Callable[P, R], /) -> Task[P, R]: ...


@overload
def shared_task(
    *,
    bind: bool = ...,
    base: type[Task[Any, Any]] | None = ...,
    name: str | None = ...,
    **options: Any,
) -> Callable[[Callable[..., Any]], Task[Any, Any]]: ...


def shared_task(*args: Any, **options: Any) -> Any:
    """Define a task that does not belong to one app: it uses the current app.

    Usable as ``@shared_task`` or ``@shared_task(bind=True, ...)``.
    """

    def create(fun: Callable[..., Any]) -> Task[Any, Any]:
        opts = dict(options)
        base: type[Task[Any, Any]] = opts.pop("base", None) or Task
        task = base(fun, name=opts.pop("name", None), **opts)
        shared_task_register(task, options)
        return task

    if len(args) == 1 and callable(args[0]) and not options:
        return create(args[0])
    return create
