"""The Redis result backend (``redis://``, ``rediss://``, ``redis+socket://``, ``sentinel://``).

Keys and values are Celery's (WIRE-PROTOCOL.md §4): ``celery-task-meta-<task id>`` holds
the result meta JSON, ``celery-taskset-meta-<group id>`` a saved group; with
``result_backend_transport_options={"global_keyprefix": "p"}`` both get ``p_`` in front
(kombu's rule: an underscore is added unless the prefix ends in ``: _ - .``). A write does
what Celery's does: read the key and leave a stored ``SUCCESS`` alone, else ``SETEX``
(``SET`` when results never expire) and ``PUBLISH`` the same bytes on the channel named
like the key. Celery sends ``GET`` then ``MULTI``; with the JSON serializer we run the
same steps as one Lua script (STORE), which saves a round trip on every task and closes
the gap in which a late duplicate could overwrite a SUCCESS. Other serializers, whose
status Lua cannot read, use Celery's GET + MULTI. Readers subscribe to the channel,
then ``GET``, so ``get()`` wakes as soon as the result is written, with no polling, and a
Celery client and a celeriac client wait for each other's results alike.

Connection errors are retried with backoff (``retry_policy`` in the transport options:
``max_retries`` 20, ``interval_start`` 0, ``interval_step`` 1, ``interval_max`` 1 s,
Celery's defaults); a waiting ``get()`` resubscribes and reads again after a Redis
restart, until its own timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.backoff
import redis.client
import redis.connection
import redis.exceptions
import redis.retry
import redis.sentinel

from celeriac import states
from celeriac.backends.base import Backend, BackendOptions, ChordBackend, ChordClaim
from celeriac.exceptions import BackendError, DecodeError, ImproperlyConfigured, TimeoutError
from celeriac.utils.redis_url import (
    RedisTarget,
    connection_class,
    connection_kwargs,
    parse_redis_url,
    pool_kwargs,
    redacted_url,
    sentinel_master_kwargs,
)

__all__ = ["RedisBackend"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

TASK_KEYPREFIX = "celery-task-meta-"
GROUP_KEYPREFIX = "celery-taskset-meta-"

#: Celery's default ``retry_policy`` for the Redis result backend.
DEFAULT_RETRY_POLICY = {
    "max_retries": 20,
    "interval_start": 0.0,
    "interval_step": 1.0,
    "interval_max": 1.0,
}

#: Store task metas unless a SUCCESS is stored, and PUBLISH them (Celery's write, atomic).
#: KEYS: the result keys. ARGV: 1 "ex" | "px" | "" (no expiry), 2 the expiry, then one
#: payload per key. A key given twice is written in order (a STARTED then its SUCCESS).
STORE = r"""
local mode, ttl = ARGV[1], ARGV[2]
local written = 0
for i, key in ipairs(KEYS) do
    local payload = ARGV[2 + i]
    local current = redis.call('GET', key)
    local success = false
    if current then
        if string.sub(current, 1, 11) == '{"status": ' then
            success = string.sub(current, 12, 20) == '"SUCCESS"'
        else
            local ok, decoded = pcall(cjson.decode, current)
            success = ok and type(decoded) == 'table' and decoded['status'] == 'SUCCESS'
        end
    end
    if not success then
        if mode == 'ex' then
            redis.call('SETEX', key, ttl, payload)
        elseif mode == 'px' then
            redis.call('SET', key, payload, 'PX', ttl)
        else
            redis.call('SET', key, payload)
        end
        redis.call('PUBLISH', key, payload)
        written = written + 1
    end
end
return written
"""

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    ConnectionError,
    OSError,
)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return value.encode("utf-8")


def global_keyprefix(value: Any) -> str:
    """Celery's rule for ``global_keyprefix``: add ``_`` unless it ends in ``: _ - .``."""
    prefix = str(value or "")
    if prefix and prefix[-1] not in ":_-.":
        prefix += "_"
    return prefix


@dataclass(slots=True, eq=False)
class _Subscription:
    """Coroutines waiting for one channel."""

    futures: set[asyncio.Future[bytes | None]] = field(default_factory=set)


@dataclass(slots=True, eq=False)
class _AsyncState:
    """One event loop's client, and its shared pub/sub reader."""

    loop: asyncio.AbstractEventLoop
    client: Any
    store: Any
    pubsub: Any = None
    reader: asyncio.Task[None] | None = None
    channels: dict[str, _Subscription] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RedisBackend(ChordBackend, Backend):
    """Celery's Redis result store: ``celery-task-meta-<id>`` keys, SETEX + PUBLISH writes.

    Options (``result_backend_transport_options``, or the URL's query string): ``global_keyprefix``,
    ``retry_policy``, ``socket_timeout``, ``socket_connect_timeout``,
    ``health_check_interval``, ``max_connections``, ``master_name`` and
    ``sentinel_kwargs`` (Sentinel), ``redis_backend_use_ssl`` (TLS settings).
    """

    schemes = ("redis", "rediss", "redis+socket", "sentinel")
    crosses_processes = True

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        self.target: RedisTarget = parse_redis_url(url)
        opts: dict[str, Any] = {**(self.options.extra or {}), **self.target.query}
        self._opts = opts
        prefix = global_keyprefix(opts.get("global_keyprefix"))
        self.task_keyprefix = prefix + TASK_KEYPREFIX
        self.group_keyprefix = prefix + GROUP_KEYPREFIX
        policy = dict(DEFAULT_RETRY_POLICY)
        policy.update(opts.get("retry_policy") or {})
        self.retry_policy = policy
        self.max_connections = int(opts.get("max_connections", 10))
        self._conn_kwargs = connection_kwargs(
            self.target, opts, use_ssl=opts.get("redis_backend_use_ssl", opts.get("ssl"))
        )
        self._sync_client: redis.Redis | None = None
        self._sync_pid = 0
        self._sync_lock = threading.Lock()
        self._local = threading.local()
        self._async: _AsyncState | None = None
        self._down_since: float | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redacted_url(self.url)!r}>"

    # -- keys -------------------------------------------------------------------------
    def task_key(self, task_id: str) -> str:
        """The key (and pub/sub channel) of a task's result."""
        return self.task_keyprefix + task_id

    def group_key(self, group_id: str) -> str:
        """The key of a saved group result."""
        return self.group_keyprefix + group_id

    # -- clients ----------------------------------------------------------------------
    def _sentinel_master(self, module: Any, redis_class: Any) -> Any:
        master = self._opts.get("master_name")
        if not master:
            raise ImproperlyConfigured(
                "a sentinel:// result backend needs "
                "result_backend_transport_options={'master_name': ...}"
            )
        kwargs = sentinel_master_kwargs(self._conn_kwargs)
        manager = module.Sentinel(
            list(self.target.sentinels), sentinel_kwargs=self._opts.get("sentinel_kwargs"), **kwargs
        )
        return manager.master_for(str(master), redis_class=redis_class)

    def _sync(self) -> redis.Redis:
        client = self._sync_client
        if client is None or self._sync_pid != os.getpid():
            with self._sync_lock:
                client = self._sync_client
                if client is None or self._sync_pid != os.getpid():
                    if self.target.kind == "sentinel":
                        client = self._sentinel_master(redis.sentinel, redis.Redis)
                    else:
                        retry = redis.retry.Retry(redis.backoff.NoBackoff(), 1)
                        pool = redis.connection.ConnectionPool(
                            connection_class=connection_class(self._conn_kwargs, redis.connection),
                            max_connections=max(self.max_connections, 4) * 4,
                            retry=retry,
                            **pool_kwargs(self._conn_kwargs),
                        )
                        client = redis.Redis(connection_pool=pool)
                    self._sync_client = client
                    self._sync_pid = os.getpid()
                    self._local = threading.local()
        return client

    def _async_state(self) -> _AsyncState:
        loop = asyncio.get_running_loop()
        state = self._async
        if state is None or state.loop is not loop:
            if self.target.kind == "sentinel":
                client = self._sentinel_master(redis.asyncio.sentinel, redis.asyncio.Redis)
            else:
                retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1)
                pool = redis.asyncio.BlockingConnectionPool(
                    connection_class=connection_class(self._conn_kwargs, redis.asyncio.connection),
                    max_connections=max(self.max_connections, 4),
                    timeout=None,
                    retry=retry,
                    **pool_kwargs(self._conn_kwargs),
                )
                client = redis.asyncio.Redis(connection_pool=pool)
            state = self._async = _AsyncState(loop, client, client.register_script(STORE))
        return state

    # -- retries ----------------------------------------------------------------------
    def _delays(self) -> list[float]:
        policy = self.retry_policy
        max_retries = policy.get("max_retries")
        count = 1000 if max_retries is None else int(max_retries)
        delay = float(policy.get("interval_start", 0.0))
        delays = []
        for _ in range(count):
            delays.append(delay)
            delay = min(
                delay + float(policy.get("interval_step", 1.0)),
                float(policy.get("interval_max", 1.0)),
            )
        return delays

    def _lost(self, exc: BaseException, delay: float) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning(
                "Cannot reach the Redis result backend at %s: %s; retrying",
                redacted_url(self.url),
                exc,
            )
        else:
            logger.debug("Redis result backend still unreachable (%r); retry in %.1fs", exc, delay)

    def _back(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "Reconnected to the Redis result backend at %s after %.1fs",
                redacted_url(self.url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _call(self, what: str, func: Callable[[redis.Redis], T]) -> T:
        delays = iter(self._delays())
        while True:
            try:
                result = func(self._sync())
            except CONNECTION_ERRORS as exc:
                delay = next(delays, None)
                if delay is None:
                    raise BackendError(
                        f"{what} failed: Redis result backend unreachable: {exc}"
                    ) from exc
                self._lost(exc, delay)
                time.sleep(delay)
                continue
            except redis.exceptions.RedisError as exc:
                raise BackendError(f"{what} failed on the Redis result backend: {exc}") from exc
            self._back()
            return result

    async def _acall(self, what: str, func: Callable[[Any], Awaitable[T]]) -> T:
        delays = iter(self._delays())
        while True:
            state = self._async_state()
            try:
                result = await func(state.client)
            except CONNECTION_ERRORS as exc:
                delay = next(delays, None)
                if delay is None:
                    raise BackendError(
                        f"{what} failed: Redis result backend unreachable: {exc}"
                    ) from exc
                self._lost(exc, delay)
                await asyncio.sleep(delay)
                continue
            except redis.exceptions.RedisError as exc:
                raise BackendError(f"{what} failed on the Redis result backend: {exc}") from exc
            self._back()
            return result

    # -- storage ----------------------------------------------------------------------
    def _expiry(self, status: str | None = None) -> tuple[str, Any] | None:
        """``("ex", seconds)`` for whole seconds (Celery's SETEX), ``("px", ms)`` otherwise."""
        expires = self.options.expires_for(status)
        if not expires or expires <= 0:
            return None
        if float(expires).is_integer():
            return "ex", int(expires)
        return "px", max(1, int(expires * 1000))

    def _plan(
        self, items: Sequence[tuple[str, dict[str, Any]]], stored: Sequence[bytes | None]
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
        self, items: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[tuple[tuple[str, Any] | None, Sequence[tuple[str, dict[str, Any]]]]]:
        """Split a batch by expiry (FAILURE may differ: ``result_failure_expires``)."""
        if self.options.failure_expires is None:
            return [(self._expiry(), items)]
        groups: dict[tuple[str, Any] | None, list[tuple[str, dict[str, Any]]]] = {}
        for item in items:
            groups.setdefault(self._expiry(item[1].get("status")), []).append(item)
        return list(groups.items())

    def _queue_writes(
        self, pipe: Any, writes: Sequence[tuple[str, bytes]], expiry: tuple[str, Any] | None
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
        self, items: Sequence[tuple[str, dict[str, Any]]], expiry: tuple[str, Any] | None
    ) -> tuple[list[str], list[Any]]:
        mode, ttl = expiry if expiry is not None else ("", 0)
        keys = [self.task_key(task_id) for task_id, _ in items]
        return keys, [mode, ttl, *(self.encode(meta) for _, meta in items)]

    def _scriptable(self) -> bool:
        """True when STORE can read the stored status (a JSON result serializer)."""
        return self.options.serializer == "json"

    def store_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Store metas, leaving a stored SUCCESS alone, and PUBLISH them (one round trip)."""
        for expiry, batch in self._by_expiry(items) if items else ():
            self._store_batch(batch, expiry)

    def _store_batch(
        self, items: Sequence[tuple[str, dict[str, Any]]], expiry: tuple[str, Any] | None
    ) -> None:
        if self._scriptable():
            keys, args = self._store_args(items, expiry)
            self._call("store", lambda client: self._sync_store(client)(keys=keys, args=args))
            return

        def run(client: redis.Redis) -> None:
            keys = [self.task_key(task_id) for task_id, _ in items]
            stored = client.mget(keys) if len(keys) > 1 else [client.get(keys[0])]
            writes = self._plan(items, [_as_bytes(v) for v in stored])
            if writes:
                with client.pipeline(transaction=True) as pipe:
                    self._queue_writes(pipe, writes, expiry)
                    pipe.execute()

        self._call("store", run)

    def _sync_store(self, client: redis.Redis) -> Any:
        script = getattr(self, "_sync_store_script", None)
        if script is None or script.registered_client is not client:
            script = self._sync_store_script = client.register_script(STORE)
        return script

    async def astore_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Async twin of :meth:`store_many`, on this loop's asyncio client."""
        for expiry, batch in self._by_expiry(items) if items else ():
            await self._astore_batch(batch, expiry)

    async def _astore_batch(
        self, items: Sequence[tuple[str, dict[str, Any]]], expiry: tuple[str, Any] | None
    ) -> None:
        if self._scriptable():
            keys, args = self._store_args(items, expiry)
            state = self._async_state()
            await self._acall("store", lambda _client: state.store(keys=keys, args=args))
            return
        keys = [self.task_key(task_id) for task_id, _ in items]

        async def run(client: Any) -> None:
            stored = await client.mget(keys) if len(keys) > 1 else [await client.get(keys[0])]
            writes = self._plan(items, stored)
            if writes:
                async with client.pipeline(transaction=True) as pipe:
                    self._queue_writes(pipe, writes, expiry)
                    await pipe.execute()

        await self._acall("store", run)

    def get(self, task_id: str) -> dict[str, Any] | None:
        """Read a task's meta; ``None`` when nothing is stored (PENDING) or it expired."""
        value = _as_bytes(self._call("get", lambda client: client.get(self.task_key(task_id))))
        return None if value is None else self.decode(value)

    async def aget(self, task_id: str) -> dict[str, Any] | None:
        """Async twin of :meth:`get`."""
        value = await self._acall("get", lambda client: client.get(self.task_key(task_id)))
        return None if value is None else self.decode(value)

    def forget(self, task_id: str) -> None:
        """Delete a task's meta."""
        self._call("forget", lambda client: client.delete(self.task_key(task_id)))

    def save_group(self, group_id: str, meta: dict[str, Any]) -> None:
        """Store a group's meta (SETEX + PUBLISH, as Celery's ``GroupResult.save``)."""
        payload = self.encode(meta)

        def run(client: redis.Redis) -> None:
            with client.pipeline(transaction=True) as pipe:
                self._queue_writes(pipe, [(self.group_key(group_id), payload)], self._expiry())
                pipe.execute()

        self._call("save_group", run)

    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """Read a group's meta; ``None`` when not saved or expired."""
        value = _as_bytes(
            self._call("get_group", lambda client: client.get(self.group_key(group_id)))
        )
        return None if value is None else self.decode(value)

    def forget_group(self, group_id: str) -> None:
        """Delete a group's meta."""
        self._call("forget_group", lambda client: client.delete(self.group_key(group_id)))

    def close(self) -> None:
        """Close this process's connections (they reopen on next use)."""
        client, self._sync_client = self._sync_client, None
        if client is not None and self._sync_pid == os.getpid():
            client.close()

    # -- waiting (sync) -----------------------------------------------------------------
    def _ready(self, payload: bytes | None) -> dict[str, Any] | None:
        if payload is None:
            return None
        meta = self.decode(payload)
        return meta if meta.get("status") in states.READY_STATES else None

    def _pubsub(self) -> redis.client.PubSub:
        """This thread's pub/sub connection, kept across waits (subscribing is one command)."""
        client = self._sync()
        pubsub: redis.client.PubSub | None = getattr(self._local, "pubsub", None)
        if pubsub is None:
            pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            self._local.pubsub = pubsub
        return pubsub

    def _drop_pubsub(self) -> None:
        pubsub = getattr(self._local, "pubsub", None)
        self._local.pubsub = None
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # closing a broken connection
                pass

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Block until the task is ready: SUBSCRIBE to its channel, GET, then wait.

        A Redis restart while waiting is ridden out: the wait resubscribes and reads the
        key again, with backoff, until ``timeout``.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        key = self.task_key(task_id)
        channel = key.encode()
        deadline = None if timeout is None else time.monotonic() + timeout
        delays = iter(self._delays())
        while True:
            pubsub = self._pubsub()
            try:
                pubsub.subscribe(key)
                try:
                    meta = self._ready(_as_bytes(self._sync().get(key)))
                    while meta is None:
                        remaining = 1.0 if deadline is None else deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError(
                                f"The operation timed out waiting for task {task_id}"
                            )
                        message = pubsub.get_message(timeout=min(remaining, 1.0))
                        if message is not None and message.get("channel") == channel:
                            meta = self._ready(message["data"])
                finally:
                    if pubsub.connection is not None:
                        pubsub.unsubscribe(key)
                self._back()
                return meta
            except CONNECTION_ERRORS as exc:
                self._drop_pubsub()
                delay = next(delays, 1.0)
                self._lost(exc, delay)
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"The operation timed out waiting for task {task_id}"
                        ) from exc
                    delay = min(delay, remaining)
                time.sleep(delay)

    # -- waiting (async) ----------------------------------------------------------------
    async def _read(self, state: _AsyncState) -> None:
        """Route published results to the coroutines waiting for them."""
        while state.channels:
            try:
                message = await state.pubsub.get_message(timeout=1.0)
            except CONNECTION_ERRORS as exc:
                # Wake every waiter: it reads its key again (a result may have been
                # published while the connection was down) and resubscribes.
                self._lost(exc, 0.5)
                for subscription in state.channels.values():
                    for future in subscription.futures:
                        if not future.done():
                            future.set_exception(exc)
                state.channels.clear()
                pubsub, state.pubsub = state.pubsub, None
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
                return
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            waiting = state.channels.get(channel)
            if waiting is None:
                continue
            for future in waiting.futures:
                if not future.done():
                    future.set_result(message["data"])

    async def await_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Async twin of :meth:`wait_for`: one shared subscriber connection per event loop.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        key = self.task_key(task_id)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delays = iter(self._delays())
        while True:
            state = self._async_state()
            future: asyncio.Future[bytes | None] = loop.create_future()
            try:
                async with state.lock:
                    subscription = state.channels.get(key)
                    if subscription is None:
                        subscription = state.channels[key] = _Subscription()
                        subscription.futures.add(future)
                        if state.pubsub is None:
                            state.pubsub = state.client.pubsub(ignore_subscribe_messages=True)
                        await state.pubsub.subscribe(key)
                    else:
                        subscription.futures.add(future)
                    if state.reader is None or state.reader.done():
                        state.reader = loop.create_task(self._read(state))
                try:
                    meta = self._ready(await state.client.get(key))
                    while meta is None:
                        remaining = None if deadline is None else deadline - loop.time()
                        if remaining is not None and remaining <= 0:
                            raise TimeoutError(
                                f"The operation timed out waiting for task {task_id}"
                            )
                        done, _ = await asyncio.wait([future], timeout=remaining)
                        if not done:
                            continue
                        meta = self._ready(future.result())
                        if meta is None:
                            future = loop.create_future()
                            subscription.futures.add(future)
                finally:
                    await self._unsubscribe(state, key, future)
                self._back()
                return meta
            except CONNECTION_ERRORS as exc:
                delay = next(delays, 1.0)
                self._lost(exc, delay)
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"The operation timed out waiting for task {task_id}"
                        ) from exc
                    delay = min(delay, remaining)
                await asyncio.sleep(delay)

    async def _unsubscribe(
        self, state: _AsyncState, key: str, future: asyncio.Future[bytes | None]
    ) -> None:
        found = state.channels.get(key)
        if found is None:
            return
        subscription = found
        subscription.futures.discard(future)
        stale = {f for f in subscription.futures if f.done()}
        subscription.futures -= stale
        if subscription.futures:
            return
        del state.channels[key]
        if state.pubsub is not None:
            try:
                await state.pubsub.unsubscribe(key)
            except CONNECTION_ERRORS:
                pass

    # -- chords (Celery 5.7's scripts and keys, see CHORD_PART_RETURN below) ---------------
    def _chord_keys(self, group_id: str) -> dict[str, str]:
        base = self.group_key(group_id)
        return {suffix: base + "." + suffix for suffix in "jtsdc"} | {"g": base}

    def _chord_expires(self) -> int:
        expires = self._opts.get("result_chord_expires", self.options.expires)
        return int(expires or 0)

    def _chord_script(self, client: redis.Redis, name: str, source: str) -> Any:
        scripts: dict[str, Any] = self.__dict__.setdefault("_chord_scripts", {})
        script = scripts.get(name)
        if script is None or script.registered_client is not client:
            script = scripts[name] = client.register_script(source)
        return script

    def set_chord_size(self, group_id: str, size: int) -> None:
        """Celery 5.7's producer step: ``DEL .c`` then ``SET .s <n> EX <chord expires>``."""
        keys = self._chord_keys(group_id)
        expires = self._chord_expires()

        def run(client: redis.Redis) -> None:
            client.delete(keys["c"])
            client.set(keys["s"], size, ex=expires or None)

        self._call("set_chord_size", run)

    def chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        """Celery's CHORD_PART_RETURN script; when it claims, read the parts in order."""
        keys = self._chord_keys(group_id)
        token = uuid.uuid4().hex
        expires = self._chord_expires()
        ordered = bool(self._opts.get("result_chord_ordered", True))
        score = "+inf" if group_index is None else str(int(group_index))
        script_keys = [keys["j"], keys["t"], keys["s"], keys["d"], keys["g"], keys["c"]]
        args = [task_id, part, 1 if ordered else 0, score, expires, expires]
        args += [CHORD_CLAIM_EXPIRES, token]

        def run(client: redis.Redis) -> ChordClaim | None:
            script = self._chord_script(client, "part", CHORD_PART_RETURN)
            ready, _diff, size, claimed = script(keys=script_keys, args=args)
            if ready == -1 or not size or not claimed:
                return None
            if ordered:
                members = client.zrange(keys["j"], 0, -1)
            else:
                members = client.lrange(keys["j"], 0, -1)
            return ChordClaim(token, [_as_bytes(member) or b"" for member in members])  # type: ignore[arg-type]

        return self._call("chord_part_return", run)

    def _chord_calls(
        self, parts: Sequence[tuple[str, str, int | None, bytes]]
    ) -> list[tuple[dict[str, str], str, list[str], list[Any]]]:
        """``(keys, token, script keys, script args)`` of each part's CHORD_PART_RETURN."""
        ordered = bool(self._opts.get("result_chord_ordered", True))
        expires = self._chord_expires()
        calls = []
        for group_id, task_id, group_index, part in parts:
            keys = self._chord_keys(group_id)
            score = "+inf" if group_index is None else str(int(group_index))
            token = uuid.uuid4().hex
            script_keys = [keys["j"], keys["t"], keys["s"], keys["d"], keys["g"], keys["c"]]
            args = [task_id, part, 1 if ordered else 0, score, expires, expires]
            calls.append((keys, token, script_keys, [*args, CHORD_CLAIM_EXPIRES, token]))
        return calls

    async def achord_parts_return(
        self,
        parts: Sequence[tuple[str, str, int | None, bytes]],
        metas: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> list[ChordClaim | None]:
        """Async twin of :meth:`chord_parts_return`, on this loop's asyncio client. The
        ``metas`` are stored first (Celery's STORE) in the same pipeline: one round trip."""
        ordered = bool(self._opts.get("result_chord_ordered", True))
        calls = self._chord_calls(parts)
        store: tuple[list[str], list[Any]] | None = None
        batches = self._by_expiry(metas) if metas else []
        if len(batches) == 1 and self._scriptable():
            store = self._store_args(metas, batches[0][0])
        elif metas:
            await self.astore_many(metas)

        async def run(client: Any) -> list[ChordClaim | None]:
            scripts: dict[int, Any] = self.__dict__.setdefault("_achord_scripts", {})
            script = scripts.get(id(client))
            if script is None:
                scripts.clear()
                script = scripts[id(client)] = client.register_script(CHORD_PART_RETURN)
            async with client.pipeline(transaction=False) as pipe:
                if store is not None:
                    await self._async_state().store(keys=store[0], args=store[1], client=pipe)
                for _, _, script_keys, args in calls:
                    await script(keys=script_keys, args=args, client=pipe)
                replies = await pipe.execute()
            if store is not None:
                replies = replies[1:]
            claims: list[ChordClaim | None] = []
            for (keys, token, _, _), (ready, _diff, size, claimed) in zip(
                calls, replies, strict=True
            ):
                if ready == -1 or not size or not claimed:
                    claims.append(None)
                    continue
                if ordered:
                    members = await client.zrange(keys["j"], 0, -1)
                else:
                    members = await client.lrange(keys["j"], 0, -1)
                claims.append(ChordClaim(token, list(members)))
            return claims

        return await self._acall("chord_parts_return", run)

    def chord_parts_return(
        self, parts: Sequence[tuple[str, str, int | None, bytes]]
    ) -> list[ChordClaim | None]:
        """Several parts in one pipeline of CHORD_PART_RETURN calls (each one atomic)."""
        if len(parts) == 1:
            return [self.chord_part_return(*parts[0])]
        ordered = bool(self._opts.get("result_chord_ordered", True))
        calls = self._chord_calls(parts)

        def run(client: redis.Redis) -> list[ChordClaim | None]:
            script = self._chord_script(client, "part", CHORD_PART_RETURN)
            with client.pipeline(transaction=False) as pipe:
                for _, _, script_keys, args in calls:
                    script(keys=script_keys, args=args, client=pipe)
                replies = pipe.execute()
            claims: list[ChordClaim | None] = []
            for (keys, token, _, _), (ready, _diff, size, claimed) in zip(
                calls, replies, strict=True
            ):
                if ready == -1 or not size or not claimed:
                    claims.append(None)
                    continue
                if ordered:
                    members = client.zrange(keys["j"], 0, -1)
                else:
                    members = client.lrange(keys["j"], 0, -1)
                claims.append(ChordClaim(token, [_as_bytes(m) or b"" for m in members]))  # type: ignore[arg-type]
            return claims

        return self._call("chord_parts_return", run)

    def chord_cleanup(self, group_id: str, token: str) -> None:
        """Celery's CHORD_CLEANUP script: drop ``.j .t .s .d`` and mark ``.c`` done."""
        keys = self._chord_keys(group_id)

        def run(client: redis.Redis) -> None:
            script = self._chord_script(client, "cleanup", CHORD_CLEANUP)
            script(
                keys=[keys["c"], keys["j"], keys["t"], keys["s"], keys["d"]],
                args=[token, CHORD_DONE_EXPIRES],
            )

        self._call("chord_cleanup", run)

    def add_to_chord(self, group_id: str, count: int = 1) -> None:
        """``INCRBY .t`` as Celery's ``add_to_chord``."""
        key = self._chord_keys(group_id)["t"]
        self._call("add_to_chord", lambda client: client.incrby(key, count))


# -- chords ---------------------------------------------------------------------------------
# Celery 5.7's scripts, verbatim in behaviour and keys (celery/backends/redis.py), so a
# Celery worker and a celeriac worker can complete the same chord: ``<group key>.j`` (ZSET
# of parts scored by group_index), ``.t`` (extra parts), ``.s`` (size), ``.d`` (dedupe
# set of ``<task id>:<index>``), ``.c`` (dispatch claim, then ``done``).

CHORD_PART_RETURN = """
local jkey, tkey, skey, dkey, gkey, ckey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local tid, value, ordered, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local expires, group_expires = tonumber(ARGV[5]), tonumber(ARGV[6])
local claim_expires = tonumber(ARGV[7])
local claim_token = ARGV[8]
local done_marker = redis.call('GET', ckey)
if done_marker == 'done' then
    return {-1, 0, 0, 0}
end
local member = tid .. ':' .. score
if redis.call('SISMEMBER', dkey, member) == 0 then
    if ordered == '1' then
        redis.call('ZADD', jkey, score, value)
    else
        redis.call('RPUSH', jkey, value)
    end
    redis.call('SADD', dkey, member)
end
local readycount
if ordered == '1' then
    readycount = redis.call('ZCOUNT', jkey, '-inf', '+inf')
else
    readycount = redis.call('LLEN', jkey)
end
if expires > 0 then
    for _, key in ipairs({jkey, tkey, skey, dkey}) do
        redis.call('EXPIRE', key, expires)
    end
    if group_expires > 0 then
        redis.call('EXPIRE', gkey, group_expires)
    end
end
local totaldiff = redis.call('GET', tkey)
local size = redis.call('GET', skey)
local claimed = 0
if size and readycount == tonumber(size) + tonumber(totaldiff or 0) then
    if redis.call('SET', ckey, claim_token, 'NX', 'EX', claim_expires) then
        claimed = 1
    end
end
return {readycount, totaldiff, size, claimed}
"""

CHORD_CLEANUP = """
local ckey, jkey, tkey, skey, dkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token = ARGV[1]
local done_expires = tonumber(ARGV[2])
if redis.call('GET', ckey) == token then
    redis.call('DEL', jkey, tkey, skey, dkey)
    if done_expires and done_expires > 0 then
        redis.call('SET', ckey, 'done', 'EX', done_expires)
    end
    return 1
end
return 0
"""

#: Celery's claim lifetime with the default ``result_chord_join_timeout`` (5 s): 2 x 5 s.
CHORD_CLAIM_EXPIRES = 10
#: How long ``.c`` stays ``done`` after cleanup (Celery: max(2 x claim, 300) s).
CHORD_DONE_EXPIRES = 300
