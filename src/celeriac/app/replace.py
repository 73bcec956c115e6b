"""``Task.replace``: the replacement signature, made to take over the running task.

The replacement gets the task's id, callbacks, errbacks, the rest of its chain and its
chord membership (Celery's ``Task.replace``); ``Task.on_replace`` then sends it (or runs it,
eagerly), so a task class can stamp or change the replacement first, as in Celery 5.3+.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from celeriac.canvas import chain, chord, group, maybe_signature
from celeriac.canvas.signature import Signature
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.app.task import Task

__all__ = ["replacement_for"]


def replacement_for(task: Task[..., object], sig: Signature | Mapping[str, object]) -> Signature:
    """``sig`` set up to replace the request ``task`` is running.

    Raises:
        ValueError: no signature.
        ImproperlyConfigured: a signature already in a chord, or an empty chain (Celery's
            errors).
    """
    replacement = maybe_signature(sig, task.app)
    if replacement is None:
        raise ValueError("replace() needs a signature")
    if "chord" in replacement["options"]:
        raise ImproperlyConfigured("A signature replacing a task must not be part of a chord")
    if isinstance(replacement, chain) and not replacement.tasks:
        raise ImproperlyConfigured("Cannot replace with an empty chain")
    request = task.request
    if isinstance(replacement, group):
        accumulate = task.app.tasks["celery.accumulate"].s(index=0)
        replacement = chord(replacement, accumulate, app=task.app)
    elif isinstance(replacement, chain) and isinstance(replacement.tasks[-1], group):
        # a chain ending in a group ends in a chord whose body gives the list (Celery's)
        steps = replacement.tasks
        accumulate = task.app.tasks["celery.accumulate"].s(index=0)
        steps[-1] = chord(steps[-1], accumulate, app=task.app)
        replacement["kwargs"]["tasks"] = steps
    for callback in request.callbacks or ():
        replacement.link(Signature.from_dict(callback, app=task.app))
    for errback in request.errbacks or ():
        replacement.link_error(Signature.from_dict(errback, app=task.app))
    replacement.freeze(request.id)
    nesting = request.replaced_task_nesting + 1
    replacement.set(
        chord=request.chord,
        group_id=request.group,
        group_index=request.group_index,
        root_id=request.root_id,
        replaced_task_nesting=nesting,
    )
    for step in reversed(request.chain or ()):
        replacement = replacement | Signature.from_dict(step, app=task.app)
    return replacement
