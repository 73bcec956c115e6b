"""Cluster-wide rate limits on the Redis broker: one Lua script, one key per limited task."""

from __future__ import annotations

from redis.commands.core import AsyncScript

from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import scripts
from celeriac.transports.redis.connection import RedisConnection

__all__ = ["RedisRates", "parse_wait"]


def parse_wait(reply: bytes | str) -> float:
    """RATE_RESERVE's reply (bytes or str) as seconds."""
    return float(reply.decode() if isinstance(reply, bytes) else reply)


class RedisRates(RedisConnection):
    """The :class:`~celeriac.transports.contracts.RateStore` capability (``rate_reserve.lua``)."""

    def __init__(self, url: str, options: TransportOptions | None = None) -> None:
        super().__init__(url, options)
        #: the reservation script, registered on the client of the loop that used it last
        self._rate_script: tuple[object, AsyncScript] | None = None

    async def acquire_rate(self, key: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of ``key`` with one script (see ``RateStore.acquire_rate``).

        The key lives under ``global_keyprefix``; the server's clock decides.
        """
        state = self._loop_state()
        cached = self._rate_script
        if cached is None or cached[0] is not state.client:
            cached = (state.client, state.client.register_script(scripts.RATE_RESERVE))
            self._rate_script = cached
        script = cached[1]
        redis_key = self.keys.rate(key)
        reply = await self._retrying(
            "acquire_rate", lambda: script(keys=[redis_key], args=[1.0 / rate, max(1, burst)])
        )
        return parse_wait(reply)
