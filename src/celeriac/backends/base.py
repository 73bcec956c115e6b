"""The result backend contract: store and read Celery's result meta, wait for it."""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from celeriac import states
from celeriac.exceptions import TimeoutError
from celeriac.protocol import serializers
from celeriac.protocol.results import encode_exception

__all__ = ["Backend", "BackendOptions", "ChordBackend", "ChordClaim"]


@dataclass(slots=True)
class BackendOptions:
    """Settings a backend reads.

    Attributes:
        expires: seconds a result is kept (``result_expires``); ``None`` keeps it forever.
        serializer: ``result_serializer``.
        accept: ``result_accept_content`` (content types or serializer names).
        extra: ``result_backend_transport_options``.
        failure_expires: seconds a FAILURE result is kept (``result_failure_expires``);
            ``None`` means ``expires``, 0 keeps failures forever.
    """

    expires: float | None = 86400.0
    serializer: str = "json"
    accept: Collection[str] = ("json",)
    extra: dict[str, Any] | None = None
    failure_expires: float | None = None

    def expires_for(self, status: str | None) -> float | None:
        """Seconds a result in ``status`` is kept; ``None`` keeps it forever."""
        if status == "FAILURE" and self.failure_expires is not None:
            return self.failure_expires or None
        return self.expires or None


class Backend(abc.ABC):
    """Stores result meta (a dict in Celery's shape, see ``protocol.results``) by task id.

    Rules every backend keeps: a missing record reads as ``None`` (PENDING); a stored
    ``SUCCESS`` is never overwritten; records expire after ``options.expires`` seconds.
    """

    schemes: ClassVar[tuple[str, ...]] = ()
    #: True when results written in one process can be read in another.
    crosses_processes: ClassVar[bool] = True
    #: False for the ``disabled`` backend: nothing is stored.
    stores_results: ClassVar[bool] = True

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        self.url = url
        self.options = options or BackendOptions()

    # -- encoding ------------------------------------------------------------------
    def encode(self, meta: dict[str, Any]) -> bytes:
        """Serialize a meta dict with the result serializer."""
        return serializers.dumps(meta, self.options.serializer)[2]

    def decode(self, payload: bytes) -> dict[str, Any]:
        """Deserialize a stored meta dict."""
        entry = serializers.serializer_for(self.options.serializer)
        value = serializers.loads(
            payload, entry.content_type, entry.content_encoding, accept=self.options.accept
        )
        if not isinstance(value, dict):
            raise TypeError("stored result meta is not a mapping")
        return value

    # -- storage -------------------------------------------------------------------
    @abc.abstractmethod
    def store_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Store several task metas at once (one round trip / transaction where possible)."""

    def store(self, task_id: str, meta: dict[str, Any]) -> None:
        """Store one task's meta."""
        self.store_many([(task_id, meta)])

    @abc.abstractmethod
    def get(self, task_id: str) -> dict[str, Any] | None:
        """Read a task's meta; ``None`` when nothing is stored (PENDING) or it expired."""

    @abc.abstractmethod
    def forget(self, task_id: str) -> None:
        """Delete a task's meta."""

    @abc.abstractmethod
    def save_group(self, group_id: str, meta: dict[str, Any]) -> None:
        """Store a group's meta (``{"result": <GroupResult tuple>}``)."""

    @abc.abstractmethod
    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """Read a group's meta; ``None`` when not saved."""

    @abc.abstractmethod
    def forget_group(self, group_id: str) -> None:
        """Delete a group's meta."""

    def cleanup(self) -> int:
        """Delete expired records; return how many (no-op for backends with native TTLs)."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    # -- async twins -----------------------------------------------------------------
    async def astore_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Async twin of :meth:`store_many`."""
        await asyncio.to_thread(self.store_many, items)

    async def aget(self, task_id: str) -> dict[str, Any] | None:
        """Async twin of :meth:`get`."""
        return await asyncio.to_thread(self.get, task_id)

    # -- waiting ---------------------------------------------------------------------
    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Block until the task is ready; return its meta.

        The poll starts at 1 ms and backs off to ``interval`` so short tasks return
        quickly and long waits cost little.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while True:
            meta = self.get(task_id)
            if meta is not None and meta.get("status") in states.READY_STATES:
                return meta
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"The operation timed out waiting for task {task_id}")
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, interval)

    async def await_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Async twin of :meth:`wait_for`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while True:
            meta = await self.aget(task_id)
            if meta is not None and meta.get("status") in states.READY_STATES:
                return meta
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"The operation timed out waiting for task {task_id}")
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(pause)
            delay = min(delay * 1.5, interval)


# -- chords --------------------------------------------------------------------------------
# Kept as a separate block: the chord counter contract every backend with native chord
# support implements (Celery's ``set_chord_size`` / ``on_chord_part_return`` /
# ``add_to_chord``). The canvas layer decides what to do with a completed chord.


@dataclass(slots=True)
class ChordClaim:
    """What the one caller that completed a chord gets back.

    Attributes:
        token: the dispatch claim; pass it to :meth:`ChordBackend.chord_cleanup`.
        members: the encoded header parts (``[1, task_id, state, result]``), in header order.
    """

    token: str
    members: list[bytes]


class ChordBackend:
    """Mixin: chord counters kept by the backend, updated atomically.

    A header task reports its outcome with :meth:`chord_part_return`; the call that
    records the last missing part (and only that one, even with redeliveries and
    concurrent workers) gets a :class:`ChordClaim` and dispatches the body. A retry is
    not a part: only final states (SUCCESS, FAILURE, REVOKED …) are reported.
    """

    #: True when this backend counts chord parts itself (no ``celery.chord_unlock`` polling).
    supports_chord_counters: ClassVar[bool] = True

    def encode_chord_part(self, task_id: str, state: str, value: Any) -> bytes:
        """Celery's part encoding: ``dumps([1, task_id, state, result])`` (exceptions encoded)."""
        result = encode_exception(value) if isinstance(value, BaseException) else value
        serializer = getattr(getattr(self, "options", None), "serializer", "json")
        return serializers.dumps([1, task_id, state, result], serializer)[2]

    def decode_chord_part(self, payload: bytes | str) -> tuple[str, str, Any]:
        """``(task_id, state, result)`` of an encoded part (the exception stays a dict)."""
        options = getattr(self, "options", None)
        serializer = getattr(options, "serializer", "json")
        entry = serializers.serializer_for(serializer)
        raw = payload.encode("utf-8") if isinstance(payload, str) else payload
        value = serializers.loads(
            raw,
            entry.content_type,
            entry.content_encoding,
            accept=getattr(options, "accept", ("json",)),
        )
        _, task_id, state, result = value
        return str(task_id), str(state), result

    def set_chord_size(self, group_id: str, size: int) -> None:
        """Register a chord's header size (the producer does this before sending the header)."""
        raise NotImplementedError

    def chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        """Record one header task's outcome; return the claim when this call completed it.

        A part already recorded for ``(task_id, group_index)`` is not counted again.
        """
        raise NotImplementedError

    def chord_parts_return(
        self, parts: Sequence[tuple[str, str, int | None, bytes]]
    ) -> list[ChordClaim | None]:
        """:meth:`chord_part_return` for several ``(group_id, task_id, group_index, part)``
        at once (one round trip where the backend can); one claim or None per part."""
        return [self.chord_part_return(*part) for part in parts]

    async def achord_parts_return(
        self,
        parts: Sequence[tuple[str, str, int | None, bytes]],
        metas: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> list[ChordClaim | None]:
        """Async twin of :meth:`chord_parts_return`; ``metas`` (the header tasks' results)
        are stored first, as Celery stores a result before counting its part."""
        if metas:
            await self.astore_many(metas)  # type: ignore[attr-defined]
        return await asyncio.to_thread(self.chord_parts_return, parts)

    def chord_cleanup(self, group_id: str, token: str) -> None:
        """Drop a completed chord's counters; late duplicates then find it done."""
        raise NotImplementedError

    def add_to_chord(self, group_id: str, count: int = 1) -> None:
        """Raise the number of parts a chord waits for (``Task.add_to_chord``)."""
        raise NotImplementedError
