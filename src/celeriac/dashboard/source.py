"""Where events come from: ``app.events.Receiver`` on the broker's ``celeryev`` exchange.

The receiver (``celeriac.events``) subscribes with the binding key ``#``, unpacks
``task.multi`` batches, takes the Lamport clock in, adds ``local_received`` and asks the
workers for a heartbeat once it listens, so they show at once. Like Flower, the source
also broadcasts ``enable_events`` every few seconds (unless told not to), so workers
started without ``-E`` send task events too. A lost connection is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from celeriac.exceptions import CeleryError
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["EventSource"]

logger = own_logger(__name__)

#: Called with every event dict.
EventCallback = Callable[[Mapping[str, object]], None]


class EventSource:
    """Read ``celeryev`` on the app's broker and call ``callback`` for every event."""

    def __init__(
        self,
        app: Celery,
        callback: EventCallback,
        *,
        enable_events: bool = True,
        enable_interval: float = 5.0,
        retry_interval: float = 2.0,
    ) -> None:
        self.app = app
        self.callback = callback
        self.enable_events = enable_events
        self.enable_interval = enable_interval
        self.retry_interval = retry_interval

    def _enable(self) -> None:
        with contextlib.suppress(CeleryError, OSError):
            self.app.control.broadcast("enable_events")

    async def _enable_loop(self) -> None:
        while True:
            await asyncio.to_thread(self._enable)
            await asyncio.sleep(self.enable_interval)

    async def _receive(self) -> None:
        receiver = self.app.events.Receiver(handlers={"*": self.callback})
        await receiver.acapture(wakeup=True)

    async def run(self) -> None:
        """Receive until cancelled."""
        enabler = asyncio.create_task(self._enable_loop()) if self.enable_events else None
        try:
            while True:
                try:
                    await self._receive()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning(
                        "dashboard: event stream interrupted (%s); retrying in %.0f s",
                        exc,
                        self.retry_interval,
                    )
                await asyncio.sleep(self.retry_interval)
        finally:
            if enabler is not None:
                enabler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await enabler
