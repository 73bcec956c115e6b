"""Lifecycle fixtures: the shared app/worker fixtures of ``tests/conftest.py`` (memory, SQLite,
Redis), a Redis key prefix for the process-level tests, and a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from helpers.services import free_port, redis_keyspace
from lifecycle.support import Sink


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A ``global_keyprefix`` of its own on the Redis test database (keys deleted after)."""
    with redis_keyspace("lc") as space:
        yield space.prefix


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    """A real SMTP server on localhost (aiosmtpd) that keeps what it is sent: (sink, port)."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
