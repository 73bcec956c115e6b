"""The Redis broker (redis, rediss, redis+socket and sentinel URLs) on kombu's layout.

Celery and celeriac clients share its queues: a queue is kombu's lists (one per priority
step; producers LPUSH kombu's JSON envelope, consumers take from the right end), a
delivered message is recorded in kombu's ``unacked`` hash and ``unacked_index`` sorted
set byte for byte as kombu writes it, and whoever finds a lease older than
``visibility_timeout`` pushes it back with kombu's ``redelivered`` flags: a Celery worker
restores ours and we restore its. Priorities follow kombu on Redis: step 0 is served
first, so priority 0 is the most urgent and 9 the least (the opposite of RabbitMQ, and
of the transport contract's "higher runs first"; a queue shared with Celery workers needs
it).

What celeriac adds, in keys Celery ignores: an atomic lease (one Lua script records a
delivery before it leaves the list), waking at once on a push (BLMOVE + LEASE on
connections of their own), renewed leases (a live worker's long task is never
restored), a delivery limit with a dead-letter stream, ETA messages parked in Redis
(not in worker memory), a bookkeeping sweep, and garbage handed out as undecodable
deliveries instead of being dropped. Needs Redis 6.2 or later (BLMOVE, ``ZRANGE …
BYSCORE REV``, as kombu 5.7 does); not Redis Cluster (the scripts name the keys of dead
consumers' inflight lists themselves).

One concept per module; the consumer's modules extend each other in this order, and
import only downwards:

* ``keys.py`` (every key name), ``options.py`` (parsed once), ``scripts.py`` + ``lua/``
  (the Lua scripts), ``records.py`` (replies, deliveries, kombu's restore record),
  ``state.py`` (what one event loop holds).
* ``connection.py``: clients and backoff → ``restore.py``: give-backs (kombu's restore)
  → ``settle.py``: ack, requeue, dead-letter, defer, renew → ``maintenance.py``: expired
  leases, dead consumers, the sweep → ``lease.py``: the LEASE script → ``blocking.py``:
  waiting for a push → ``fetch.py``: open, fetch, close.
* ``publish.py``, ``admin.py``, ``fanout.py``, ``lock.py``, ``ratelimit.py``: one
  capability each, on ``connection.py``.
* ``transport.py``: :class:`RedisTransport`, all of them together.
"""

from celeriac.transports.redis.transport import RedisTransport

__all__ = ["RedisTransport"]
