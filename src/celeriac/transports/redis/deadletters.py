"""The dead-letter stream (``celeriac.dead_letters``): list by queue, requeue, discard.

Each entry's id is its stream id (``<ms>-<seq>``). A requeue pushes the stored envelope
back on its queue's list (the priority list its properties name) and deletes the entry
in one script (``lua/requeue_dead.lua``), so two dashboards requeueing the same entry at
once push it once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import cast

import redis

from celeriac.transports.base import DeadLetter
from celeriac.transports.redis import scripts
from celeriac.transports.redis.connection import RedisConnection
from celeriac.transports.redis.records import clamp_priority, text

__all__ = ["RedisDeadLetters"]

#: Entries read per XREVRANGE while looking for one queue's dead letters.
SCAN_BATCH = 500

_STREAM_ID = re.compile(r"^\d+-\d+$")

Entry = tuple[bytes, dict[bytes, bytes]]


def _letter(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    data: dict[str, bytes] = {text(k): v for k, v in fields.items()}
    return DeadLetter(
        queue=text(data.get("queue", b"")),
        reason=text(data.get("reason", b"")),
        raw=bytes(data.get("payload", b"")),
        created_at=float(data.get("created_at", 0) or 0),
        task_id=text(data["task_id"]) if data.get("task_id") else None,
        task_name=text(data["task_name"]) if data.get("task_name") else None,
        id=text(entry_id),
    )


def _priority(raw: bytes) -> int:
    """The priority in a stored envelope's properties (0 when it cannot be read)."""
    try:
        properties = json.loads(raw).get("properties")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return 0
    return clamp_priority(properties.get("priority")) if isinstance(properties, dict) else 0


def _valid(ids: Sequence[str]) -> list[str]:
    """The ids that are stream ids (anything else names no entry)."""
    return [i for i in dict.fromkeys(ids) if _STREAM_ID.match(i)]


class RedisDeadLetters(RedisConnection):
    """The :class:`~celeriac.transports.contracts.DeadLetters` capability (sync client)."""

    def list_dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters (of ``queue`` only, when given), newest last."""
        if limit <= 0:
            return []
        stream = self.keys.dead_letters

        def run(client: redis.Redis) -> list[DeadLetter]:
            found: list[DeadLetter] = []
            upper = "+"
            while len(found) < limit:
                count = limit if queue is None else SCAN_BATCH
                batch = cast(list[Entry], client.xrevrange(stream, max=upper, count=count))
                for entry_id, fields in batch:
                    if queue is None or text(fields.get(b"queue", b"")) == queue:
                        found.append(_letter(entry_id, fields))
                        if len(found) >= limit:
                            break
                if len(batch) < count or queue is None:
                    break
                upper = "(" + text(batch[-1][0])
            return found[::-1]

        return self._sync_call("dead_letters", run)

    def requeue_dead_letters(self, ids: Sequence[str]) -> int:
        """Push each entry's stored envelope back on its queue and delete the entry."""
        wanted = _valid(ids)
        if not wanted:
            return 0
        stream = self.keys.dead_letters

        def run(client: redis.Redis) -> int:
            pairs: list[tuple[str, str]] = []
            for entry_id in wanted:
                entries = cast(list[Entry], client.xrange(stream, min=entry_id, max=entry_id))
                if not entries:
                    continue
                letter = _letter(*entries[0])
                key = self.keys.list_key(letter.queue, _priority(letter.raw))
                pairs.append((entry_id, key))
            if not pairs:
                return 0
            keys = [stream, *(key for _, key in pairs)]
            args = [entry_id for entry_id, _ in pairs]
            return int(client.eval(scripts.REQUEUE_DEAD, len(keys), *keys, *args))

        return self._sync_call("requeue_dead_letters", run)

    def discard_dead_letters(self, ids: Sequence[str]) -> int:
        """Delete entries of the dead-letter stream; return how many were there."""
        wanted = _valid(ids)
        if not wanted:
            return 0
        return int(
            self._sync_call(
                "discard_dead_letters",
                lambda client: client.xdel(self.keys.dead_letters, *wanted),
            )
        )
