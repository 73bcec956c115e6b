"""The leader lock and its state on Redis (beat): ``SET NX PX`` plus compare-and-act scripts.

Keys (under ``global_keyprefix``): ``celeriac.lock.<name>`` holds the owner with a TTL,
``celeriac.lock.<name>.state`` is a hash of the state its holders wrote. The scripts are
``lua/lock_*.lua``; they are sent with EVAL (beat calls them a few times a minute).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import redis

from celeriac.transports.redis import scripts
from celeriac.transports.redis.connection import RedisConnection
from celeriac.transports.redis.records import text

__all__ = ["RedisLocks"]

#: Entries written per script call.
WRITE_SLICE = 5000


class RedisLocks(RedisConnection):
    """The :class:`~celeriac.transports.contracts.LockStore` capability, on the sync client."""

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lock (see ``LockStore.acquire_lock``)."""
        key, ms = self.keys.lock(name), max(1, int(ttl * 1000))
        return bool(
            self._sync_call(
                "acquire lock", lambda client: client.eval(scripts.LOCK_ACQUIRE, 1, key, owner, ms)
            )
        )

    def release_lock(self, name: str, owner: str) -> None:
        """Drop the lock if ``owner`` holds it."""
        key = self.keys.lock(name)
        self._sync_call(
            "release lock", lambda client: client.eval(scripts.LOCK_RELEASE, 1, key, owner)
        )

    def read_lock_state(self, name: str) -> dict[str, str]:
        """The state stored beside the lock."""
        key = self.keys.lock(name) + ".state"
        raw = self._sync_call("read lock state", lambda client: client.hgetall(key))
        return {text(field): text(value) for field, value in raw.items()}

    def write_lock_state(self, name: str, owner: str, ttl: float, items: Mapping[str, str]) -> bool:
        """Store ``items`` if ``owner`` holds the lock (renewing it), atomically."""
        key = self.keys.lock(name)
        pairs = [part for item in items.items() for part in item]
        head: list[str | int] = [owner, max(1, int(ttl * 1000))]

        # Each call is fenced on its own; big writes go in slices so no call is huge.
        def write(client: redis.Redis, args: list[str | int]) -> object:
            return client.eval(scripts.LOCK_WRITE, 2, key, key + ".state", *args)

        for start in range(0, max(len(pairs), 1), WRITE_SLICE * 2):
            args = head + pairs[start : start + WRITE_SLICE * 2]
            written = self._sync_call("write lock state", functools.partial(write, args=args))
            if not written:
                return False
        return True
