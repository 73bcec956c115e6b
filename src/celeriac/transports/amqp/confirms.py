"""Publisher confirms, pipelined: a producer does not wait for each confirm in turn.

RabbitMQ confirms a persistent message on a durable queue about a millisecond after it
arrives, so waiting for every confirm before the next ``delay()`` caps one producer near
a thousand messages a second. Instead every producer channel is in confirm mode and
remembers what it sent and RabbitMQ has not confirmed yet (:class:`Confirms`):

* ``delay()`` returns once the message is written to the connection, with at most
  ``confirm_window`` (256) messages per connection unconfirmed: a publish that finds the
  window full waits for confirms first. ``confirm_window=1`` waits for each message's
  own confirm before ``delay()`` returns.
* Confirms are read in batches: by a publish that finds 64 or more unconfirmed on its
  connection, else by one watcher thread per pool (:class:`ConfirmWatcher`), which
  looks every few milliseconds while any is unconfirmed.
* A message RabbitMQ does not confirm is never dropped silently: one whose connection
  is lost before its confirm is published again on a new connection (it may then arrive
  twice, as with any retried publish), one RabbitMQ nacks is published again up to
  :data:`MAX_RESENDS` times, and one that still fails is logged as an error and raised
  (:class:`~celeriac.exceptions.BrokerError`) by the pool's :meth:`flush`.
* ``app.close()``, the transport's ``close()`` and the end of the process (``atexit``)
  flush: they wait until every message is confirmed.
"""

from __future__ import annotations

import itertools
import select
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import amqp

from celeriac.utils.log import own_logger

__all__ = ["MAX_RESENDS", "Confirms", "ConfirmWatcher", "Sent"]

logger = own_logger(__name__)

#: How often a message RabbitMQ nacked is published again before it is reported.
MAX_RESENDS = 3
#: Seconds a connection stays unused before the watcher reads its confirms.
LINGER = 0.002


@dataclass(slots=True)
class Sent:
    """A published message not confirmed yet: what publishing it again needs."""

    body: amqp.Message
    exchange: str
    routing_key: str
    resends: int = 0
    #: published by a caller that waits for the confirm itself (never published again)
    strict: bool = False

    @property
    def task_id(self) -> str:
        """The task id in the message's headers (for error messages)."""
        headers = self.body.properties.get("application_headers") or {}
        return str(headers.get("id") or "?")


class Confirms:
    """The unconfirmed publishes of one confirm-mode channel, and RabbitMQ's answers."""

    def __init__(self, channel: Any) -> None:
        self.next_tag = 1
        self.pending: dict[int, Sent] = {}
        self.nacked: list[Sent] = []
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)

    def sent(self, sent: Sent) -> None:
        """Count one publish (RabbitMQ numbers them 1, 2, … on the channel)."""
        self.pending[self.next_tag] = sent
        self.next_tag += 1

    def _settled(self, tag: int, multiple: bool) -> list[Sent]:
        if not multiple:
            found = self.pending.pop(tag, None)
            return [] if found is None else [found]
        tags = list(itertools.takewhile(lambda number: number <= tag, self.pending))
        return [self.pending.pop(number) for number in tags]

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settled(tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self.nacked.extend(self._settled(tag, multiple))

    def take_unsettled(self) -> list[Sent]:
        """Everything not confirmed (pending and nacked) but strict publishes, forgotten."""
        left = [sent for sent in (*self.nacked, *self.pending.values()) if not sent.strict]
        self.pending.clear()
        self.nacked.clear()
        return left


def readable(conn: amqp.Connection, timeout: float) -> bool:
    """True when a frame (or part of one) is there to read within ``timeout`` seconds."""
    transport = conn.transport
    if transport is None or transport.sock is None:
        return False
    if getattr(transport, "_read_buffer", b""):
        return True
    sock = transport.sock
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
    return bool(ready)


class ConfirmWatcher:
    """One thread per pool that reads confirms nobody waits for and publishes again
    what needs it: ``tick()`` runs every :data:`LINGER` seconds until it returns False,
    then the thread sleeps until :meth:`wake`."""

    def __init__(self, tick: Callable[[], bool]) -> None:
        self._tick = tick
        self._cond = threading.Condition()
        self._woken = False
        self._thread: threading.Thread | None = None
        self._closed = False

    def wake(self) -> None:
        """Something is unconfirmed (or to publish again): look at it soon."""
        if self._woken and self._thread is not None:
            return
        with self._cond:
            self._woken = True
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="celeriac-amqp-confirms", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._woken and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                self._woken = False
            busy = True
            while busy and not self._closed:
                time.sleep(LINGER)
                try:
                    busy = self._tick()
                except Exception as exc:  # never let the thread die
                    logger.error("Reading publisher confirms failed: %r", exc)
                    busy = False
