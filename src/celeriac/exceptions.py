"""The whole celeriac error hierarchy, under Celery's names."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlwaysEagerIgnored",
    "BackendError",
    "BrokerError",
    "CeleryError",
    "ChordError",
    "ConfigurationError",
    "ContentDisallowed",
    "DecodeError",
    "EncodeError",
    "Ignore",
    "ImproperlyConfigured",
    "InvalidTaskError",
    "MaxRetriesExceededError",
    "MessageTooLarge",
    "NotRegistered",
    "OperationalError",
    "QueueNotFound",
    "Reject",
    "Retry",
    "SoftTimeLimitExceeded",
    "TaskError",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLostError",
    "WorkerShutdown",
    "WorkerTerminate",
    "SyncInAsyncContextError",
]


class CeleryError(Exception):
    """Base class of every error celeriac raises."""


class ImproperlyConfigured(CeleryError):
    """The configuration is invalid (a bad URL, an unknown transport, a wrong type)."""


ConfigurationError = ImproperlyConfigured


class OperationalError(CeleryError):
    """A broker or backend operation failed at run time."""


class BrokerError(OperationalError):
    """The broker failed or could not be reached."""


class BackendError(OperationalError):
    """The result backend failed or could not be reached."""


class QueueNotFound(CeleryError, KeyError):
    """A task was routed to a queue that is not defined and cannot be created."""


class TaskError(CeleryError):
    """A task-related error."""


class NotRegistered(TaskError, KeyError):
    """The task name is not registered in this app."""

    def __repr__(self) -> str:
        return f"NotRegistered({self.args[0]!r})" if self.args else "NotRegistered()"

    def __str__(self) -> str:
        return repr(self.args[0]) if self.args else ""


class AlwaysEagerIgnored(CeleryError, UserWarning):
    """A send_task call ignored ``task_always_eager``."""


class MaxRetriesExceededError(TaskError):
    """A task asked to retry more often than ``max_retries`` allows."""

    def __init__(self, *args: Any, task_args: Any = None, task_kwargs: Any = None) -> None:
        super().__init__(*args)
        self.task_args = task_args
        self.task_kwargs = task_kwargs


class TaskRevokedError(TaskError):
    """The task was revoked, terminated or expired before it could run."""


class InvalidTaskError(TaskError):
    """A message is not a valid task message."""


class ChordError(TaskError):
    """A task in a chord header failed."""


class TimeoutError(TaskError):
    """A result did not arrive within the given timeout."""


class WorkerLostError(TaskError):
    """The worker process running the task died."""


class SoftTimeLimitExceeded(TaskError):
    """Raised inside a task when its soft time limit passes."""


class TimeLimitExceeded(TaskError):
    """The task ran past its hard time limit and was stopped."""


class SyncInAsyncContextError(CeleryError, RuntimeError):
    """A blocking call was made from inside a running event loop."""


class EncodeError(CeleryError, ValueError):
    """A value could not be serialized."""


class DecodeError(CeleryError, ValueError):
    """Bytes could not be deserialized into a message or value."""


class ContentDisallowed(DecodeError):
    """A message arrived in a content type that is not in ``accept_content``."""


class MessageTooLarge(EncodeError):
    """A message is larger than ``task_message_max_size`` allows."""


class WorkerShutdown(SystemExit):
    """Raised to ask the worker for a warm shutdown."""


class WorkerTerminate(SystemExit):
    """Raised to ask the worker for a cold shutdown."""


class Retry(TaskError):
    """Raised by ``Task.retry`` to tell the worker the task is being retried."""

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | None = None,
        when: float | Any = None,
        is_eager: bool = False,
        sig: Any = None,
    ) -> None:
        self.message = message
        self.exc = exc
        self.when = when
        self.is_eager = is_eager
        self.sig = sig
        super().__init__(message, exc, when)

    def humanize(self) -> str:
        """Say when the retry happens, as Celery's worker logs it."""
        if isinstance(self.when, int | float):
            return f"in {self.when}s"
        return f"at {self.when}"

    def __str__(self) -> str:
        if self.message:
            return self.message
        if self.exc:
            return f"Retry {self.humanize()}: {self.exc!r}"
        return f"Retry {self.humanize()}"


RetryTaskError = Retry


class Ignore(TaskError):
    """Raised by a task to tell the worker to ignore it: no state is stored."""


class Reject(TaskError):
    """Raised by a task to reject its message, optionally requeuing it."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)

    def __repr__(self) -> str:
        return f"reject requeue={self.requeue}: {self.reason}"
