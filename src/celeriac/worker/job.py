"""Job: one received task message on its way through the worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from celeriac.app.task import Task
from celeriac.execution.options import UNSET, CallOptions, ResolvedOptions, resolve
from celeriac.execution.request import Context, context_from_message
from celeriac.protocol.task_message import TaskMessage
from celeriac.transports.base import Delivery

if TYPE_CHECKING:
    from celeriac.config.settings import Settings

__all__ = ["Job", "request_for"]


@dataclass(slots=True)
class Job:
    """A delivery decoded into a task call, with the request the task will see."""

    delivery: Delivery
    call: TaskMessage
    task: Task[..., object]
    request: Context
    started: bool = False
    settled: bool = False
    #: epoch seconds when the body started (remote control's ``active``)
    time_start: float | None = None
    #: the options in effect (message > task > settings), once the consumer resolved them
    options: ResolvedOptions | None = None

    def resolved(self, conf: Settings) -> ResolvedOptions:
        """The options in effect: the message's, else the task's, else the settings.

        On the wire ``timelimit`` is ``null`` when not given and a number when given (``0``
        switches a task's or the configuration's limit off); ``ignore_result`` is ``null``
        when the sender left it to the task (a task sent by name), else the sender's choice,
        which wins over the task's (Celery 5.7's ``get_actual_ignore_result``).
        """
        if self.options is None:
            call = self.call
            given = CallOptions(
                time_limit=UNSET if call.time_limit is None else call.time_limit,
                soft_time_limit=UNSET if call.soft_time_limit is None else call.soft_time_limit,
                ignore_result=UNSET if call.ignore_result is None else call.ignore_result,
            )
            self.options = resolve(given, self.task, conf)
        return self.options

    @property
    def label(self) -> str:
        """``name[id]``, as every log line names a task."""
        return f"{self.call.shadow or self.call.name}[{self.call.id}]"


def request_for(call: TaskMessage, delivery: Delivery, hostname: str) -> Context:
    """Build the request context a task sees from a decoded message and its delivery."""
    return context_from_message(
        call,
        hostname=hostname,
        queue=delivery.queue,
        redelivered=delivery.redelivered,
        delivery_count=delivery.delivery_count,
    )
