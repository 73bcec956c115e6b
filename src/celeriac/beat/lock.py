"""The leader lock: one beat of a deployment fires entries; the others wait to take over.

The lock lives in the broker (its ``LockStore`` capability): a Redis key with a TTL, a row
with an expiry in the SQLite file, or a dict for ``memory://``. It is taken for ``ttl``
seconds and renewed every ``ttl / 3``; a follower tries every ``retry_interval``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from celeriac.transports.base import Transport
from celeriac.transports.contracts import LockStore, unsupported
from celeriac.utils.log import own_logger

__all__ = ["DEFAULT_LOCK_NAME", "LeaderLock"]

logger = own_logger(__name__)

#: The lock every beat of one broker (and key prefix) competes for.
DEFAULT_LOCK_NAME = "celeriac.beat"


class LeaderLock:
    """This beat's handle on the leader lock.

    Args:
        transport: the broker connection that keeps the lock.
        timeout: ``beat_lock_timeout``: a dead leader is replaced within this many seconds.
            The lock's TTL is 80% of it and followers retry every 10% (at most 1 s).
        name: the lock's name.
    """

    def __init__(
        self, transport: Transport, timeout: float = 30.0, name: str = DEFAULT_LOCK_NAME
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"beat_lock_timeout must be positive, got {timeout}")
        self.transport = transport
        self.name = name
        self.timeout = timeout
        self.ttl = 0.8 * timeout
        self.retry_interval = min(1.0, 0.1 * timeout)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self._valid_until = 0.0
        self._renewed_at = 0.0

    @property
    def supported(self) -> bool:
        """Whether the transport implements locks (without talking to the broker)."""
        return isinstance(self.transport, LockStore)

    @property
    def store(self) -> LockStore:
        """The transport's lock store.

        Raises:
            NotImplementedError: the transport has no leader lock.
        """
        if not isinstance(self.transport, LockStore):
            raise unsupported(self.transport, "LockStore")
        return self.transport

    def renewed(self, started: float | None = None) -> None:
        """Record a successful take or renewal (started at monotonic ``started``)."""
        started = time.monotonic() if started is None else started
        self.held = True
        self._renewed_at = started
        self._valid_until = started + self.ttl

    def lost(self) -> None:
        """Record that the lock is no longer ours."""
        if self.held:
            logger.warning("beat: lost the leader lock %s", self.name)
        self.held = False

    def acquire(self) -> bool:
        """Take or renew the lock; True while this beat is the leader."""
        started = time.monotonic()
        was = self.held
        if self.store.acquire_lock(self.name, self.owner, self.ttl):
            self.renewed(started)
            if not was:
                logger.info("beat: took the leader lock %s (%s)", self.name, self.owner)
        else:
            self.lost()
        return self.held

    def valid(self) -> bool:
        """True while the last take/renewal has not run out (by this process's clock)."""
        return self.held and time.monotonic() < self._valid_until

    def next_attempt(self) -> float:
        """Monotonic time of the next renewal (leader) or attempt (follower)."""
        if self.held:
            return self._renewed_at + self.ttl / 3
        return time.monotonic() + self.retry_interval

    def release(self) -> None:
        """Give the lock up (clean shutdown: a follower takes over at once)."""
        if self.held:
            try:
                self.store.release_lock(self.name, self.owner)
            except Exception as exc:  # the lock will expire anyway
                logger.warning("beat: could not release the leader lock: %s", exc)
            self.held = False
