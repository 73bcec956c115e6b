"""``--autoscale=max,min``: grow the prefork pool under load, shrink it when idle.

On each turn of the pool's supervision loop the :class:`Autoscaler` counts the work in
sight (tasks running in the children plus messages waiting in the worker's queues) and
wants that many processes, within ``[min, max]``. It grows at once; it shrinks one
process at a time and only after the load stayed lower for ``keepalive`` seconds
(``AUTOSCALE_KEEPALIVE``, 30 s by default, as in Celery), retiring idle children.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from celeriac.pools.prefork import ProcessPool

__all__ = ["AUTOSCALE_KEEPALIVE", "Autoscaler", "start_autoscaler"]

logger = logging.getLogger("celery.worker.autoscale")

#: Seconds the load must stay low before a process is retired.
AUTOSCALE_KEEPALIVE = float(os.environ.get("AUTOSCALE_KEEPALIVE", 30))


class Autoscaler:
    """Keeps a :class:`ProcessPool` between ``min_concurrency`` and ``max_concurrency``.

    Args:
        pool: the pool (its ``on_tick`` is set to :meth:`tick`).
        max_concurrency, min_concurrency: the bounds (``--autoscale=max,min``).
        waiting: how many messages wait in the worker's queues.
        keepalive: seconds of lower load before shrinking.
        interval: seconds between two measurements.
    """

    def __init__(
        self,
        pool: ProcessPool,
        max_concurrency: int,
        min_concurrency: int = 0,
        waiting: Callable[[], int] | None = None,
        keepalive: float = AUTOSCALE_KEEPALIVE,
        interval: float = 1.0,
    ) -> None:
        self.pool = pool
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self.waiting = waiting or (lambda: 0)
        self.keepalive = keepalive
        self.interval = interval
        self._last_busy = time.monotonic()
        self._next = 0.0
        self._lock = threading.Lock()
        pool.on_tick = self.tick

    @property
    def processes(self) -> int:
        """The pool's size now."""
        return self.pool.size

    @property
    def qty(self) -> int:
        """The work in sight: running tasks plus waiting messages."""
        running = sum(1 for child in self.pool.children.values() if child.running)
        try:
            waiting = self.waiting()
        except Exception as exc:  # the broker is away: decide on what runs here
            logger.debug("autoscale: could not read the queue length: %r", exc)
            waiting = 0
        return running + waiting

    def update(self, max: int | None = None, min: int | None = None) -> tuple[int, int]:
        """Change the bounds (remote control ``autoscale``); return ``(max, min)``."""
        with self._lock:
            if max is not None:
                self.max_concurrency = int(max)
            if min is not None:
                self.min_concurrency = int(min)
            self._next = 0.0
            return self.max_concurrency, self.min_concurrency

    def force_scale_up(self, n: int) -> None:
        """Raise the bounds by ``n`` and grow (``pool_grow`` under autoscale)."""
        with self._lock:
            self.max_concurrency += n
            self.min_concurrency = min(self.min_concurrency + n, self.max_concurrency)
            self._next = 0.0

    def force_scale_down(self, n: int) -> None:
        """Lower the bounds by ``n`` and shrink (``pool_shrink`` under autoscale)."""
        with self._lock:
            self.min_concurrency = max(self.min_concurrency - n, 0)
            self.max_concurrency = max(self.max_concurrency - n, max(self.min_concurrency, 1))
            self._last_busy = 0.0
            self._next = 0.0

    def tick(self) -> None:
        """Measure and resize (called by the pool's supervision loop)."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        with self._lock:
            high, low = self.max_concurrency, max(self.min_concurrency, 1)
        procs = self.pool.size
        wanted = max(low, min(high, self.qty))
        if wanted > procs:
            logger.info("Scaling up %d processes.", wanted - procs)
            self.pool.grow(wanted - procs)
            self._last_busy = now
        elif procs > high:
            self.pool.shrink(procs - high)
        elif wanted < procs and now - self._last_busy >= self.keepalive:
            if self.pool.shrink(1):
                logger.info("Scaling down 1 processes.")
                self._last_busy = now
        elif wanted >= procs:
            self._last_busy = now


def start_autoscaler(worker: Any, pool: ProcessPool) -> Autoscaler:
    """Attach an autoscaler to a worker's prefork pool (``worker.options.autoscale``)."""
    high, low = worker.options.autoscale
    transport = worker.app.transport
    queues = list(worker.queues)

    def waiting() -> int:
        return sum(transport.queue_length(queue) for queue in queues)

    scaler = Autoscaler(pool, high, low, waiting=waiting)
    worker.autoscaler = scaler
    logger.info("autoscale: between %d and %d processes", low, high)
    return scaler
