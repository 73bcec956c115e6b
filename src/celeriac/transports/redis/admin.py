"""Queue administration on the Redis broker: lengths, purges, the dead-letter stream."""

from __future__ import annotations

import redis

from celeriac.transports.base import DeadLetter
from celeriac.transports.redis.deadletters import RedisDeadLetters

__all__ = ["RedisAdmin"]


class RedisAdmin(RedisDeadLetters):
    """The :class:`~celeriac.transports.contracts.Admin` capability, on the sync client
    (and :class:`~celeriac.transports.contracts.DeadLetters`, from ``deadletters.py``)."""

    def queue_length(self, queue: str) -> int:
        """Messages waiting in ``queue``: its priority lists plus its ETA set."""

        def run(client: redis.Redis) -> int:
            with client.pipeline(transaction=False) as pipe:
                for key in self.keys.queue_lists(queue):
                    pipe.llen(key)
                pipe.zcard(self.keys.eta(queue))
                return sum(int(n) for n in pipe.execute())

        return self._sync_call("queue_length", run)

    def purge(self, queue: str) -> int:
        """Delete every waiting message of ``queue`` (lists and ETA set); return how many."""

        def run(client: redis.Redis) -> int:
            keys = [*self.keys.queue_lists(queue), self.keys.eta(queue)]
            with client.pipeline(transaction=True) as pipe:
                for key in keys[:-1]:
                    pipe.llen(key)
                pipe.zcard(keys[-1])
                pipe.delete(*keys)
                return sum(int(n) for n in pipe.execute()[:-1])

        return self._sync_call("purge", run)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters from the ``celeriac.dead_letters`` stream, newest last."""
        return self.list_dead_letters(None, limit)
