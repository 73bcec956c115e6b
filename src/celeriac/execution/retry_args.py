"""The arguments of a retry: ``self.retry(args=...)`` or ``kwargs=...`` given alone.

Celery 5.7 (#6494): explicit args (or kwargs) may change how the task's parameters are
passed; inherited values that do not conflict with the new calling convention are kept,
so ``retry(kwargs={"foo": 2})`` of a call ``(1, 2)`` runs ``(foo=2, bar=2)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["retry_arguments"]


def retry_arguments(
    function: Callable[..., Any],
    request_args: Sequence[object],
    request_kwargs: Mapping[str, object],
    args: Sequence[object] | None,
    kwargs: Mapping[str, object] | None,
) -> tuple[list[object], dict[str, object]]:
    """``(args, kwargs)`` the retry is sent with (Celery's ``Task.retry`` rules)."""
    new_args = list(args) if args is not None else list(request_args)
    new_kwargs = dict(kwargs) if kwargs is not None else dict(request_kwargs)
    switching = (args is not None and kwargs is None and request_kwargs) or (
        kwargs is not None and args is None and request_args
    )
    if not switching:
        return new_args, new_kwargs
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return new_args, new_kwargs
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if args is not None:  # new positional args replace inherited keywords of those names
        positional = [
            p
            for p in signature.parameters.values()
            if p.kind in (inspect.Parameter.POSITIONAL_ONLY, keyword)
        ]
        new_kwargs = dict(request_kwargs)
        for parameter in positional[: len(args)]:
            if parameter.kind == keyword:
                new_kwargs.pop(parameter.name, None)
        return new_args, new_kwargs
    try:  # a new keyword replaces an inherited positional argument of that name
        bound = signature.bind_partial(*request_args)
    except TypeError:
        return new_args, new_kwargs
    for name in list(new_kwargs):
        if name in bound.arguments and signature.parameters[name].kind == keyword:
            bound.arguments[name] = new_kwargs.pop(name)
    return list(bound.args), {**bound.kwargs, **new_kwargs}
