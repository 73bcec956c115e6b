"""Settler: batches result writes and acks, storing results before acking (nothing lost)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celeriac import states
from celeriac.backends.base import Backend
from celeriac.exceptions import EncodeError
from celeriac.protocol.results import build_meta
from celeriac.transports.base import Delivery, Transport
from celeriac.transports.contracts import ResultSettling
from celeriac.utils.log import own_logger

__all__ = ["Settler"]

logger = own_logger(__name__)

_BATCH = 512


@dataclass(slots=True)
class _Item:
    delivery: Delivery | None
    meta: tuple[str, dict[str, Any]] | None
    action: str  # "ack" | "requeue" | "none"
    written: asyncio.Future[None] | None = None


class Settler:
    """Collects (result, ack) pairs and writes them in batches.

    Within a batch every result is stored (one backend round trip) before any message
    is acked (one transport round trip), so a crash between the two re-runs a task
    rather than losing its result. ``flush`` waits until everything queued is written.
    """

    def __init__(self, transport: Transport, backend: Backend) -> None:
        self.transport = transport
        self.backend = backend
        self._items: list[_Item] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # Broker and backend in one file (the SQLite default): settle in one transaction.
        self._combined: ResultSettling | None = None
        if isinstance(transport, ResultSettling) and transport.can_settle_with(backend):
            self._combined = transport

    def start(self) -> None:
        """Start the background writer."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="settler")

    def add(
        self,
        delivery: Delivery | None,
        meta: tuple[str, dict[str, Any]] | None = None,
        action: str = "ack",
    ) -> None:
        """Queue a result to store and/or a delivery to ack or requeue."""
        if meta is not None and not self.backend.stores_results:
            meta = None
        if meta is None and delivery is None:
            return
        self._items.append(_Item(delivery, meta, action))
        self._idle.clear()
        self._wake.set()

    def store(self, task_id: str, meta: dict[str, Any]) -> None:
        """Queue a state change to store, without settling any delivery."""
        self.add(None, (task_id, meta), "none")

    async def store_now(self, task_id: str, meta: dict[str, Any]) -> None:
        """Store a state change and wait until its batch was written (or failed to be)."""
        if not self.backend.stores_results or self._task is None:
            return
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.append(_Item(None, (task_id, meta), "none", written))
        self._idle.clear()
        self._wake.set()
        await written

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                batch, self._items = self._items[:_BATCH], self._items[_BATCH:]
                await self._write(batch)
            self._idle.set()
            if self._closing:
                return

    async def _write(self, batch: list[_Item]) -> None:
        try:
            await self._write_batch(batch)
        finally:
            for item in batch:
                if item.written is not None and not item.written.done():
                    item.written.set_result(None)

    async def _write_batch(self, batch: list[_Item]) -> None:
        metas = [item.meta for item in batch if item.meta is not None]
        if self._combined and await self._write_combined(self._combined, batch, metas):
            return
        if metas:
            try:
                try:
                    await self.backend.astore_many(metas)
                except EncodeError:  # one result the serializer refuses must not sink the batch
                    await self.backend.astore_many([self._storable(*meta) for meta in metas])
            except Exception as exc:  # keep the messages: they will be redelivered
                logger.error(
                    "Storing %d results failed: %r; their messages stay unacked", len(metas), exc
                )
                return
        acks = [
            item.delivery for item in batch if item.delivery is not None and item.action == "ack"
        ]
        requeues = [
            item.delivery
            for item in batch
            if item.delivery is not None and item.action == "requeue"
        ]
        try:
            if acks:
                await self.transport.ack(acks)
            if requeues:
                await self.transport.requeue(requeues, count=True)
        except Exception as exc:
            logger.error(
                "Acking %d messages failed: %r; they will be redelivered",
                len(acks) + len(requeues),
                exc,
            )

    async def _write_combined(
        self,
        settling: ResultSettling,
        batch: list[_Item],
        metas: list[tuple[str, dict[str, Any]]],
    ) -> bool:
        """Store and ack in one transaction (broker and backend share a file).

        Returns False when the batch needs the general path (requeues, or a result
        the serializer refuses).
        """
        acks = [
            item.delivery for item in batch if item.delivery is not None and item.action == "ack"
        ]
        if any(item.delivery is not None and item.action != "ack" for item in batch):
            return False
        try:
            await settling.ack_with_results(acks, metas, self.backend)
        except EncodeError:
            return False
        except Exception as exc:  # the messages stay leased and will be redelivered
            logger.error(
                "Storing %d results and acking %d messages failed: %r; they will be redelivered",
                len(metas),
                len(acks),
                exc,
            )
        return True

    def _storable(self, task_id: str, meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``meta``, or an EncodeError failure in its place when it cannot be serialized.

        Celery's tracer does the same: a return value the result serializer cannot
        encode fails the task with the EncodeError.
        """
        try:
            self.backend.encode(meta)
        except EncodeError as exc:
            logger.error(
                "Task %s: its result cannot be stored (%s); storing the error as a FAILURE instead",
                task_id,
                exc,
            )
            return task_id, build_meta(
                task_id,
                states.FAILURE,
                exc,
                traceback=f"EncodeError: {exc}\n",
                children=[],
                date_done=datetime.now(UTC),
                group_id=meta.get("group_id"),
                parent_id=meta.get("parent_id"),
            )
        return task_id, meta

    async def flush(self) -> None:
        """Wait until everything queued so far has been written."""
        if self._task is None:
            return
        await self._idle.wait()

    async def close(self) -> None:
        """Write what is queued and stop."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        await self._task
        self._task = None
