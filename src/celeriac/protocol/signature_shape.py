"""The shape of signatures embedded in task messages, checked before anything uses them.

A signature travels as a dict (``task``, ``args``, ``kwargs``, ``options``,
``subtask_type``, …) and may hold others: ``options.link``/``link_error``, a group's or
chain's ``kwargs.tasks``, a chord's ``kwargs.header``/``body``. :func:`check_signatures`
walks them all without recursion, so a malformed one is refused when the message is
decoded rather than failing later while the task finishes.
"""

from __future__ import annotations

from collections.abc import Iterable

from celeriac.exceptions import InvalidTaskError

__all__ = ["check_signatures"]

#: Where a signature dict holds further signatures: (section, key).
_NESTED = (("options", "link"), ("options", "link_error"), ("kwargs", "tasks"))
_CHORD_PARTS = ("header", "body")


def _problem(sig: object) -> str | None:
    if not isinstance(sig, dict):
        return f"a signature must be a dict, not {type(sig).__name__}"
    if not isinstance(sig.get("task"), str):
        return f"a signature's 'task' must be a string, not {type(sig.get('task')).__name__}"
    for key, kind in (("args", (list, tuple)), ("kwargs", dict), ("options", dict)):
        value = sig.get(key)
        if value is not None and not isinstance(value, kind):
            return f"signature {sig['task']!r}: {key!r} has the wrong type ({type(value).__name__})"
    return None


def _children(sig: dict[str, object]) -> Iterable[object]:
    for section, key in _NESTED:
        holder = sig.get(section)
        value = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(value, list | tuple):
            yield from value
        elif value is not None:
            yield value
    kwargs = sig.get("kwargs")
    if sig.get("subtask_type") == "chord" and isinstance(kwargs, dict):
        for key in _CHORD_PARTS:
            value = kwargs.get(key)
            if isinstance(value, list | tuple):
                yield from value
            elif value is not None:
                yield value


def check_signatures(signatures: Iterable[object], where: str) -> None:
    """Check every signature in ``signatures`` and every one nested in them.

    Raises:
        InvalidTaskError: one is malformed (the message says which and why).
    """
    stack = list(signatures)
    while stack:
        sig = stack.pop()
        problem = _problem(sig)
        if problem is not None:
            raise InvalidTaskError(f"{where}: {problem}")
        assert isinstance(sig, dict)
        stack.extend(_children(sig))
