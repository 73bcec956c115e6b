"""Celery's ``celery.app.autoretry``: give a task automatic retries after the fact.

``add_autoretry_behaviour(task, autoretry_for=(IOError,), retry_kwargs={"max_retries": 5})``
sets the options ``@app.task(autoretry_for=...)`` takes; celeriac's task runner retries
on those exceptions (with ``retry_backoff``, ``retry_backoff_max``, ``retry_jitter``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["add_autoretry_behaviour"]

#: The options this sets, with the value a task keeps when the option is not given.
OPTIONS = (
    "autoretry_for",
    "dont_autoretry_for",
    "retry_kwargs",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
)


def add_autoretry_behaviour(task: Any, **options: Any) -> None:
    """Set ``task``'s automatic-retry options (those not given keep the task's own)."""
    for name in OPTIONS:
        if name in options:
            value = options[name]
            if name in ("autoretry_for", "dont_autoretry_for"):
                value = tuple(value or ())
            setattr(task, name, value)
