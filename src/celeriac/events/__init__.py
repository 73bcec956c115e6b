"""Monitoring events: send them (EventDispatcher), listen to them (EventReceiver), and keep
the cluster's picture they draw (State), with Celery's names (``app.events``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from celeriac.events.applike import EventsApp
from celeriac.events.dispatcher import EventDispatcher, anon_nodename
from celeriac.events.event import event_exchange, get_exchange
from celeriac.events.receiver import EventReceiver, Handler
from celeriac.events.records import Task, Worker
from celeriac.events.state import State
from celeriac.protocol.events import Event, event, group_from
from celeriac.transports.base import Transport

__all__ = [
    "Event",
    "EventDispatcher",
    "EventReceiver",
    "Events",
    "State",
    "Task",
    "Worker",
    "anon_nodename",
    "event",
    "event_exchange",
    "get_exchange",
    "group_from",
]


class Events:
    """``app.events``: the app's dispatchers, receivers and states.

    ``app.events.Receiver(connection, handlers={"*": fn})``,
    ``app.events.Dispatcher(connection, hostname=…)`` and ``app.events.State()`` take
    Celery's arguments; the connection may be omitted.
    """

    def __init__(self, app: EventsApp) -> None:
        self.app = app

    def Receiver(
        self,
        connection: Transport | None = None,
        handlers: Mapping[str, Handler] | None = None,
        routing_key: str = "#",
        node_id: str | None = None,
        queue_prefix: str | None = None,
        accept: list[str] | None = None,
        **_: Any,
    ) -> EventReceiver:
        """An :class:`EventReceiver` on ``connection`` (a transport of its own when omitted)."""
        return EventReceiver(
            self.app,
            connection,
            handlers=handlers,
            routing_key=routing_key,
            node_id=node_id,
            queue_prefix=queue_prefix,
            accept=accept,
        )

    def Dispatcher(
        self,
        connection: Transport | None = None,
        hostname: str | None = None,
        enabled: bool = True,
        groups: Iterable[str] | None = None,
        buffer_group: Iterable[str] | None = None,
        buffer_limit: int = 24,
        serializer: str | None = None,
        **_: Any,
    ) -> EventDispatcher:
        """An :class:`EventDispatcher` publishing on ``connection`` (the app's when omitted)."""
        return EventDispatcher(
            self.app,
            hostname,
            enabled=enabled,
            groups=groups,
            transport=connection,
            buffer_group=buffer_group or (),
            buffer_limit=buffer_limit,
            serializer=serializer,
        )

    def State(self, **kwargs: Any) -> State:
        """A new :class:`State` (Celery's keyword arguments)."""
        return State(**kwargs)
