"""The whole celeriac error hierarchy, under Celery's names."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = [
    "AlreadyRegistered",
    "BackendGetMetaError",
    "BackendStoreError",
    "CDeprecationWarning",
    "CPendingDeprecationWarning",
    "CeleryCommandException",  # noqa: F822 - made by __getattr__
    "CeleryWarning",
    "DuplicateNodenameWarning",
    "DuplicateTaskNameWarning",
    "FixupWarning",
    "IncompleteStream",
    "NotConfigured",
    "SecurityError",
    "SecurityWarning",
    "TaskPredicate",
    "Terminated",
    "reraise",
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
    "LimitExceeded",
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


class SecurityError(CeleryError):
    """A message failed a security check: unsigned, tampered, expired, unknown signer."""


class LimitExceeded(DecodeError):
    """A received message is over a limit (size, arguments, canvas depth)."""


class WorkerShutdown(SystemExit):
    """Raised to ask the worker for a warm shutdown."""


class WorkerTerminate(SystemExit):
    """Raised to ask the worker for a cold shutdown."""


class TaskPredicate(CeleryError):
    """Base class of the exceptions a task raises to steer the worker (retry, ignore, reject)."""


class Retry(TaskPredicate, TaskError):
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


class Ignore(TaskPredicate, TaskError):
    """Raised by a task to tell the worker to ignore it: no state is stored."""


class Reject(TaskPredicate, TaskError):
    """Raised by a task to reject its message, optionally requeuing it."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)

    def __repr__(self) -> str:
        return f"reject requeue={self.requeue}: {self.reason}"


class AlreadyRegistered(TaskError):
    """A task is already registered under that name."""


class IncompleteStream(TaskError):
    """The end of a data stream was reached too early."""


class Terminated(Exception):
    """The task was terminated (``revoke(terminate=True)``)."""


class BackendGetMetaError(BackendError):
    """Reading a task's result from the backend failed (``task_id`` names the task)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args)
        self.task_id: str = kwargs.get("task_id", "")

    def __repr__(self) -> str:
        return super().__repr__() + " task_id:" + self.task_id


class BackendStoreError(BackendError):
    """Storing a task's result in the backend failed (``state``, ``task_id``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args)
        self.state: str = kwargs.get("state", "")
        self.task_id: str = kwargs.get("task_id", "")

    def __repr__(self) -> str:
        return super().__repr__() + " state:" + self.state + " task_id:" + self.task_id


class CeleryWarning(UserWarning):
    """Base class of celeriac's warnings."""


class DuplicateNodenameWarning(CeleryWarning):
    """Several workers answered with the same node name."""


class DuplicateTaskNameWarning(CeleryWarning):
    """Two tasks were registered under one name."""


class FixupWarning(CeleryWarning):
    """A framework fix-up (Django) could not be applied."""


class NotConfigured(CeleryWarning):
    """The app runs with no configuration."""


class SecurityWarning(CeleryWarning):
    """An unsafe set-up (pickle accepted, no message signing)."""


class CPendingDeprecationWarning(PendingDeprecationWarning):
    """A feature that will be deprecated."""


class CDeprecationWarning(DeprecationWarning):
    """A deprecated feature."""


def reraise(tp: type[BaseException], value: BaseException, tb: Any = None) -> NoReturn:
    """Raise ``value`` again with the traceback ``tb``."""
    if value.__traceback__ is not tb:
        raise value.with_traceback(tb)
    raise value


def __getattr__(name: str) -> Any:
    # CeleryCommandException is a click exception: made on first use, so importing the
    # exceptions does not import click.
    if name == "CeleryCommandException":
        import click

        class CeleryCommandException(click.ClickException):
            """A command error with its exit code."""

            def __init__(self, message: str, exit_code: int) -> None:
                super().__init__(message=message)
                self.exit_code = exit_code  # type: ignore[misc]

        globals()[name] = CeleryCommandException
        return CeleryCommandException
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
