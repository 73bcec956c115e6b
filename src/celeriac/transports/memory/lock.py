"""The leader lock and its state for ``memory://`` (beat): one process, a dict and a mutex."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import ClassVar

__all__ = ["MemoryLocks"]


class MemoryLocks:
    """The :class:`~celeriac.transports.contracts.LockStore` capability: locks shared by every
    ``memory://name`` transport of this process (keyed by ``name``)."""

    name: str
    _lock_mutex: ClassVar[threading.Lock] = threading.Lock()
    #: (broker name, lock name) -> (owner, monotonic expiry)
    _lock_holders: ClassVar[dict[tuple[str, str], tuple[str, float]]] = {}
    #: (broker name, lock name) -> state
    _lock_states: ClassVar[dict[tuple[str, str], dict[str, str]]] = {}

    def _holds(self, key: tuple[str, str], owner: str, ttl: float) -> bool:
        now = time.monotonic()
        holder = self._lock_holders.get(key)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._lock_holders[key] = (owner, now + ttl)
        return True

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lock (see :meth:`Transport.acquire_lock`)."""
        with self._lock_mutex:
            return self._holds((self.name, name), owner, ttl)

    def release_lock(self, name: str, owner: str) -> None:
        """Drop the lock if ``owner`` holds it."""
        with self._lock_mutex:
            holder = self._lock_holders.get((self.name, name))
            if holder is not None and holder[0] == owner:
                del self._lock_holders[(self.name, name)]

    def read_lock_state(self, name: str) -> dict[str, str]:
        """The state stored beside the lock."""
        with self._lock_mutex:
            return dict(self._lock_states.get((self.name, name), {}))

    def write_lock_state(self, name: str, owner: str, ttl: float, items: Mapping[str, str]) -> bool:
        """Store ``items`` if ``owner`` holds the lock (renewing it); see the base class."""
        key = (self.name, name)
        with self._lock_mutex:
            holder = self._lock_holders.get(key)
            if holder is None or holder[0] != owner or holder[1] <= time.monotonic():
                return False
            self._holds(key, owner, ttl)
            self._lock_states.setdefault(key, {}).update(items)
            return True
