"""The leader lock and its state on Redis (beat): ``SET NX PX`` plus compare-and-act scripts.

Keys (under ``global_keyprefix``): ``celeriac.lock.<name>`` holds the owner with a TTL,
``celeriac.lock.<name>.state`` is a hash of the state its holders wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["RedisLockMixin"]

T = TypeVar("T")

#: Entries written per script call.
WRITE_SLICE = 5000

#: Take the lock, or renew it when the caller already holds it. KEYS: lock; ARGV: owner, ms.
ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

#: Delete the lock if the caller holds it. KEYS: lock; ARGV: owner.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

#: Write state only while holding the lock (a fence), renewing it.
#: KEYS: lock, state hash; ARGV: owner, ms, field, value, field, value...
WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 3, #ARGV, 1000 do
    redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
"""


class RedisLockMixin:
    """Lock operations on the producer-side client of :class:`RedisTransport`."""

    prefix: str
    _sync_call: Callable[..., Any]

    def _lock_key(self, name: str) -> str:
        return f"{self.prefix}celeriac.lock.{name}"

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lock (see :meth:`Transport.acquire_lock`)."""
        key, ms = self._lock_key(name), max(1, int(ttl * 1000))
        return bool(
            self._sync_call("acquire lock", lambda client: client.eval(ACQUIRE, 1, key, owner, ms))
        )

    def release_lock(self, name: str, owner: str) -> None:
        """Drop the lock if ``owner`` holds it."""
        key = self._lock_key(name)
        self._sync_call("release lock", lambda client: client.eval(RELEASE, 1, key, owner))

    def read_lock_state(self, name: str) -> dict[str, str]:
        """The state stored beside the lock."""
        key = self._lock_key(name) + ".state"
        raw = self._sync_call("read lock state", lambda client: client.hgetall(key))
        return {_text(field): _text(value) for field, value in raw.items()}

    def write_lock_state(self, name: str, owner: str, ttl: float, items: Mapping[str, str]) -> bool:
        """Store ``items`` if ``owner`` holds the lock (renewing it), atomically."""
        key = self._lock_key(name)
        pairs = [part for item in items.items() for part in item]
        head: list[Any] = [owner, max(1, int(ttl * 1000))]
        # Each call is fenced on its own; big writes go in slices so no call is huge.
        for start in range(0, max(len(pairs), 1), WRITE_SLICE * 2):
            args = head + pairs[start : start + WRITE_SLICE * 2]
            written = self._sync_call(
                "write lock state",
                lambda client, args=args: client.eval(WRITE, 2, key, key + ".state", *args),
            )
            if not written:
                return False
        return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
