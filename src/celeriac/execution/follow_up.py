"""Follow-ups: what a worker publishes on a finished task's behalf, and how patiently.

A chain's next step, link callbacks, errbacks, a completed chord's body and a task's
retry are sent by the worker after the task's body ran. Sent with the client's publish
retry policy (``task_publish_retry_policy``: 3 retries, well under a second), one that
falls in a broker restart fails, and the work it carries would be lost (a chain that
stops) or turned into a FAILURE (a chord body's ``ChordError``). Inside
:func:`follow_up`, the publish retry policy keeps retrying for at least
:data:`MIN_RETRIES` attempts, up to :data:`MIN_INTERVAL_MAX` seconds apart (about half a
minute): enough for a broker restart or a failover. When even that fails, the worker
requeues the task's message (the task runs again, at least once) rather than acking it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["MIN_INTERVAL_MAX", "MIN_RETRIES", "active", "follow_up"]

#: Publish retries a follow-up makes at least (the policy's own count when larger).
MIN_RETRIES = 30
#: The longest pause between two of them, at least (seconds).
MIN_INTERVAL_MAX = 1.0

_ACTIVE: ContextVar[bool] = ContextVar("celeriac_follow_up", default=False)


def active() -> bool:
    """Whether the current publish is a worker's follow-up."""
    return _ACTIVE.get()


@contextmanager
def follow_up() -> Iterator[None]:
    """Mark the publishes made inside (and in threads started inside with
    ``asyncio.to_thread``, which copies the context) as follow-ups."""
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
