"""What the tests give the worker and beat processes: an outbox they share with the test,
a clock the test moves, and the ``celeriac`` command.

- ``OutboxRelayBackend``: a Django e-mail backend that pickles every message into
  ``SHOP_OUTBOX_DIR``; the test's ``worker_outbox`` fixture reads them into Django's
  ``mail.outbox`` (the locmem outbox of the test process), so a test asserts on
  ``mail.outbox`` for mail a worker sent.
- ``FakeClockScheduler``: the database scheduler whose ``now`` is the ISO time in the file
  ``SHOP_FAKE_NOW`` (beat run with ``-S support:FakeClockScheduler``).
"""

from __future__ import annotations

import os
import pickle
import uuid
from datetime import datetime
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend

from celeriac.contrib.django.beat.scheduler import DatabaseScheduler


class OutboxRelayBackend(BaseEmailBackend):
    """Writes each message to ``$SHOP_OUTBOX_DIR/<uuid>.pickle``."""

    def send_messages(self, email_messages):
        directory = Path(os.environ["SHOP_OUTBOX_DIR"])
        for message in email_messages:
            target = directory / f"{uuid.uuid4().hex}.pickle"
            partial = target.with_suffix(".part")
            partial.write_bytes(pickle.dumps(message))
            partial.rename(target)  # the reader never sees half a message
        return len(email_messages)


def read_clock() -> datetime:
    return datetime.fromisoformat(Path(os.environ["SHOP_FAKE_NOW"]).read_text().strip())


class FakeClockScheduler(DatabaseScheduler):
    """The database scheduler on the test's clock."""

    def __init__(self, app, **options):
        app.now = read_clock
        super().__init__(app, **options)
