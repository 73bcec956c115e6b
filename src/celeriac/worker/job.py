"""Job: one received task message on its way through the worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celeriac.app.request import Context
from celeriac.app.task import Task
from celeriac.protocol.task import TaskCall
from celeriac.transports.base import Delivery

__all__ = ["Job", "request_for"]


@dataclass(slots=True)
class Job:
    """A delivery decoded into a task call, with the request the task will see."""

    delivery: Delivery
    call: TaskCall
    task: Task[Any, Any]
    request: Context
    started: bool = False
    settled: bool = False
    #: epoch seconds when the body started (remote control's ``active``)
    time_start: float | None = None

    @property
    def label(self) -> str:
        """``name[id]``, as every log line names a task."""
        return f"{self.call.shadow or self.call.name}[{self.call.id}]"


def request_for(call: TaskCall, delivery: Delivery, hostname: str) -> Context:
    """Build the request context a task sees from a decoded call."""
    info = dict(call.delivery_info)
    info.setdefault("routing_key", delivery.queue)
    info["redelivered"] = delivery.redelivered
    info.setdefault("priority", call.priority)
    return Context(
        id=call.id,
        task=call.name,
        args=call.args,
        kwargs=call.kwargs,
        retries=call.retries,
        eta=call.eta,
        expires=call.expires,
        is_eager=False,
        called_directly=False,
        hostname=hostname,
        delivery_info=info,
        root_id=call.root_id,
        parent_id=call.parent_id,
        group=call.group,
        group_index=call.group_index,
        callbacks=call.callbacks,
        errbacks=call.errbacks,
        chain=call.chain,
        chord=call.chord,
        correlation_id=call.correlation_id,
        reply_to=call.reply_to,
        origin=call.origin,
        shadow=call.shadow,
        timelimit=(call.time_limit, call.soft_time_limit),
        ignore_result=bool(call.ignore_result),
        priority=call.priority,
        headers=call.headers,
        properties=call.properties,
        delivery_count=delivery.delivery_count,
        stamps=call.stamps,
    )
