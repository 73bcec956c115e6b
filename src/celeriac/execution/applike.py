"""AppLike and TaskLike: what the layers below ``app`` need of an app and of a task.

``canvas``, ``results`` and ``middleware`` sit below ``app`` and never import it; they
type the app and tasks they are given with these protocols, which
:class:`celeriac.Celery` and :class:`celeriac.Task` satisfy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from celeriac.backends.base import Backend
    from celeriac.config.settings import Settings
    from celeriac.execution.request import Context
    from celeriac.transports.base import Transport

__all__ = ["AppLike", "ControlLike", "TaskLike"]


class ControlLike(Protocol):
    """The remote control a result handle uses (``app.control``)."""

    def revoke(
        self,
        task_id: str | Iterable[str],
        destination: str | list[str] | None = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        *,
        connection: Transport | None = ...,
        reply: bool = ...,
        timeout: float = ...,
    ) -> object:
        """Tell workers to never run these task ids."""
        ...


class TaskLike(Protocol):
    """A registered task, as the lower layers see it."""

    @property
    def name(self) -> str:
        """The registered name."""
        ...

    @property
    def app(self) -> AppLike:
        """The app the task belongs to."""
        ...


class AppLike(Protocol):
    """An app, as the lower layers see it: settings, result backend, tasks, control."""

    @property
    def conf(self) -> Settings:
        """The settings."""
        ...

    @property
    def backend(self) -> Backend:
        """The result backend of this process."""
        ...

    @property
    def tasks(self) -> Mapping[str, TaskLike]:
        """The registered tasks by name."""
        ...

    @property
    def control(self) -> ControlLike:
        """Remote control of the workers."""
        ...

    def result_meta(
        self,
        task_id: str,
        state: str,
        result: object,
        *,
        request: Context | None = None,
        traceback: str | None = None,
        children: list[object] | None = None,
    ) -> dict[str, object]:
        """The stored meta for a state change, in Celery's shape."""
        ...
