"""Celery's ``celery.concurrency``: the execution pools by name.

celeriac's worker picks its pool by name (``-P prefork|threads|solo``) and runs its own
implementations; the classes here are Celery's standalone ``TaskPool`` API
(``apply_async(target, args, kwargs, callback=...)``) for code that drives a pool itself.
``eventlet`` and ``gevent`` are not provided (``async def`` tasks run on asyncio;
docs/compatibility.md).
"""

from __future__ import annotations

import os

from celeriac.utils.imports import import_from_string

__all__ = ["ALIASES", "get_available_pool_names", "get_implementation"]

#: Pool names and the classes implementing them (``custom``: ``CELERY_CUSTOM_WORKER_POOL``).
ALIASES: dict[str, str] = {
    "prefork": "celeriac.concurrency.prefork:TaskPool",
    "processes": "celeriac.concurrency.prefork:TaskPool",
    "solo": "celeriac.concurrency.solo:TaskPool",
    "threads": "celeriac.concurrency.thread:TaskPool",
}
_custom = os.environ.get("CELERY_CUSTOM_WORKER_POOL")
if _custom:
    ALIASES["custom"] = _custom


def get_implementation(cls: str | type) -> type:
    """The pool class for a name (``'threads'``), an import string, or a class itself.

    Raises:
        NotImplementedError: ``eventlet``/``gevent`` (use ``async def`` tasks instead).
    """
    if isinstance(cls, type):
        return cls
    if cls in ("eventlet", "gevent"):
        raise NotImplementedError(
            f"celeriac has no {cls} pool: write async def tasks (they run on the worker's "
            "asyncio loop) or use -P threads"
        )
    found = import_from_string(ALIASES.get(cls, cls))
    if not isinstance(found, type):
        raise TypeError(f"{cls!r} does not name a pool class")
    return found


def get_available_pool_names() -> tuple[str, ...]:
    """Every pool name :func:`get_implementation` accepts."""
    return tuple(ALIASES)
