"""Storing and reading results in Celery's keys, with Celery's write (as one script).

Keys and values are Celery's (WIRE-PROTOCOL.md §4): ``celery-task-meta-<task id>`` holds
the result meta JSON, ``celery-taskset-meta-<group id>`` a saved group; with
``result_backend_transport_options={"global_keyprefix": "p"}`` both get ``p_`` in front
(kombu's rule: an underscore is added unless the prefix ends in ``: _ - .``). A write does
what Celery's does: read the key and leave a stored ``SUCCESS`` alone, else ``SETEX``
(``SET`` when results never expire) and ``PUBLISH`` the same bytes on the channel named
like the key. Celery sends ``GET`` then ``MULTI``; with the JSON serializer we run the
same steps as one Lua script (STORE), which saves a round trip on every task and closes
the gap in which a late duplicate could overwrite a SUCCESS. Other serializers, whose
status Lua cannot read, use Celery's GET + MULTI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import redis
import redis.asyncio
import redis.asyncio.client
import redis.client
from redis.commands.core import Script

from celeriac import states
from celeriac.backends.base import BackendOptions, status_of
from celeriac.backends.redis import scripts
from celeriac.backends.redis.connection import RedisResultConnection
from celeriac.exceptions import DecodeError

__all__ = ["Expiry", "RedisResultStore", "as_bytes"]

#: How a write expires: ``("ex", seconds)`` (Celery's SETEX) or ``("px", milliseconds)``.
Expiry = tuple[Literal["ex", "px"], int]
#: A pipeline of either client (a write queues the same commands on both).
Pipeline = redis.client.Pipeline | redis.asyncio.client.Pipeline


def glob_escape(text: str) -> str:
    """``text`` with Redis glob characters escaped (for SCAN MATCH)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def as_bytes(value: bytes | str | None) -> bytes | None:
    """A reply as bytes (``None`` stays ``None``)."""
    if value is None or isinstance(value, bytes):
        return value
    return value.encode("utf-8")


class RedisResultStore(RedisResultConnection):
    """Task and group results: store (sync and async), read, forget."""

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        self._sync_store_script: Script | None = None

    def _expiry(self, status: str | None = None) -> Expiry | None:
        """``("ex", seconds)`` for whole seconds (Celery's SETEX), ``("px", ms)`` otherwise."""
        expires = self.options.expires_for(status)
        if not expires or expires <= 0:
            return None
        if float(expires).is_integer():
            return "ex", int(expires)
        return "px", max(1, int(expires * 1000))

    def _plan(
        self, items: Sequence[tuple[str, Mapping[str, object]]], stored: Sequence[bytes | None]
    ) -> list[tuple[str, bytes]]:
        """The (key, payload) writes of a batch, skipping tasks whose SUCCESS is stored."""
        done: set[str] = set()
        for (task_id, _), value in zip(items, stored, strict=True):
            if value is not None and self._status(value) == states.SUCCESS:
                done.add(task_id)
        writes = []
        for task_id, meta in items:
            if task_id in done:
                continue
            writes.append((self.task_key(task_id), self.encode(meta)))
            if meta.get("status") == states.SUCCESS:
                done.add(task_id)
        return writes

    def _status(self, payload: bytes) -> str | None:
        try:
            return str(self.decode(payload).get("status"))
        except (DecodeError, ValueError, TypeError):
            return None

    def _by_expiry(
        self, items: Sequence[tuple[str, Mapping[str, object]]]
    ) -> list[tuple[Expiry | None, Sequence[tuple[str, Mapping[str, object]]]]]:
        """Split a batch by expiry (FAILURE may differ: ``result_failure_expires``)."""
        if self.options.failure_expires is None:
            return [(self._expiry(), items)]
        groups: dict[Expiry | None, list[tuple[str, Mapping[str, object]]]] = {}
        for item in items:
            groups.setdefault(self._expiry(status_of(item[1])), []).append(item)
        return list(groups.items())

    def _queue_writes(
        self, pipe: Pipeline, writes: Sequence[tuple[str, bytes]], expiry: Expiry | None
    ) -> None:
        for key, payload in writes:
            if expiry is None:
                pipe.set(key, payload)
            elif expiry[0] == "ex":  # Celery's command (redis-py deprecates its setex wrapper)
                pipe.execute_command("SETEX", key, expiry[1], payload)
            else:
                pipe.set(key, payload, px=expiry[1])
            pipe.publish(key, payload)

    def _store_args(
        self, items: Sequence[tuple[str, Mapping[str, object]]], expiry: Expiry | None
    ) -> tuple[list[str], list[str | int | bytes]]:
        mode, ttl = expiry if expiry is not None else ("", 0)
        keys = [self.task_key(task_id) for task_id, _ in items]
        return keys, [mode, ttl, *(self.encode(meta) for _, meta in items)]

    def _scriptable(self) -> bool:
        """True when STORE can read the stored status (a JSON result serializer)."""
        return self.options.serializer == "json"

    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Store metas, leaving a stored SUCCESS alone, and PUBLISH them (one round trip)."""
        for expiry, batch in self._by_expiry(items) if items else ():
            self._store_batch(batch, expiry)

    def _store_batch(
        self, items: Sequence[tuple[str, Mapping[str, object]]], expiry: Expiry | None
    ) -> None:
        if self._scriptable():
            keys, args = self._store_args(items, expiry)
            self._call("store", lambda client: self._sync_store(client)(keys=keys, args=args))
            return

        def run(client: redis.Redis) -> None:
            keys = [self.task_key(task_id) for task_id, _ in items]
            stored = client.mget(keys) if len(keys) > 1 else [client.get(keys[0])]
            writes = self._plan(items, [as_bytes(v) for v in stored])
            if writes:
                with client.pipeline(transaction=True) as pipe:
                    self._queue_writes(pipe, writes, expiry)
                    pipe.execute()

        self._call("store", run)

    def _sync_store(self, client: redis.Redis) -> Script:
        script = self._sync_store_script
        if script is None or script.registered_client is not client:
            script = self._sync_store_script = client.register_script(scripts.STORE)
        return script

    async def astore_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Async twin of :meth:`store_many`, on this loop's asyncio client."""
        for expiry, batch in self._by_expiry(items) if items else ():
            await self._astore_batch(batch, expiry)

    async def _astore_batch(
        self, items: Sequence[tuple[str, Mapping[str, object]]], expiry: Expiry | None
    ) -> None:
        if self._scriptable():
            keys, args = self._store_args(items, expiry)
            state = self._async_state()
            await self._acall("store", lambda _client: state.store(keys=keys, args=args))
            return
        keys = [self.task_key(task_id) for task_id, _ in items]

        async def run(client: redis.asyncio.Redis) -> None:
            stored = await client.mget(keys) if len(keys) > 1 else [await client.get(keys[0])]
            writes = self._plan(items, [as_bytes(v) for v in stored])
            if writes:
                async with client.pipeline(transaction=True) as pipe:
                    self._queue_writes(pipe, writes, expiry)
                    await pipe.execute()

        await self._acall("store", run)

    def get(self, task_id: str) -> dict[str, Any] | None:
        """Read a task's meta; ``None`` when nothing is stored (PENDING) or it expired."""
        value = as_bytes(self._call("get", lambda client: client.get(self.task_key(task_id))))
        return None if value is None else self.decode(value)

    def recent_results(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` stored metas, found by SCAN (in no particular order)."""
        prefix = self.task_key("")

        def scan(client: redis.Redis) -> list[tuple[str, bytes | None]]:
            keys: list[str] = []
            for key in client.scan_iter(match=glob_escape(prefix) + "*", count=1000):
                keys.append(key.decode() if isinstance(key, bytes) else str(key))
                if len(keys) >= limit:
                    break
            found: list[tuple[str, bytes | None]] = []
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                found += zip(chunk, [as_bytes(v) for v in client.mget(chunk)], strict=True)
            return found

        metas = []
        for key, value in self._call("scan", scan):
            if value is None:
                continue
            try:
                metas.append((key[len(prefix) :], self.decode(value)))
            except (DecodeError, ValueError, TypeError):
                continue
        return metas

    async def aget(self, task_id: str) -> dict[str, Any] | None:
        """Async twin of :meth:`get`."""
        value = as_bytes(
            await self._acall("get", lambda client: client.get(self.task_key(task_id)))
        )
        return None if value is None else self.decode(value)

    def forget(self, task_id: str) -> None:
        """Delete a task's meta."""
        self._call("forget", lambda client: client.delete(self.task_key(task_id)))

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
        """Store a group's meta (SETEX + PUBLISH, as Celery's ``GroupResult.save``)."""
        payload = self.encode(meta)

        def run(client: redis.Redis) -> None:
            with client.pipeline(transaction=True) as pipe:
                self._queue_writes(pipe, [(self.group_key(group_id), payload)], self._expiry())
                pipe.execute()

        self._call("save_group", run)

    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """Read a group's meta; ``None`` when not saved or expired."""
        value = as_bytes(
            self._call("get_group", lambda client: client.get(self.group_key(group_id)))
        )
        return None if value is None else self.decode(value)

    def forget_group(self, group_id: str) -> None:
        """Delete a group's meta."""
        self._call("forget_group", lambda client: client.delete(self.group_key(group_id)))
