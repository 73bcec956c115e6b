"""``shared_task``: a task for reusable apps, registered with every app."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from celeriac.app.pydantic_args import PYDANTIC_OPTIONS, use_models
from celeriac.app.task import Task

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = [
    "finalize_callbacks",
    "registered_apps",
    "shared_task",
    "shared_task_register",
    "shared_tasks",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Every app created in this process (shared_task registers its task with each).
registered_apps: list[Celery] = []
#: ``connect_on_app_finalize`` callbacks: each is called with every app when it is finalized.
finalize_callbacks: list[Callable[[Any], Any]] = []
#: Tasks made with shared_task, registered with every app created later.
shared_tasks: list[Task[..., object]] = []


def shared_task_register(task: Task[..., object]) -> None:
    """Remember a shared task for apps made later and register it with existing ones."""
    shared_tasks.append(task)
    for app in registered_apps:
        app.tasks.register(task)


@overload
def shared_task(fun: Callable[P, Coroutine[object, object, R]], /) -> Task[P, R]: ...


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


def shared_task(
    *args: Callable[..., object], **options: object
) -> Task[..., object] | Callable[[Callable[..., object]], Task[..., object]]:
    """Define a task that does not belong to one app: it uses the current app.

    Usable as ``@shared_task`` or ``@shared_task(bind=True, ...)``.
    """

    def create(fun: Callable[..., object]) -> Task[..., object]:
        opts = dict(options)
        base = opts.pop("base", None) or Task
        if not (isinstance(base, type) and issubclass(base, Task)):
            raise TypeError(f"a task's base must be a Task subclass, not {base!r}")
        name = opts.pop("name", None)
        bind = bool(opts.pop("bind", False))
        models = {key: opts.pop(key) for key in PYDANTIC_OPTIONS if key in opts}
        task = base(fun, name=None if name is None else str(name), bind=bind)
        for key, value in opts.items():  # as Task(**options) does
            setattr(task, key, value)
        use_models(task, fun, models)  # pydantic=True, as app.task does
        shared_task_register(task)
        return task

    if len(args) == 1 and callable(args[0]) and not options:
        return create(args[0])
    return create
