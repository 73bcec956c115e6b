"""Canvas fixtures: the shared ``app``/``make_app``/``worker`` of ``tests/conftest.py`` (memory,
SQLite and Redis), under the names the canvas tests use."""

from __future__ import annotations

import pytest

from helpers.services import Store


@pytest.fixture
def canvas_kind(transport_kind: str) -> str:
    """The broker/backend kind of the test."""
    return transport_kind


@pytest.fixture
def redis_prefix(app_store: Store) -> str | None:
    """The test's ``global_keyprefix`` on Redis (``None`` on the other kinds)."""
    return app_store.prefix
