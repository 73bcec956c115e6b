"""The result backend contract: store and read Celery's result meta, wait for it."""

from __future__ import annotations

import abc
import asyncio
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from celeriac import states
from celeriac.backends.celery_api import CeleryResultAPI
from celeriac.exceptions import DecodeError, TimeoutError
from celeriac.protocol import compression, serializers
from celeriac.protocol.result_compression import compress_result, decompress_result
from celeriac.protocol.results import encode_exception
from celeriac.security.results import open_result, seal_result
from celeriac.security.signing import Signer

__all__ = [
    "REPLY_ROUTE",
    "Backend",
    "BackendOptions",
    "BaseBackend",
    "BaseKeyValueStoreBackend",
    "ChordBackend",
    "ChordClaim",
    "KeyValueStoreBackend",
    "status_of",
]


#: The meta key under which a result built from a request carries ``[reply_to,
#: correlation_id]`` for a backend that :attr:`~Backend.replies_to_caller`; that backend
#: removes it before sending the meta (it never reaches a stored or sent result).
REPLY_ROUTE = "__reply_route__"


def status_of(meta: Mapping[str, object]) -> str | None:
    """The ``status`` of a result meta (``None`` when it has none)."""
    status = meta.get("status")
    return None if status is None else str(status)


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
        signer: signs stored metas and verifies read ones (``security_sign_results``).
        broker_url: the app's broker (``rpc://`` sends results through it).
        reply_to: the queue this process's task messages name as ``reply_to`` (``rpc://``
            reads its results there).
        settings: the app's settings (read-only), for backends that use the broker's
            (``broker_use_ssl``, ``result_persistent`` …).
        compression: ``result_compression`` (``gzip``, ``zlib``, ``bzip2``…): stored
            results are compressed (backends that store bytes only).
    """

    expires: float | None = 86400.0
    serializer: str = "json"
    accept: Collection[str] = ("json",)
    extra: dict[str, Any] | None = None
    failure_expires: float | None = None
    signer: Signer | None = None
    broker_url: str = ""
    reply_to: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    compression: str | None = None

    def expires_for(self, status: str | None) -> float | None:
        """Seconds a result in ``status`` is kept; ``None`` keeps it forever."""
        if status == "FAILURE" and self.failure_expires is not None:
            return self.failure_expires or None
        return self.expires or None


class Backend(CeleryResultAPI, abc.ABC):
    """Stores result meta (a dict in Celery's shape, see ``protocol.results``) by task id.

    Rules every backend keeps: a missing record reads as ``None`` (PENDING); a stored
    ``SUCCESS`` is never overwritten; records expire after ``options.expires`` seconds.
    """

    schemes: ClassVar[tuple[str, ...]] = ()
    #: True when results written in one process can be read in another.
    crosses_processes: ClassVar[bool] = True
    #: False for the ``disabled`` backend: nothing is stored.
    stores_results: ClassVar[bool] = True
    #: True when results go back to the caller's ``reply_to`` (``rpc://``): the metas
    #: built from a request then carry its route under :data:`REPLY_ROUTE`.
    replies_to_caller: ClassVar[bool] = False
    #: False when chords cannot run on this backend at all (``rpc://``): sending one
    #: calls :meth:`ensure_chords_allowed`, which raises Celery's error.
    supports_chords: ClassVar[bool] = True

    #: True when stored values may be arbitrary bytes, so ``result_compression`` applies.
    supports_result_compression: ClassVar[bool] = False
    #: The compression stored results get (``None``: none), from ``result_compression``.
    compression: str | None = None

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        self.url = url
        self.options = options or BackendOptions()
        self.compression = self._compression_for(self.options.compression)

    def _compression_for(self, method: str | None) -> str | None:
        """The compression stored results get (Celery's ``backend.compression``)."""
        if not method:
            return None
        if not self.supports_result_compression:
            warnings.warn(
                f"The {type(self).__name__} result backend cannot store compressed payloads: "
                "result_compression is ignored and results are stored uncompressed.",
                UserWarning,
                stacklevel=3,
            )
            return None
        compression.compress(b"", method)  # EncodeError now for an unknown method
        return method

    # -- encoding ------------------------------------------------------------------
    def encode(self, meta: object) -> bytes:
        """Serialize a meta dict with the result serializer (then compress it, when
        ``result_compression`` is set)."""
        content_type, encoding, payload = serializers.dumps(meta, self._serializer)
        signer = self.options.signer
        if signer is not None:
            payload = seal_result(signer, payload, content_type, encoding)
        return payload if self.compression is None else compress_result(payload, self.compression)

    @property
    def _serializer(self) -> str:
        # Celery's 'auth' result serializer: JSON inside the signature
        return "json" if self.options.serializer == "auth" else self.options.serializer

    def decode(self, payload: bytes) -> dict[str, Any]:
        """Deserialize a stored meta dict (verifying its signature when results are signed).

        Raises:
            SecurityError: results are signed and this one is not, or was tampered with.
        """
        if isinstance(payload, bytes):  # with the marker: compressed, by anyone
            payload = decompress_result(payload)
        if self.options.signer is not None:
            payload = open_result(self.options.signer, payload)
        entry = serializers.serializer_for(self._serializer)
        value = serializers.loads(
            payload, entry.content_type, entry.content_encoding, accept=self.options.accept
        )
        if not isinstance(value, dict):
            raise DecodeError(f"stored result meta is not a mapping ({type(value).__name__})")
        status = value.get("status")
        if status is not None and not isinstance(status, str):
            raise DecodeError(f"stored result meta has a non-string status ({status!r:.80})")
        return value

    # -- storage -------------------------------------------------------------------
    @abc.abstractmethod
    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Store several task metas at once (one round trip / transaction where possible)."""

    def store(self, task_id: str, meta: Mapping[str, object]) -> None:
        """Store one task's meta."""
        self.store_many([(task_id, meta)])

    @abc.abstractmethod
    def get(self, task_id: str) -> dict[str, Any] | None:
        """Read a task's meta; ``None`` when nothing is stored (PENDING) or it expired."""

    @abc.abstractmethod
    def forget(self, task_id: str) -> None:
        """Delete a task's meta."""

    def on_task_call(self, reply_to: str | None) -> None:
        """Called before a task message naming ``reply_to`` is published (Celery's
        ``on_task_call``): ``rpc://`` declares its reply queue here."""

    def ensure_chords_allowed(self) -> None:
        """Raise unless this backend can run chords (Celery's check before sending one).

        Raises:
            ImproperlyConfigured: the backend keeps no chord counters (disabled, …).
        """
        if not isinstance(self, ChordBackend):
            from celeriac.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"chords need a result backend that keeps chord counters, not {type(self).__name__}"
            )

    def recent_results(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` stored ``(task id, meta)`` pairs, newest first where the store
        knows the order: what a monitor seeds its history from. A backend that cannot list
        its results returns ``[]``."""
        return []

    @abc.abstractmethod
    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
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

    def close(self) -> None:
        """Release connections."""

    # -- async twins -----------------------------------------------------------------
    async def astore_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
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


class ChordBackend(Backend):
    """A backend that keeps chord counters itself, updated atomically.

    A header task reports its outcome with :meth:`chord_part_return`; the call that
    records the last missing part (and only that one, even with redeliveries and
    concurrent workers) gets a :class:`ChordClaim` and dispatches the body. A retry is
    not a part: only final states (SUCCESS, FAILURE, REVOKED …) are reported.
    """

    #: True when this backend counts chord parts itself (no ``celery.chord_unlock`` polling).
    supports_chord_counters: ClassVar[bool] = True
    #: What :meth:`on_chord_part_return` hands a part to, ``(request, state, result)``:
    #: set by the app that made this backend (sending a chord's body is the canvas
    #: layer's job, above this one).
    part_reporter: Callable[[Any, str, object], None] | None = None

    def on_chord_part_return(self, request: Any, state: str, result: object, **_: Any) -> None:
        """Celery's call: count the part of ``request`` (its ``id``, ``group``,
        ``group_index`` and ``chord``) that ended in ``state`` with ``result``; the part
        that completes the chord sends the body with the header's results.

        Raises:
            NotImplementedError: this backend was not made by an app (``app.backend``).
        """
        if self.part_reporter is None:
            raise NotImplementedError(
                "on_chord_part_return needs the backend of an app (app.backend): the app "
                "sends the chord's body"
            )
        self.part_reporter(request, state, result)

    def encode_chord_part(self, task_id: str, state: str, value: object) -> bytes:
        """Celery's part encoding: ``dumps([1, task_id, state, result])`` (exceptions encoded)."""
        result = encode_exception(value) if isinstance(value, BaseException) else value
        return serializers.dumps([1, task_id, state, result], self._serializer)[2]

    def decode_chord_part(self, payload: bytes | str) -> tuple[str, str, Any]:
        """``(task_id, state, result)`` of an encoded part (the exception stays a dict)."""
        entry = serializers.serializer_for(self._serializer)
        raw = payload.encode("utf-8") if isinstance(payload, str) else payload
        value = serializers.loads(
            raw, entry.content_type, entry.content_encoding, accept=self.options.accept
        )
        _, task_id, state, result = value
        return str(task_id), str(state), result

    @abc.abstractmethod
    def set_chord_size(self, group_id: str, size: int) -> None:
        """Register a chord's header size (the producer does this before sending the header)."""

    @abc.abstractmethod
    def chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        """Record one header task's outcome; return the claim when this call completed it.

        A part already recorded for ``(task_id, group_index)`` is not counted again.
        """

    def chord_parts_return(
        self, parts: Sequence[tuple[str, str, int | None, bytes]]
    ) -> list[ChordClaim | None]:
        """:meth:`chord_part_return` for several ``(group_id, task_id, group_index, part)``
        at once (one round trip where the backend can); one claim or None per part."""
        return [self.chord_part_return(*part) for part in parts]

    async def achord_parts_return(
        self,
        parts: Sequence[tuple[str, str, int | None, bytes]],
        metas: Sequence[tuple[str, Mapping[str, object]]] = (),
    ) -> list[ChordClaim | None]:
        """Async twin of :meth:`chord_parts_return`; ``metas`` (the header tasks' results)
        are stored first, as Celery stores a result before counting its part."""
        if metas:
            await self.astore_many(metas)
        return await asyncio.to_thread(self.chord_parts_return, parts)

    @abc.abstractmethod
    def chord_cleanup(self, group_id: str, token: str) -> None:
        """Drop a completed chord's counters; late duplicates then find it done."""

    @abc.abstractmethod
    def add_to_chord(self, group_id: str, count: int = 1) -> None:
        """Raise the number of parts a chord waits for (``Task.add_to_chord``)."""


#: Celery's names: the base of every backend, and of those keeping chord counters in a
#: key-value store (Redis, SQLite and memory here).
BaseBackend = Backend
BaseKeyValueStoreBackend = KeyValueStoreBackend = ChordBackend


def __getattr__(name: str) -> Any:
    # Celery's ``celery.backends.base.DisabledBackend`` (defined in ``disabled``, which
    # subclasses :class:`Backend` from here).
    if name == "DisabledBackend":
        from celeriac.backends.disabled import DisabledBackend

        return DisabledBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
