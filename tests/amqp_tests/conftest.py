"""RabbitMQ-only fixtures: a vhost for this module's tests and transports on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.transports.amqp import AMQPTransport
from celeriac.transports.base import TransportOptions
from helpers.services import rabbitmq_vhost

AMQPFactory = Callable[..., AMQPTransport]


@pytest.fixture(scope="module")
def vhost_url() -> Iterator[str]:
    """A RabbitMQ virtual host only this module's tests use."""
    with rabbitmq_vhost("amqp") as url:
        yield url


@pytest.fixture
def amqp_transport(vhost_url: str) -> Iterator[AMQPFactory]:
    """``amqp_transport(**settings)``: a transport with app settings (``task_queues`` …)."""
    made: list[AMQPTransport] = []

    def make(
        url: str | None = None, extra: dict[str, Any] | None = None, **settings: Any
    ) -> AMQPTransport:
        conf = Celery("t", broker="memory://", set_as_current=False).conf
        for key, value in settings.items():
            conf[key] = value
        transport = AMQPTransport(
            url or vhost_url, TransportOptions(extra=extra or {}, settings=conf)
        )
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()
