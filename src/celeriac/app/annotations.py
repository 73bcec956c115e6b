"""Celery's ``celery.app.annotations``: ``task_annotations`` applied to tasks.

The setting is a dict by task name (``'*'`` for every task), an object with
``annotate(task)`` returning a dict (or ``None``), an import path of either, or a list of
those. :func:`apply_annotations` sets each annotated attribute on the task (as Celery's
``Task.annotate``) when the app is finalized; the worker also reads rate limits from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from celeriac.utils.imports import import_from_string

__all__ = ["MapAnnotation", "apply_annotations", "prepare", "resolve_all"]

logger = logging.getLogger("celery.app")


class MapAnnotation(dict[str, Any]):
    """A ``{task name: {attribute: value}}`` annotation (``'*'`` matches every task)."""

    def annotate_any(self) -> Any:
        """The options for every task (``'*'``), or ``None``."""
        return self.get("*")

    def annotate(self, task: Any) -> Any:
        """The options for ``task`` by its name, or ``None``."""
        return self.get(getattr(task, "name", task))


def prepare(annotations: Any) -> list[Any]:
    """The setting as a list of annotation objects (dicts become :class:`MapAnnotation`)."""

    def expand(item: Any) -> Any:
        if isinstance(item, str):
            item = import_from_string(item)
        if isinstance(item, Mapping):
            return MapAnnotation(item)
        return item() if isinstance(item, type) else item

    if annotations is None:
        return []
    if not isinstance(annotations, list | tuple):
        annotations = (annotations,)
    return [expand(item) for item in annotations]


def resolve_all(anno: list[Any], task: Any) -> Iterator[Mapping[str, Any]]:
    """The option dicts for ``task``: the first annotation naming it, then the first
    ``'*'`` one (Celery's order)."""
    by_name = next((found for a in anno if (found := a.annotate(task))), None)
    if by_name:
        yield by_name
    any_task = next(
        (found for a in anno if hasattr(a, "annotate_any") and (found := a.annotate_any())),
        None,
    )
    if any_task:
        yield any_task


def apply_annotations(task: Any, annotations: Any) -> None:
    """Set the annotated attributes on ``task`` (Celery's ``Task.annotate``); ``@name``
    keys (Celery's ``add_around``) are not supported and logged."""
    for options in reversed(list(resolve_all(prepare(annotations), task))):
        for key, value in options.items():
            if key.startswith("@"):
                logger.warning("task_annotations: %s: %r is not supported", task.name, key)
                continue
            setattr(task, key, value)
