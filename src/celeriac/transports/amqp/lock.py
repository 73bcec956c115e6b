"""Beat's leader lock and its state on RabbitMQ: one token message per lock.

The lock ``name`` is the token of the durable queue ``celeriac.lock.<name>``
(``tokens.py``): ``{"owner": …, "expires": epoch seconds, "state": {…}}``. Taking the
token is the mutex, so "acquire or renew if free, expired or mine", "release if mine" and
"write the state if I still hold the lock" (the fence) are each one atomic
read-modify-write across processes, as the Redis scripts are. RabbitMQ holds the lock
and the state; no other store is involved. Expiry uses the callers' clocks (NTP).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from celeriac.transports.amqp.fanout import Fanout
from celeriac.transports.amqp.sync import SyncChannel
from celeriac.transports.amqp.tokens import update_token

__all__ = ["Locks"]

Change = Callable[[dict[str, Any]], dict[str, Any] | None]


def _record(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {"owner": None, "expires": 0.0, "state": {}}


def _held_by(record: Mapping[str, Any], owner: str) -> bool:
    return record.get("owner") == owner and float(record.get("expires") or 0) > time.time()


class Locks(Fanout):
    """:class:`~celeriac.transports.contracts.LockStore` on token messages."""

    def _update(self, what: str, name: str, change: Change) -> dict[str, Any]:
        queue = self.config.own(f"celeriac.lock.{name}")
        outcome: list[dict[str, Any]] = []

        def apply(value: Any) -> dict[str, Any] | None:
            record = _record(value)
            new = change(record)
            outcome.append(record if new is None else new)
            return new

        def run(item: SyncChannel) -> Any:
            return update_token(item, queue, apply)

        self.pool.run(what, run)
        return outcome[-1]

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lock, or renew it when ``owner`` holds it; False when another does."""

        def take(record: dict[str, Any]) -> dict[str, Any] | None:
            free = not record.get("owner") or float(record.get("expires") or 0) <= time.time()
            if free or record.get("owner") == owner:
                return {**record, "owner": owner, "expires": time.time() + ttl}
            return None

        return _held_by(self._update("Taking a lock", name, take), owner)

    def release_lock(self, name: str, owner: str) -> None:
        """Drop the lock if ``owner`` holds it."""

        def drop(record: dict[str, Any]) -> dict[str, Any] | None:
            if record.get("owner") != owner:
                return None
            return {**record, "owner": None, "expires": 0.0}

        self._update("Releasing a lock", name, drop)

    def read_lock_state(self, name: str) -> dict[str, str]:
        """The state its holders wrote ({} before the first write)."""
        record = self._update("Reading lock state", name, lambda record: None)
        state = record.get("state")
        return {str(k): str(v) for k, v in state.items()} if isinstance(state, dict) else {}

    def write_lock_state(self, name: str, owner: str, ttl: float, items: Mapping[str, str]) -> bool:
        """Merge ``items`` into the state if ``owner`` still holds the lock (renewing it)."""
        written: list[bool] = []

        def write(record: dict[str, Any]) -> dict[str, Any] | None:
            if not _held_by(record, owner):
                written.append(False)
                return None
            written.append(True)
            state = dict(record.get("state") or {})
            state.update(items)
            return {"owner": owner, "expires": time.time() + ttl, "state": state}

        self._update("Writing lock state", name, write)
        return written[-1]
