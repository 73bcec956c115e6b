"""The broker's dead letters for the dashboard: list them (by queue), requeue or discard.

Listing needs the transport's :class:`~celeriac.transports.contracts.DeadLetters`
capability (or, read-only and without ids, :class:`~celeriac.transports.contracts.Admin`);
requeue and discard need :class:`DeadLetters`. Every function is synchronous (the API
runs it in a thread) and returns JSON data.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING

from celeriac.dashboard.actions import ActionError
from celeriac.transports.base import DeadLetter
from celeriac.transports.contracts import Admin, DeadLetters, unsupported

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["MAX_IDS", "DeadLetterDesk"]

#: Ids one requeue or discard may name.
MAX_IDS = 1000

#: Characters of a dead letter's raw message the list shows.
RAW_SHOWN = 4000


def _entry(letter: DeadLetter) -> dict[str, object]:
    try:
        raw: str = letter.raw.decode()
        encoding = "utf-8"
    except UnicodeDecodeError:
        raw, encoding = base64.b64encode(letter.raw).decode(), "base64"
    return {
        "id": letter.id or None,
        "queue": letter.queue,
        "reason": letter.reason,
        "created_at": letter.created_at,
        "task_id": letter.task_id,
        "task_name": letter.task_name,
        "raw": raw[:RAW_SHOWN],
        "raw_encoding": encoding,
    }


class DeadLetterDesk:
    """What the dashboard does with the app's broker's dead letters."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    @property
    def store(self) -> DeadLetters | None:
        """The broker's dead-letter capability, or None when it has none."""
        transport = self.app.transport
        return transport if isinstance(transport, DeadLetters) else None

    @property
    def readable(self) -> bool:
        """True when the broker can at least list its dead letters."""
        return self.store is not None or isinstance(self.app.transport, Admin)

    def entries(self, queue: str | None = None, limit: int = 100) -> list[dict[str, object]]:
        """The newest ``limit`` dead letters (of ``queue`` only, when given), newest first."""
        store = self.store
        if store is not None:
            letters = store.list_dead_letters(queue, limit)
        elif isinstance(self.app.transport, Admin):
            letters = [
                d for d in self.app.transport.dead_letters(limit) if queue in (None, d.queue)
            ]
        else:
            letters = []
        return [_entry(letter) for letter in reversed(letters)]

    def _ids(self, ids: object) -> list[str]:
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise ActionError('send {"ids": [...]}: the ids of the dead letters (strings)')
        if not ids:
            raise ActionError("no dead-letter ids given")
        if len(ids) > MAX_IDS:
            raise ActionError(f"at most {MAX_IDS} ids at once")
        return list(ids)

    def _capable(self) -> DeadLetters:
        store = self.store
        if store is None:
            raise ActionError(str(unsupported(self.app.transport, "DeadLetters")), 501)
        return store

    def requeue(self, ids: object) -> dict[str, object]:
        """Put dead letters back on their queues; say how many of the ids were requeued."""
        wanted: Sequence[str] = self._ids(ids)
        done = self._capable().requeue_dead_letters(wanted)
        return {"ok": f"requeued {done} of {len(wanted)}", "requeued": done}

    def discard(self, ids: object) -> dict[str, object]:
        """Delete dead letters for good; say how many of the ids were deleted."""
        wanted: Sequence[str] = self._ids(ids)
        done = self._capable().discard_dead_letters(wanted)
        return {"ok": f"discarded {done} of {len(wanted)}", "discarded": done}
