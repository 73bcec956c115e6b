"""Waiting for a result: subscribe to its channel, read its key, then wait for the PUBLISH.

Readers subscribe to the channel named like the result key, then ``GET`` it, so ``get()``
wakes as soon as the result is written, and a Celery client and a celeriac client wait
for each other's results alike. After each quiet second the key is read once more, so a
result written without a PUBLISH is still found. The sync path keeps one pub/sub
connection per thread; the async path one per event loop, shared by every waiting
coroutine through a reader task. Both follow one :class:`WaitPolicy` (as httpx's
``BaseClient`` serves ``Client`` and ``AsyncClient``): a deadline, and after a connection
error a pause from ``retry_policy`` before subscribing and reading again, so a wait rides
out a Redis restart until its own timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
import redis.client

from celeriac import states
from celeriac.backends.redis.connection import (
    CONNECTION_ERRORS,
    AsyncState,
    RedisResultConnection,
    Subscription,
)
from celeriac.backends.redis.consumer import ResultConsumer
from celeriac.backends.redis.store import as_bytes
from celeriac.exceptions import TimeoutError
from celeriac.utils.process import current_pid

__all__ = ["RedisResultWaiting", "WaitPolicy"]

#: Longest wait for a message before the key is read again (seconds). The PUBLISH is the
#: fast path; reading again covers a result written without one (or published in the
#: instant between the GET and the SUBSCRIBE taking effect, which Redis does not order
#: across two connections).
SYNC_POLL = 1.0


class WaitPolicy:
    """One wait for a task's result: its deadline, and the pauses between resubscriptions.

    ``wait_for`` and ``await_for`` take the same steps and differ only in their I/O.
    Times are ``time.monotonic()`` (what an asyncio loop's clock is).

    Args:
        task_id: the awaited task (for the timeout's message).
        timeout: seconds to wait at most; ``None`` waits for ever.
        delays: the pauses after successive connection errors (``retry_policy``); 1 s
            each once they run out.
        lost: called with each connection error and the pause that follows (logging).
    """

    def __init__(
        self,
        task_id: str,
        timeout: float | None,
        delays: Iterable[float],
        lost: Callable[[BaseException, float], None],
    ) -> None:
        self.task_id = task_id
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self._delays = iter(delays)
        self._lost = lost

    def timed_out(self) -> TimeoutError:
        """The error a wait past its deadline raises."""
        return TimeoutError(f"The operation timed out waiting for task {self.task_id}")

    def remaining(self) -> float | None:
        """Seconds left to wait (``None``: no deadline).

        Raises:
            TimeoutError: the deadline has passed.
        """
        if self.deadline is None:
            return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.timed_out()
        return remaining

    def next_wait(self) -> float:
        """Seconds to wait for the PUBLISH before reading the key again: up to
        :data:`SYNC_POLL`, never past the deadline.

        Raises:
            TimeoutError: the deadline has passed.
        """
        remaining = self.remaining()
        return SYNC_POLL if remaining is None else min(remaining, SYNC_POLL)

    def pause_after(self, exc: BaseException) -> float:
        """Seconds to pause after a connection error, before subscribing and reading again.

        Raises:
            TimeoutError: (from ``exc``) the deadline has passed.
        """
        delay = next(self._delays, 1.0)
        self._lost(exc, delay)
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise self.timed_out() from exc
            delay = min(delay, remaining)
        return delay


class RedisResultWaiting(RedisResultConnection):
    """``wait_for`` (sync) and ``await_for`` (async) on pub/sub, under one :class:`WaitPolicy`."""

    _consumer: tuple[int, ResultConsumer] | None = None

    @property
    def result_consumer(self) -> ResultConsumer:
        """Celery's shared pub/sub consumer (:class:`~.consumer.ResultConsumer`), one per
        process."""
        made = self._consumer
        if made is None or made[0] != current_pid():
            made = self._consumer = (current_pid(), ResultConsumer(self))
        return made[1]

    def close(self) -> None:
        """Close this process's connections, the result consumer's pub/sub one included."""
        made, self._consumer = self._consumer, None
        if made is not None and made[0] == os.getpid():
            made[1].stop()
        super().close()

    def _policy(self, task_id: str, timeout: float | None) -> WaitPolicy:
        return WaitPolicy(task_id, timeout, self.config.retry_delays, self._lost)

    def _ready(self, payload: bytes | None) -> dict[str, Any] | None:
        if payload is None:
            return None
        meta = self.decode(payload)
        return meta if meta.get("status") in states.READY_STATES else None

    # -- sync ---------------------------------------------------------------------------
    def _pubsub(self) -> redis.client.PubSub:
        """This thread's pub/sub connection, kept across waits (subscribing is one command)."""
        client = self._sync()
        pubsub = self._local.pubsub
        if pubsub is None:
            pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call,unused-ignore]
            self._local.pubsub = pubsub
        return pubsub

    def _drop_pubsub(self) -> None:
        pubsub = self._local.pubsub
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
        policy = self._policy(task_id, timeout)
        while True:
            pubsub = self._pubsub()
            try:
                pubsub.subscribe(key)
                try:
                    meta = self._ready(as_bytes(self._sync().get(key)))
                    while meta is None:
                        message = pubsub.get_message(timeout=policy.next_wait())
                        if message is None:  # a quiet second: read the key again
                            meta = self._ready(as_bytes(self._sync().get(key)))
                        elif as_bytes(message.get("channel")) == channel:
                            meta = self._ready(as_bytes(message["data"]))
                finally:
                    if pubsub.connection is not None:
                        pubsub.unsubscribe(key)
                self._back()
                return meta
            except CONNECTION_ERRORS as exc:
                self._drop_pubsub()
                time.sleep(policy.pause_after(exc))

    # -- async ----------------------------------------------------------------------------
    async def _read(self, state: AsyncState) -> None:
        """Route published results to the coroutines waiting for them."""
        while state.channels:
            pubsub = state.pubsub
            if pubsub is None:
                return
            try:
                message = await pubsub.get_message(timeout=1.0)
            except CONNECTION_ERRORS as exc:
                # Wake every waiter: it reads its key again (a result may have been
                # published while the connection was down) and resubscribes.
                self._lost(exc, 0.5)
                for subscription in state.channels.values():
                    for future in subscription.futures:
                        if not future.done():
                            future.set_exception(exc)
                state.channels.clear()
                state.pubsub = None
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # unannotated before redis-py 6
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
        policy = self._policy(task_id, timeout)
        while True:
            state = self._async_state()
            future: asyncio.Future[bytes | None] = loop.create_future()
            try:
                subscription = await self._subscribe(state, key, future)
                try:
                    meta = self._ready(as_bytes(await state.client.get(key)))
                    while meta is None:
                        done, _ = await asyncio.wait([future], timeout=policy.next_wait())
                        if not done:  # a quiet second: read the key again
                            meta = self._ready(as_bytes(await state.client.get(key)))
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
                await asyncio.sleep(policy.pause_after(exc))

    async def _subscribe(
        self, state: AsyncState, key: str, future: asyncio.Future[bytes | None]
    ) -> Subscription:
        """Add ``future`` to the waiters of ``key``'s channel (subscribing to it if new)."""
        async with state.lock:
            subscription = state.channels.get(key)
            if subscription is None:
                subscription = state.channels[key] = Subscription()
                subscription.futures.add(future)
                if state.pubsub is None:
                    state.pubsub = state.client.pubsub(ignore_subscribe_messages=True)
                await state.pubsub.subscribe(key)
            else:
                subscription.futures.add(future)
            if state.reader is None or state.reader.done():
                state.reader = state.loop.create_task(self._read(state))
        return subscription

    async def _unsubscribe(
        self, state: AsyncState, key: str, future: asyncio.Future[bytes | None]
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
