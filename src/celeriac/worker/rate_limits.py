"""Task rate limits (``rate_limit='10/s'``): per worker or cluster-wide, changeable at run time.

Each call waits for a slot of its own, never a lock, so a limited task never holds up
others. ``rate_limit_scope='worker'`` (the default) spaces calls in this process;
``'global'`` reserves slots in the broker's store (``RateStore.acquire_rate``), so
the rate holds across every worker of the cluster.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from celeriac.transports.contracts import RateStore
from celeriac.utils.imports import import_from_string

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.transports.base import Transport

__all__ = ["SCOPES", "RateLimiter", "RateLimits", "annotation", "parse_rate"]

logger = logging.getLogger("celery.worker.rate_limits")

#: ``rate_limit_scope`` values: this worker's processes, or every worker on the broker.
SCOPES = ("worker", "global")

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(rate: str | float | int | None) -> float:
    """Parse Celery's rate strings (``'10/s'``, ``'100/m'``, ``'1000/h'``, ``5``) to tasks/second.

    Returns 0.0 for "no limit".

    Raises:
        ValueError: the string is not a rate.
    """
    if rate is None or rate == "":
        return 0.0
    if isinstance(rate, int | float):
        return float(rate)
    count, _, unit = str(rate).partition("/")
    try:
        value = float(count)
    except ValueError:
        raise ValueError(f"invalid rate limit {rate!r}: expected e.g. '10/s', '100/m'") from None
    if not unit:
        return value
    seconds = _UNITS.get(unit.strip()[:1].lower())
    if seconds is None:
        raise ValueError(f"invalid rate limit unit in {rate!r}: use s, m or h")
    return value / seconds


class RateLimiter:
    """Spaces calls of one task name evenly at ``rate`` per second.

    Each call reserves the next free slot and sleeps until it, so calls of other
    tasks are never held up behind a limited one.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    def set_rate(self, rate: float) -> None:
        """Change the rate; calls already waiting keep their slots."""
        self.interval = 1.0 / rate if rate > 0 else 0.0

    def reserve(self) -> float:
        """Reserve a slot; return the seconds to wait before running."""
        if not self.interval:
            return 0.0
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + self.interval
        return start - now

    async def acquire(self) -> None:
        """Wait for this call's slot."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


def _annotations(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        value = import_from_string(value)
    if isinstance(value, Mapping) or not isinstance(value, list | tuple):
        return [value]
    return list(value)


def annotation(
    app: Celery, task: Task[Any, Any], option: str, annotations: list[Any] | None = None
) -> tuple[bool, Any]:
    """Look ``option`` up in ``task_annotations`` for ``task``: ``(found, value)``.

    Celery's forms: a dict by task name (``'*'`` matches every task), an object with
    ``annotate(task)`` returning a dict or None, an import path of either, or a list of
    those (the first that names the option wins; a task's own name before ``'*'``).
    ``annotations`` is the setting already normalized (read once by a worker).
    """
    if annotations is None:
        annotations = _annotations(app.conf.task_annotations)
    for item in annotations:
        if isinstance(item, Mapping):
            for name in (task.name, "*"):
                options = item.get(name)
                if isinstance(options, Mapping) and option in options:
                    return True, options[option]
        elif callable(getattr(item, "annotate", None)):
            options = item.annotate(task)
            if isinstance(options, Mapping) and option in options:
                return True, options[option]
    return False, None


class RateLimits:
    """All rate limits of one consumer: what applies to a task, and waiting for its slot.

    The rate of a task is, first match wins: a run-time change
    (:meth:`set_rate_limit`), ``task_annotations``, the task's ``rate_limit``,
    ``task_default_rate_limit``. ``worker_disable_rate_limits`` turns them all off.

    Args:
        app: the worker's app.
        transport: the consumer's transport (its store holds global limits).
        share: processes sharing a worker-scope limit (prefork children each enforce
            ``rate / share`` so the node keeps the configured rate).
        updates: called before each decision; returns the run-time changes made
            elsewhere (``{task name: rate or None}``) when they changed, else None.
    """

    def __init__(
        self,
        app: Celery,
        transport: Transport,
        share: int = 1,
        updates: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.app = app
        self.transport = transport
        self.share = max(1, share)
        self.updates = updates
        conf = app.conf
        # read once, as Celery does when the worker starts
        self.disabled = bool(conf.worker_disable_rate_limits)
        self.default_rate = conf.task_default_rate_limit
        self.default_scope = conf.task_rate_limit_scope
        self.annotations = _annotations(conf.task_annotations)
        self._overrides: dict[str, float] = {}
        self._local: dict[str, RateLimiter] = {}
        self._global_turns: dict[str, asyncio.Lock] = {}
        self._no_global_warned = False

    # -- configuration ------------------------------------------------------------------
    def set_rate_limit(self, task_name: str, rate: str | float | None) -> None:
        """Change ``task_name``'s rate from its next call on (``None``/``0``: no limit).

        Raises:
            ValueError: ``rate`` is not a rate.
        """
        value = parse_rate(rate)
        self._overrides[task_name] = value
        limiter = self._local.get(task_name)
        if limiter is not None:
            limiter.set_rate(value / self.share)
        logger.info("Rate limit of %s set to %s", task_name, rate if value else "none")

    def _refresh(self) -> None:
        if self.updates is None:
            return
        changed = self.updates()
        if changed is None:
            return
        for name in set(self._overrides) - set(changed):
            del self._overrides[name]  # no longer overridden: back to the configured rate
            self._local.pop(name, None)
        for name, rate in changed.items():
            try:
                self.set_rate_limit(name, rate)
            except ValueError as exc:
                logger.error("Ignoring the rate limit change of %s: %s", name, exc)

    def rate(self, task: Task[Any, Any]) -> float:
        """Tasks per second allowed for ``task`` (0.0: no limit).

        Raises:
            ValueError: the configured rate is not a rate.
        """
        if self.disabled:
            return 0.0
        self._refresh()
        if task.name in self._overrides:
            return self._overrides[task.name]
        found, value = False, None
        if self.annotations:
            found, value = annotation(self.app, task, "rate_limit", self.annotations)
        if not found:
            value = task.rate_limit
            if value is None:
                value = self.default_rate
        return parse_rate(value)

    def scope(self, task: Task[Any, Any]) -> str:
        """``'worker'`` or ``'global'`` for ``task``.

        Raises:
            ValueError: an unknown scope.
        """
        found, value = False, None
        if self.annotations:
            found, value = annotation(self.app, task, "rate_limit_scope", self.annotations)
        if not found:
            value = getattr(task, "rate_limit_scope", None) or self.default_scope
        if value not in SCOPES:
            raise ValueError(f"invalid rate_limit_scope {value!r}: use 'worker' or 'global'")
        return str(value)

    # -- waiting ---------------------------------------------------------------------------
    def limited(self, task: Task[Any, Any]) -> bool:
        """Whether calls of ``task`` wait for a slot."""
        return self.rate(task) > 0

    async def acquire(self, task: Task[Any, Any]) -> None:
        """Wait for the slot of this call of ``task`` (at once when it is not limited)."""
        rate = self.rate(task)
        if rate <= 0:
            return
        if self.scope(task) == "global":
            # One reservation per task name at a time in this process: slots are never
            # booked far ahead, so a worker that stops with a backlog wastes at most one
            # slot per process instead of stalling the cluster for the whole backlog.
            turn = self._global_turns.setdefault(task.name, asyncio.Lock())
            async with turn:
                delay = await self._global_slot(task, rate)
                if delay is not None:
                    if delay > 0:
                        await asyncio.sleep(delay)
                    return
        await self._local_limiter(task.name, rate).acquire()

    def _local_limiter(self, name: str, rate: float) -> RateLimiter:
        limiter = self._local.get(name)
        if limiter is None:
            limiter = self._local[name] = RateLimiter(rate / self.share)
        else:
            limiter.set_rate(rate / self.share)
        return limiter

    async def _global_slot(self, task: Task[Any, Any], rate: float) -> float | None:
        """Reserve a cluster-wide slot; None when the broker cannot (use the local one)."""
        if not isinstance(self.transport, RateStore):
            if not self._no_global_warned:
                self._no_global_warned = True
                logger.warning(
                    "Broker %r has no shared store for rate limits: rate_limit_scope='global' "
                    "is enforced per worker",
                    self.transport,
                )
            return None
        try:
            return await self.transport.acquire_rate(f"task:{task.name}", rate, 1)
        except Exception as exc:  # the broker is down: keep the rate in this process
            logger.warning(
                "Reserving a global rate-limit slot for %s failed (%r); limiting locally",
                task.name,
                exc,
            )
        return None
