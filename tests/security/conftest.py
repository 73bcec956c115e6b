"""The security suite's apps and workers also run on RabbitMQ (results in Redis): signed
tasks, dead letters of unsigned or tampered ones, limits and signed remote control."""

from __future__ import annotations

import pytest

from helpers.services import WITH_AMQP


@pytest.fixture(params=WITH_AMQP)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """memory, SQLite, Redis and RabbitMQ."""
    return str(request.param)
