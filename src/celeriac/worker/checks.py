"""Start-up checks: one warning line, saying what will happen, for a worker set up to idle or fail.

:meth:`Worker.start <celeriac.worker.worker.Worker.start>` calls :func:`warn_at_startup`
once logging is set up and the app is finalized. Each check returns ``None`` or one line:

- the queues ``-Q`` names are not in ``task_queues`` while ``task_create_missing_queues``
  is off (Celery refuses to start; celeriac consumes them anyway);
- the app has no tasks registered (every message the worker takes fails as unregistered);
- the result backend cannot be reached (tasks run, their results cannot be stored);
- ``accept_content`` or ``result_accept_content`` lets pickle or YAML in;
- the app changes settings celeriac accepts but does not act on (named).

A ``-X`` that excludes every queue is not a warning: the worker refuses to start.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from celeriac.config.inert import inert_settings_warning
from celeriac.config.queues import declared_queues
from celeriac.security.content import insecure_content_warning
from celeriac.utils.redis_url import redacted_url

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = [
    "PROBE_TIMEOUT",
    "backend_warning",
    "content_warning",
    "queue_warning",
    "startup_warnings",
    "tasks_warning",
    "warn_at_startup",
]

logger = logging.getLogger("celery.worker")

#: Seconds the result backend probe waits to connect, then for the answer.
PROBE_TIMEOUT = 2.0

#: The task id the probe reads (a result nobody stores: the read answers PENDING).
PROBE_ID = "celeriac-startup-check"


def warn_at_startup(app: Celery, queues: Sequence[str]) -> None:
    """Log one warning line per problem :func:`startup_warnings` finds."""
    for message in startup_warnings(app, queues):
        logger.warning(message)


def startup_warnings(app: Celery, queues: Sequence[str]) -> list[str]:
    """The warning lines for a worker of ``app`` consuming ``queues`` (``[]`` when all is well)."""
    found = (
        queue_warning(app, queues),
        tasks_warning(app),
        backend_warning(app),
        inert_settings_warning(app.conf),
        user_options_warning(app),
        content_warning(app),
    )
    return [message for message in found if message]


def user_options_warning(app: Celery) -> str | None:
    """``app.user_options`` holds options: celeriac's commands do not add them."""
    named = sorted(kind for kind, options in app.user_options.items() if options)
    if not named:
        return None
    return (
        f"app.user_options[{', '.join(named)}] are not added to celeriac's commands "
        "(see docs/compatibility.md)"
    )


def queue_warning(app: Celery, queues: Sequence[str]) -> str | None:
    """Queues the worker consumes that Celery would refuse: not declared, none may be created."""
    if app.conf.task_create_missing_queues:
        return None
    declared = declared_queues(app.conf)
    missing = [queue for queue in queues if queue not in declared]
    if not missing:
        return None
    what = "no queue declared" if len(missing) == len(queues) else "queues not declared"
    return (
        f"-Q names {what} in task_queues ({', '.join(declared)}): {', '.join(missing)}; "
        "task_create_missing_queues is off, so Celery would refuse to start, but this worker "
        "consumes them anyway (declare them in task_queues to silence this)"
    )


def tasks_warning(app: Celery) -> str | None:
    """The app registers no task: every message the worker takes fails as unregistered."""
    if app.tasks.regular():
        return None
    return (
        f"app {app.main or '__main__'!r} has no tasks registered: every task this worker "
        "receives will fail as unregistered and its message be dead-lettered (does -A name "
        "the module defining the tasks? else list their modules in include= or imports)"
    )


def content_warning(app: Celery) -> str | None:
    """``accept_content`` or ``result_accept_content`` lets pickle or YAML in."""
    conf = app.conf
    return insecure_content_warning(
        [
            ("accept_content", conf.accept_content),
            ("result_accept_content", conf.result_accept_content),
            ("event_serializer", [conf.event_serializer] if conf.event_serializer else None),
        ]
    )


def backend_warning(app: Celery) -> str | None:
    """Read one result from a private copy of the backend, without retries; None if it answers."""
    live = app.backend
    if not live.stores_results:
        return None
    extra = {
        **(live.options.extra or {}),
        "retry_policy": {"max_retries": 0},
        "socket_connect_timeout": PROBE_TIMEOUT,
        "socket_timeout": PROBE_TIMEOUT,
    }
    probe = type(live)(live.url, dataclasses.replace(live.options, extra=extra))
    try:
        probe.get(PROBE_ID)
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return (
            f"the result backend {redacted_url(live.url)} cannot be reached ({reason}): "
            "tasks will run but their results cannot be stored; their messages stay "
            "unacked and the tasks run again once it is back"
        )
    finally:
        probe.close()
    return None
