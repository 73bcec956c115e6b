"""The RabbitMQ transport: every part of the package together."""

from __future__ import annotations

from celeriac.transports.amqp.ratelimit import Rates

__all__ = ["AMQPTransport"]


class AMQPTransport(Rates):
    """RabbitMQ (AMQP 0-9-1) as a broker, on kombu's entities (see the package docstring)."""
