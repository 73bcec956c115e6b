"""``@app.task(pydantic=True)``: Pydantic models in, Pydantic models out (Celery 5.5+).

A task function whose parameters are annotated with :class:`pydantic.BaseModel` subclasses
gets them validated from what the message carries (``Model.model_validate(value,
strict=pydantic_strict, context={**pydantic_context, 'celery_app': app,
'celery_task_name': name})``); a returned model of the annotated return type is dumped
(``model_dump(mode='json', **pydantic_dump_kwargs)``) so it can be stored as a result. A
caller that passes a model for such a parameter has it dumped before the message is made,
unless the serializer is pickle (:func:`dump_call_arguments`), as Celery does.

Pydantic is imported only when a task asks for it: without it, ``pydantic=True`` raises
:class:`~celeriac.exceptions.ImproperlyConfigured`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["PYDANTIC_OPTIONS", "dump_call_arguments", "pydantic_wrapper", "use_models"]


def _optional_arg(annotation: object) -> object | None:
    """``X`` for ``Optional[X]`` / ``X | None``, else None."""
    origin = typing.get_origin(annotation)
    if origin is not typing.Union and origin is not types.UnionType:
        return None
    members = typing.get_args(annotation)
    if len(members) != 2 or type(None) not in members:
        return None
    member: object = next(member for member in members if member is not type(None))
    return member


def _is_class(annotation: object) -> bool:
    return inspect.isclass(annotation) and not isinstance(annotation, types.GenericAlias)


class _Models:
    """What the wrapper knows of one task function: its signature, hints and settings."""

    def __init__(
        self,
        app: object,
        fun: Callable[..., object],
        task_name: str,
        strict: bool,
        context: Mapping[str, object] | None,
        dump_kwargs: Mapping[str, object] | None,
        task: object = None,
    ) -> None:
        try:
            pydantic = importlib.import_module("pydantic")
        except ModuleNotFoundError as exc:
            raise ImproperlyConfigured(
                "You need to install pydantic to use pydantic model serialization."
            ) from exc
        self.base_model: type[Any] = pydantic.BaseModel
        self._app, self.task_name, self.strict = app, task_name, strict
        self.task = task
        self.context = dict(context or {})
        self.dump_kwargs = {"mode": "json", **(dump_kwargs or {})}
        self.signature = inspect.signature(fun)
        try:  # string annotations (from __future__ import annotations) resolved
            self.hints: dict[str, Any] | None = typing.get_type_hints(fun)
        except (NameError, AttributeError, TypeError):
            self.hints = None
        params = self.signature.parameters.items()
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self.positional_names = [name for name, param in params if param.kind in positional]
        self.keyword_names = {name for name, param in params if param.kind in keyword}

    def annotation(self, name: str) -> object:
        if self.hints and name in self.hints:
            return self.hints[name]
        if name == "return":
            return self.signature.return_annotation
        return self.signature.parameters[name].annotation

    def model_for(self, name: str, value: object) -> type[Any] | None:
        """The model the argument ``name`` is validated with, or None."""
        annotation = self.annotation(name)
        optional = _optional_arg(annotation)
        if optional is not None and value is not None:
            annotation = optional
        if _is_class(annotation) and issubclass(typing.cast(type, annotation), self.base_model):
            return typing.cast("type[Any]", annotation)
        return None

    def validate(self, model: type[Any], value: object) -> object:
        app = getattr(self.task, "app", None) if self.task is not None else self._app
        context = {**self.context, "celery_app": app, "celery_task_name": self.task_name}
        return model.model_validate(value, strict=self.strict, context=context)

    def arguments(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> inspect.BoundArguments:
        bound = self.signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            model = self.model_for(name, value)
            if model is not None:
                bound.arguments[name] = self.validate(model, value)
        return bound

    def returned(self, value: object) -> object:
        annotation = self.annotation("return")
        optional = _optional_arg(annotation)
        if optional is not None:
            annotation = optional
        if (
            _is_class(annotation)
            and isinstance(value, self.base_model)
            and isinstance(value, typing.cast(type, annotation))
        ):
            return typing.cast(Any, value).model_dump(**self.dump_kwargs)
        return value

    def dump_argument(self, name: str | None, value: object) -> object:
        """A model dumped when the wrapper rebuilds an equal model from the dump (other
        values, and models it would not rebuild, are left for the serializer)."""
        if name is None or not isinstance(value, self.base_model):
            return value
        if hasattr(type(value), "__json__"):  # kombu's hook: it knows how to be sent
            return value
        model = self.model_for(name, value)
        if model is None:
            return value
        try:
            dumped = value.model_dump(**self.dump_kwargs)
            if self.validate(model, dumped) == value:
                return dumped
        except Exception:  # a validator that only works on the worker: left as it is
            pass
        return value

    def dump_arguments(
        self, args: object, kwargs: object, bound: bool = False
    ) -> tuple[object, object]:
        """``(args, kwargs)`` with the caller's models dumped (the same objects when none is)."""
        call_args = () if args is None else args
        call_kwargs = {} if kwargs is None else kwargs
        if not isinstance(call_args, list | tuple) or not isinstance(call_kwargs, Mapping):
            return args, kwargs  # for send_task to reject
        values = (*call_args, *call_kwargs.values())
        if not any(isinstance(value, self.base_model) for value in values):
            return args, kwargs
        try:
            self.signature.bind(*([None] if bound else []), *call_args, **call_kwargs)
        except TypeError:
            return args, kwargs
        names = self.positional_names[1:] if bound else self.positional_names
        new_args = [
            self.dump_argument(names[index] if index < len(names) else None, value)
            for index, value in enumerate(call_args)
        ]
        new_kwargs = {
            key: self.dump_argument(key if key in self.keyword_names else None, value)
            for key, value in call_kwargs.items()
        }
        if any(new is not old for new, old in zip(new_args, call_args, strict=True)):
            args = new_args if isinstance(call_args, list) else tuple(new_args)
        if any(new_kwargs[key] is not value for key, value in call_kwargs.items()):
            kwargs = new_kwargs
        return args, kwargs


def pydantic_wrapper(
    app: object,
    fun: Callable[..., object],
    task_name: str,
    strict: bool = False,
    context: Mapping[str, object] | None = None,
    dump_kwargs: Mapping[str, object] | None = None,
    *,
    task: object = None,
) -> Callable[..., object]:
    """``fun`` validating its model arguments and dumping its returned model (Celery's
    ``pydantic_wrapper``); the wrapper's ``dump_arguments(args, kwargs, bound=)`` dumps a
    caller's models. ``async def`` functions get an ``async def`` wrapper. With ``task``
    the validation context's ``celery_app`` is that task's app at each call (a
    ``shared_task``'s is the current app)."""
    models = _Models(app, fun, task_name, strict, context, dump_kwargs, task)
    wrapper: Callable[..., object]
    if inspect.iscoroutinefunction(fun):

        @functools.wraps(fun)
        async def async_wrapper(*args: object, **kwargs: object) -> object:
            bound = models.arguments(args, kwargs)
            return models.returned(await typing.cast(Any, fun)(*bound.args, **bound.kwargs))

        wrapper = async_wrapper
    else:

        @functools.wraps(fun)
        def sync_wrapper(*args: object, **kwargs: object) -> object:
            bound = models.arguments(args, kwargs)
            return models.returned(fun(*bound.args, **bound.kwargs))

        wrapper = sync_wrapper
    setattr(wrapper, "dump_arguments", models.dump_arguments)  # noqa: B010 - Celery's attribute
    return wrapper


def dump_call_arguments(
    task: object,
    args: Sequence[object] | None,
    kwargs: Mapping[str, object] | None,
    serializer: object,
) -> tuple[Any, Any]:
    """A ``pydantic=True`` task's call with the caller's models dumped (not for pickle,
    which sends them as they are); other tasks' calls unchanged."""
    dump = getattr(task, "_dump_pydantic_arguments", None)
    if dump is None or serializer == "pickle":
        return args, kwargs
    return typing.cast("tuple[Any, Any]", dump(args, kwargs))


PYDANTIC_OPTIONS = ("pydantic", "pydantic_strict", "pydantic_context", "pydantic_dump_kwargs")


def use_models(task: Any, fun: Callable[..., object], options: Mapping[str, Any]) -> None:
    """Make a function task ``pydantic=True`` (``options``: the ``pydantic*`` task options)."""
    if options.get("pydantic") is not True:
        return
    wrapper = pydantic_wrapper(
        None,
        fun,
        task.name,
        bool(options.get("pydantic_strict", False)),
        options.get("pydantic_context"),
        options.get("pydantic_dump_kwargs"),
        task=task,
    )
    task._fun = wrapper
    task._dump_pydantic_arguments = functools.partial(
        wrapper.dump_arguments,  # type: ignore[attr-defined]
        bound=task.bind,
    )
