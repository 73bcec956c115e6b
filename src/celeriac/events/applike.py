"""EventsApp: what the events package needs of an app (``celeriac.Celery`` satisfies it).

``events`` sits below ``app`` (the app's ``task-sent`` and ``app.events`` use it), so it
types the app it is given with this protocol and never imports ``app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from celeriac.config.settings import Settings
    from celeriac.transports.base import Transport
    from celeriac.utils.clock import LamportClock

__all__ = ["BroadcastControl", "EventsApp"]


class BroadcastControl(Protocol):
    """The part of ``app.control`` a receiver uses to wake workers up."""

    def broadcast(
        self,
        command: str,
        arguments: dict[str, object] | None = None,
        destination: str | list[str] | None = None,
        connection: Transport | None = None,
        reply: bool = False,
    ) -> object:
        """Send a control command to every worker."""
        ...


class EventsApp(Protocol):
    """An app, as dispatchers and receivers see it."""

    @property
    def conf(self) -> Settings:
        """The settings."""
        ...

    @property
    def clock(self) -> LamportClock:
        """This process's Lamport clock."""
        ...

    @property
    def transport(self) -> Transport:
        """The broker transport of this process."""
        ...

    def new_transport(self) -> Transport:
        """A transport of its own (a receiver listens on one)."""
        ...

    @property
    def control(self) -> BroadcastControl:
        """Remote control."""
        ...
