"""Limits on received messages: body size, argument count and canvas nesting depth.

Each check returns None or the reason a message is over its limit; the worker dead-letters
it with that reason. The walks are iterative, so a hostile message cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from celeriac.protocol.message import Message
from celeriac.protocol.task_message import TaskMessage

__all__ = ["MessageLimits", "canvas_depth"]


def canvas_depth(*roots: object) -> int:
    """How deeply signatures (dicts with a ``task`` key) nest inside each other in ``roots``.

    A chain's flat list of signatures counts 1; a chord whose body has a callback counts 3.
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(root, 0) for root in roots]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            if isinstance(value.get("task"), str):
                depth += 1
                deepest = max(deepest, depth)
            stack.extend((item, depth) for item in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((item, depth) for item in value)
    return deepest


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """The limits a worker enforces (0 or None: no limit).

    Attributes:
        max_size: largest body in bytes, as received (``task_message_max_size``).
        max_args: most positional plus keyword arguments (``task_max_args``).
        max_depth: deepest signature nesting (``task_max_canvas_depth``).
    """

    max_size: int | None = None
    max_args: int | None = None
    max_depth: int | None = None

    def check_message(self, message: Message) -> str | None:
        """The reason the raw message is too large, or None."""
        size = len(message.body)
        if self.max_size and size > self.max_size:
            return (
                f"message too large: {size:,} bytes, more than task_message_max_size "
                f"({self.max_size:,} bytes)"
            )
        return None

    def check_call(self, call: TaskMessage) -> str | None:
        """The reason the decoded task is over a limit, or None."""
        count = len(call.args) + len(call.kwargs)
        if self.max_args and count > self.max_args:
            return f"too many arguments: {count:,}, more than task_max_args ({self.max_args:,})"
        canvas = (call.callbacks, call.errbacks, call.chain, call.chord)
        if self.max_depth and any(canvas):  # a plain task (most of them) has depth 0
            depth = canvas_depth(*canvas)
            if depth > self.max_depth:
                return (
                    f"canvas nested too deeply: {depth} levels, more than "
                    f"task_max_canvas_depth ({self.max_depth})"
                )
        return None
