"""Running a project's consumer bootsteps (``app.steps['consumer']``) beside a consumer."""

from __future__ import annotations

import asyncio
from typing import Any

from celeriac.bootsteps import StepRunner

__all__ = ["consumer_steps"]


def consumer_steps(app: Any, consumer: Any, runner: asyncio.Task[Any]) -> StepRunner | None:
    """Start the consumer steps for ``consumer``; they stop when its ``runner`` task ends."""
    types = app.steps["consumer"]
    if not types:
        return None
    steps = StepRunner(types, consumer)
    steps.start()
    runner.add_done_callback(lambda _task: steps.stop())
    return steps
