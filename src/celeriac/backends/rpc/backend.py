"""``rpc://``: results as messages to the caller's reply queue, as Celery's RPCBackend sends them.

The worker sends every state of a task (STARTED, PROGRESS, RETRY, SUCCESS …) to the
``reply_to`` queue named by the task message, with the task id as ``correlation_id``;
the caller reads them from its queue (:class:`~celeriac.backends.rpc.reader.ReplyReader`).
Nothing is stored: a result is read once, by the process that sent the task, and is
gone when that process exits. Groups are not saved and chords are refused, with
Celery's messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NoReturn

from celeriac.backends.base import REPLY_ROUTE, Backend, BackendOptions
from celeriac.backends.rpc.connection import RPCSettings
from celeriac.backends.rpc.reader import ReplyReader
from celeriac.backends.rpc.sender import Reply, ResultSender
from celeriac.exceptions import DecodeError
from celeriac.protocol import serializers

__all__ = ["E_NO_CHORD_SUPPORT", "RPCBackend"]

#: Celery's message, word for word.
E_NO_CHORD_SUPPORT = """
The "rpc" result backend does not support chords!

Note that a group chained with a task is also upgraded to be a chord,
as this pattern requires synchronization.

Result backends that supports chords: Redis, Database, Memcached, and more.
""".strip()


class RPCBackend(Backend):
    """Sends results to the caller's reply queue (worker) and reads its own (client)."""

    schemes = ("rpc",)
    replies_to_caller: ClassVar[bool] = True
    supports_chords: ClassVar[bool] = False

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        self._settings: RPCSettings | None = None
        self._sender: ResultSender | None = None
        self._reader: ReplyReader | None = None

    @property
    def settings(self) -> RPCSettings:
        """The broker settings (read on first use: an app may set its broker later)."""
        if self._settings is None:
            self._settings = RPCSettings.parse(self.options.broker_url, self.options.settings)
        return self._settings

    @property
    def reader(self) -> ReplyReader:
        """This process's reply queue reader."""
        if self._reader is None:
            queue = self.options.reply_to
            if not queue:
                raise DecodeError("rpc:// needs the app's reply queue (options.reply_to)")
            self._reader = ReplyReader(self.settings, queue, self._decode_reply)
        return self._reader

    @property
    def sender(self) -> ResultSender:
        """This process's result sender."""
        if self._sender is None:
            self._sender = ResultSender(self.settings)
        return self._sender

    def as_uri(self, include_password: bool = True) -> str:
        """``rpc://``, as Celery spells it."""
        return "rpc://"

    # -- the worker side -------------------------------------------------------------------
    def _reply(self, task_id: str, meta: Mapping[str, object]) -> Reply | None:
        route = meta.get(REPLY_ROUTE)
        if not isinstance(route, list | tuple) or len(route) != 2 or not route[0]:
            return None  # no reply_to (a state stored without its request): nowhere to send
        body = {key: value for key, value in meta.items() if key != REPLY_ROUTE}
        body["task_id"] = task_id  # Celery's _to_result writes it last
        entry = serializers.serializer_for(self._serializer)
        return (str(route[0]), str(route[1] or task_id), self.encode(body), *entry_types(entry))

    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Send each state to the reply queue its task named (a state with no
        ``reply_to`` is dropped, as Celery drops it)."""
        replies = [reply for task_id, meta in items if (reply := self._reply(task_id, meta))]
        self.sender.send(replies)

    async def astore_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Async twin of :meth:`store_many` (the sender blocks: run in a thread)."""
        replies = [reply for task_id, meta in items if (reply := self._reply(task_id, meta))]
        if replies:
            await asyncio.to_thread(self.sender.send, replies)

    # -- the client side -------------------------------------------------------------------
    def on_task_call(self, reply_to: str | None) -> None:
        """Declare this process's reply queue before a task naming it is sent."""
        if reply_to and reply_to == self.options.reply_to:
            self.reader.declare()

    def _decode_reply(self, body: bytes, content_type: str, encoding: str) -> dict[str, Any]:
        if self.options.signer is not None:
            return self.decode(body)
        value = serializers.loads(body, content_type, encoding, accept=self.options.accept)
        if not isinstance(value, dict):
            raise DecodeError(f"rpc:// reply is not a mapping ({type(value).__name__})")
        return value

    def get(self, task_id: str) -> dict[str, Any] | None:
        """The latest state received for ``task_id`` (reading what has arrived first);
        None while nothing came (PENDING)."""
        reader = self.reader
        reader.poll()
        return reader.latest(task_id)

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Block until the task's final state arrives on the reply queue.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        return self.reader.wait(task_id, timeout)

    async def await_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Async twin of :meth:`wait_for` (the reader waits in a thread)."""
        return await asyncio.to_thread(self.reader.wait, task_id, timeout)

    def forget(self, task_id: str) -> None:
        """Drop what this process received for ``task_id`` (nothing is stored elsewhere)."""
        if self._reader is not None:
            self._reader.forget(task_id)

    # -- what rpc:// does not do (Celery's errors) -----------------------------------------
    def ensure_chords_allowed(self) -> NoReturn:
        """Refuse chords, as Celery does for ``rpc://``.

        Raises:
            NotImplementedError: always (Celery's message).
        """
        raise NotImplementedError(E_NO_CHORD_SUPPORT)

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> NoReturn:
        """Refuse (Celery: "save_group is not supported by this backend.")."""
        raise NotImplementedError("save_group is not supported by this backend.")

    def get_group(self, group_id: str) -> NoReturn:
        """Refuse (Celery's ``restore_group``)."""
        raise NotImplementedError("restore_group is not supported by this backend.")

    def forget_group(self, group_id: str) -> NoReturn:
        """Refuse (Celery's ``delete_group``)."""
        raise NotImplementedError("delete_group is not supported by this backend.")

    def close(self) -> None:
        """Close the sender's and the reader's connections."""
        if self._sender is not None:
            self._sender.close()
        if self._reader is not None:
            self._reader.close()


def entry_types(entry: serializers.Serializer) -> tuple[str, str]:
    """``(content_type, content_encoding)`` of a serializer entry."""
    return entry.content_type, entry.content_encoding
