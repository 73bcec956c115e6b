"""Handing a prepared task message to the transport, with the publish retry policy.

:class:`Outgoing` is a message ready to go; :func:`publish` and :func:`apublish` store it on
its queue (or the queues its exchange reaches, or give it to a broker that routes by
exchange itself), retrying on ``BrokerError`` per :class:`RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

from celeriac.exceptions import BrokerError
from celeriac.execution import follow_up
from celeriac.protocol.message import Message
from celeriac.protocol.task_message import TaskMessage
from celeriac.transports.contracts import ExchangeRouting

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.transports.base import Transport

__all__ = ["Outgoing", "RetryPolicy", "Targets", "apublish", "publish"]

logger = logging.getLogger("celery.app.base")

#: See :class:`Outgoing`.
Targets = tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How publishing retries on a ``BrokerError`` (Celery's ``retry_policy`` keys)."""

    retry: bool = True
    max_retries: int | None = 3
    interval_start: float = 0.0
    interval_step: float = 0.2
    interval_max: float = 0.2

    @classmethod
    def for_call(cls, app: Celery, options: Mapping[str, object]) -> RetryPolicy:
        """``retry``/``retry_policy`` of a call over ``task_publish_retry(_policy)``.

        A worker's follow-up (:mod:`celeriac.execution.follow_up`) retries at least
        ``MIN_RETRIES`` times, up to ``MIN_INTERVAL_MAX`` seconds apart.
        """
        retry = options.get("retry")
        policy: dict[str, object] = {
            **(app.conf.task_publish_retry_policy or {}),
            **_mapping(options.get("retry_policy")),
        }
        max_retries = policy.get("max_retries", 3)
        found = cls(
            retry=bool(app.conf.task_publish_retry if retry is None else retry),
            max_retries=None if max_retries is None else int(_number(max_retries, float)),
            interval_start=_number(policy.get("interval_start", 0.0), float),
            interval_step=_number(policy.get("interval_step", 0.2), float),
            interval_max=_number(policy.get("interval_max", 0.2), float),
        )
        return found.patient() if follow_up.active() else found

    def patient(self) -> RetryPolicy:
        """This policy, stretched to outlast a broker restart (a worker's follow-ups)."""
        return replace(
            self,
            max_retries=(
                None if self.max_retries is None else max(self.max_retries, follow_up.MIN_RETRIES)
            ),
            interval_step=self.interval_step or 0.2,
            interval_max=max(self.interval_max, follow_up.MIN_INTERVAL_MAX),
        )

    def gives_up(self, attempts: int) -> bool:
        """Whether the failure after ``attempts`` retries is final."""
        return not self.retry or (self.max_retries is not None and attempts >= self.max_retries)

    def interval(self, attempts: int) -> float:
        """Seconds to wait before retry number ``attempts + 1`` (kombu's interval steps)."""
        if not attempts:
            return self.interval_start
        return min(self.interval_start + attempts * self.interval_step, self.interval_max)


class Outgoing(NamedTuple):
    """A task message ready to publish: encoded, with its queue and ETA (epoch seconds).

    ``targets`` is ``None`` when the message goes to ``queue`` (the default exchange);
    else it was sent to an exchange (``delivery_info``): ``()`` when the broker routes it
    (:class:`~celeriac.transports.contracts.ExchangeRouting`), else the queues it reaches.
    """

    task: TaskMessage
    message: Message
    queue: str
    eta: float | None
    targets: Targets = None


def _mapping(value: object) -> Mapping[str, object]:
    if value is None:
        return {}
    return value if isinstance(value, Mapping) else {}


def _number(value: object, kind: type[int] | type[float]) -> int | float:
    if isinstance(value, int | float | str):
        return kind(value)
    raise TypeError(f"publish retry policy values must be numbers, not {value!r}")


def _log_retry(message: Message, exc: BaseException, attempts: int, interval: float) -> None:
    logger.warning(
        "Publishing %s failed (%s); retry %d in %.2fs",
        message.headers.get("id"),
        exc,
        attempts,
        interval,
    )


def _deliver(transport: Transport, outgoing: Outgoing) -> None:
    message, eta, found = outgoing.message, outgoing.eta, outgoing.targets
    if found is None:
        transport.publish(message, outgoing.queue, priority=message.priority, eta=eta)
    elif not found and isinstance(transport, ExchangeRouting):
        exchange, key = outgoing.task.exchange or "", outgoing.task.routing_key or ""
        transport.publish_to_exchange(message, exchange, key, priority=message.priority, eta=eta)
    else:
        for queue in found:
            transport.publish(message, queue, priority=message.priority, eta=eta)


async def _adeliver(transport: Transport, outgoing: Outgoing) -> None:
    message, eta, found = outgoing.message, outgoing.eta, outgoing.targets
    if found is None:
        await transport.apublish(message, outgoing.queue, priority=message.priority, eta=eta)
    elif not found and isinstance(transport, ExchangeRouting):
        exchange, key = outgoing.task.exchange or "", outgoing.task.routing_key or ""
        await transport.apublish_to_exchange(
            message, exchange, key, priority=message.priority, eta=eta
        )
    else:
        for queue in found:
            await transport.apublish(message, queue, priority=message.priority, eta=eta)


def publish(transport: Transport, outgoing: Outgoing, policy: Callable[[], RetryPolicy]) -> None:
    """Hand the message to the transport, retrying on ``BrokerError`` per ``policy()``
    (read when a publish fails)."""
    message = outgoing.message
    attempts = 0
    while True:
        try:
            _deliver(transport, outgoing)
            return
        except BrokerError as exc:
            retry = policy()
            if retry.gives_up(attempts):
                raise
            interval = retry.interval(attempts)
            attempts += 1
            _log_retry(message, exc, attempts, interval)
            time.sleep(interval)


async def apublish(
    transport: Transport, outgoing: Outgoing, policy: Callable[[], RetryPolicy]
) -> None:
    """Async twin of :func:`publish` (the same retry policy; waits without blocking)."""
    message = outgoing.message
    attempts = 0
    while True:
        try:
            await _adeliver(transport, outgoing)
            return
        except BrokerError as exc:
            retry = policy()
            if retry.gives_up(attempts):
                raise
            interval = retry.interval(attempts)
            attempts += 1
            _log_retry(message, exc, attempts, interval)
            await asyncio.sleep(interval)
