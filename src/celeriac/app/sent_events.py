"""SentEvents: the producer's ``task-sent`` event, when ``task_send_sent_event`` is on.

Published by the process that sends the task (node name ``gen<pid>@<host>``), right after
the message went to the broker, on routing key ``task.sent`` and never batched, with
Celery's fields (vector 13): ``uuid``, ``root_id``, ``parent_id``, ``name``, ``args``,
``kwargs`` (the reprs), ``retries``, ``eta``, ``expires``, ``queue``, ``exchange`` and
``routing_key``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from celeriac.events import EventDispatcher
from celeriac.middleware.base import Middleware
from celeriac.protocol.message import Message
from celeriac.utils.process import current_pid

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["SentEvents"]


class SentEvents(Middleware):
    """Sends ``task-sent`` after each publish while ``task_send_sent_event`` is on."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._dispatcher: EventDispatcher | None = None
        self._lock = threading.Lock()

    def _get_dispatcher(self) -> EventDispatcher:
        dispatcher = self._dispatcher
        if dispatcher is None or dispatcher.pid != current_pid():  # new after a fork
            with self._lock:
                dispatcher = self._dispatcher = EventDispatcher(self.app)
        return dispatcher

    def after_publish(self, message: Message, queue: str) -> None:
        if not self.app.conf["task_send_sent_event"]:
            return
        headers = message.headers
        if "task" not in headers:  # not a protocol 2 task message
            return
        info = message.properties.get("delivery_info") or {}
        self._get_dispatcher().send(
            "task-sent",
            uuid=headers.get("id"),
            root_id=headers.get("root_id"),
            parent_id=headers.get("parent_id"),
            name=headers.get("task"),
            args=headers.get("argsrepr"),
            kwargs=headers.get("kwargsrepr"),
            retries=headers.get("retries", 0),
            eta=headers.get("eta"),
            expires=headers.get("expires"),
            queue=queue,
            exchange=info.get("exchange", ""),
            routing_key=info.get("routing_key", queue),
        )
