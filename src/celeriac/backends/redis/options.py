"""The Redis result backend's options and key names, parsed once from the URL and settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celeriac.backends.base import BackendOptions
from celeriac.utils.redis_url import RedisTarget, connection_kwargs, parse_redis_url

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "GROUP_KEYPREFIX",
    "TASK_KEYPREFIX",
    "RedisResultOptions",
    "global_keyprefix",
]

#: Celery's keys: a task's result meta (and its PUB/SUB channel), a saved group.
TASK_KEYPREFIX = "celery-task-meta-"
GROUP_KEYPREFIX = "celery-taskset-meta-"

#: Celery's default ``retry_policy`` for the Redis result backend.
DEFAULT_RETRY_POLICY = {
    "max_retries": 20,
    "interval_start": 0.0,
    "interval_step": 1.0,
    "interval_max": 1.0,
}


def global_keyprefix(value: object) -> str:
    """Celery's rule for ``global_keyprefix``: add ``_`` unless it ends in ``: _ - .``."""
    prefix = str(value or "")
    if prefix and prefix[-1] not in ":_-.":
        prefix += "_"
    return prefix


def retry_delays(policy: Mapping[str, Any]) -> tuple[float, ...]:
    """The pauses between retries a ``retry_policy`` allows (1,000 when unbounded)."""
    max_retries = policy.get("max_retries")
    count = 1000 if max_retries is None else int(max_retries)
    delay = float(policy.get("interval_start", 0.0))
    delays = []
    for _ in range(count):
        delays.append(delay)
        delay = min(
            delay + float(policy.get("interval_step", 1.0)),
            float(policy.get("interval_max", 1.0)),
        )
    return tuple(delays)


@dataclass(frozen=True, slots=True)
class RedisResultOptions:
    """What a Redis result backend reads, parsed once (the URL's query wins).

    Attributes:
        target: where the URL points.
        task_keyprefix, group_keyprefix: Celery's key prefixes, after ``global_keyprefix``.
        retry_policy: Celery's ``retry_policy`` (defaults filled in).
        retry_delays: the pauses it allows between attempts.
        max_connections: the connection pools' size.
        conn_kwargs: redis-py connection arguments (timeouts, TLS, credentials).
        master_name, sentinel_kwargs: Sentinel's settings.
        chord_expires: ``result_chord_expires`` (else ``result_expires``), whole seconds.
        chord_ordered: ``result_chord_ordered``: parts kept in header order.
        decode_responses: redis-py's ``decode_responses`` (the URL's query or the
            transport options): replies are text, so results are never compressed.
    """

    target: RedisTarget
    task_keyprefix: str
    group_keyprefix: str
    retry_policy: Mapping[str, Any]
    retry_delays: tuple[float, ...]
    max_connections: int
    conn_kwargs: Mapping[str, Any]
    master_name: str | None
    sentinel_kwargs: Mapping[str, Any] | None
    chord_expires: int
    chord_ordered: bool
    decode_responses: bool = False

    @classmethod
    def parse(cls, url: str, options: BackendOptions) -> RedisResultOptions:
        """Read ``url`` and ``options``."""
        target = parse_redis_url(url)
        opts: dict[str, Any] = {**(options.extra or {}), **target.query}
        prefix = global_keyprefix(opts.get("global_keyprefix"))
        policy = dict(DEFAULT_RETRY_POLICY)
        policy.update(opts.get("retry_policy") or {})
        master = opts.get("master_name")
        decode = str(opts.get("decode_responses", "")).lower() in ("1", "true", "yes", "on")
        return cls(
            target=target,
            task_keyprefix=prefix + TASK_KEYPREFIX,
            group_keyprefix=prefix + GROUP_KEYPREFIX,
            retry_policy=policy,
            retry_delays=retry_delays(policy),
            max_connections=int(opts.get("max_connections", 10)),
            conn_kwargs=connection_kwargs(
                target, opts, use_ssl=opts.get("redis_backend_use_ssl", opts.get("ssl"))
            )
            | ({"decode_responses": True} if decode else {}),
            master_name=str(master) if master else None,
            sentinel_kwargs=opts.get("sentinel_kwargs"),
            chord_expires=int(opts.get("result_chord_expires", options.expires) or 0),
            chord_ordered=bool(opts.get("result_chord_ordered", True)),
            decode_responses=decode,
        )
