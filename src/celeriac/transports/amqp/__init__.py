"""The RabbitMQ broker (``amqp://``, ``pyamqp://``, ``amqps://``) on kombu's entities.

Celery and celeriac workers share its queues: exchanges and queues are declared exactly
as kombu declares them (flags and ``x-`` arguments, see ``topology.py``), task messages
are kombu's (body, ``application_headers``, basic properties), and remote control uses
the ``celery.pidbox`` fanout and ``reply.celery.pidbox`` direct exchanges.

What RabbitMQ does for us and celeriac does not redo: a delivery is leased for as long
as the consumer's channel lives (no visibility timeout, no renewal: a dead worker's
messages come back when its connection closes), and priorities are honoured on queues
declared with ``x-max-priority``. What celeriac adds: publisher confirms on every
publish, a prefetch bound to the worker's window, a delivery limit with a dead-letter
queue (``celeriac.dead_letters``), and reconnection with backoff that re-declares and
resumes consuming.

One concept per module, each extending the one before:

* ``urls.py`` (broker URLs, failover), ``options.py`` (parsed once), ``topology.py``
  (kombu's declarations), ``delay.py`` (Celery's delayed-delivery topology),
  ``messages.py`` (properties ⇄ :class:`Message`), ``sync.py`` (py-amqp producer pool),
  ``tokens.py`` (a value kept as a queue's one message).
* ``link.py`` (the worker's aiormq connection) → ``settle.py`` (ack, requeue,
  dead-letter, defer) → ``lease.py`` (renewal before ``consumer_timeout``) →
  ``consume.py`` (consumers, buffers, fetch) → ``publish.py`` (publish, exchanges,
  declarations) → ``admin.py`` → ``fanout.py`` (remote control) → ``lock.py`` (beat)
  → ``ratelimit.py``: each extends the one before.
* ``transport.py``: :class:`AMQPTransport`, all of them together.
"""

from celeriac.transports.amqp.transport import AMQPTransport

__all__ = ["AMQPTransport"]
