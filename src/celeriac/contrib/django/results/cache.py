"""The ``django-cache`` result backend: results in one of Django's caches.

``CELERY_RESULT_BACKEND = "django-cache"``; ``CELERY_CACHE_BACKEND = "name"`` picks a cache
from ``CACHES`` (default: ``"default"``). Keys and values are Celery's
(``celery-task-meta-<id>`` holding the serialized meta), as django-celery-results'
cache backend writes them, and expire after ``result_expires``. No chord counters: a
chord's body waits through ``celery.chord_unlock``, as with Celery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from celeriac.backends.base import Backend, BackendOptions
from celeriac.contrib.django.results import threads

__all__ = ["CacheBackend"]

TASK_PREFIX = "celery-task-meta-"
GROUP_PREFIX = "celery-taskset-meta-"


class CacheBackend(Backend):
    """Task and group metas in a Django cache."""

    schemes = ("django-cache",)
    crosses_processes = True

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        self.cache_name = str((self.options.extra or {}).get("cache_backend") or "default")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.cache_name!r}>"

    @property
    def cache(self) -> Any:
        """The Django cache (``caches[name]``, one per thread as Django keeps them)."""
        from django.core.cache import caches

        return caches[self.cache_name]

    def _text(self, meta: Mapping[str, object]) -> str | bytes:
        payload = self.encode(meta)
        try:
            return payload.decode("utf-8")  # Celery's JSON values are str
        except UnicodeDecodeError:
            return payload

    def _value(self, stored: object) -> dict[str, Any] | None:
        if stored is None:
            return None
        raw = stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)  # type: ignore[call-overload]
        return self.decode(raw)

    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Store metas (a SUCCESS already stored is kept)."""

        def write() -> None:
            cache = self.cache
            for task_id, meta in items:
                key = TASK_PREFIX + task_id
                current = self._value(cache.get(key))
                if current is not None and current.get("status") == "SUCCESS":
                    continue
                timeout = self.options.expires_for(str(meta.get("status")))
                cache.set(key, self._text(meta), timeout)

        threads.run(write)

    def get(self, task_id: str) -> dict[str, Any] | None:
        """A task's meta; None when missing or expired."""
        return threads.run(lambda: self._value(self.cache.get(TASK_PREFIX + task_id)))

    def forget(self, task_id: str) -> None:
        """Delete a task's meta."""
        threads.run(lambda: self.cache.delete(TASK_PREFIX + task_id))

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
        """Store a group's meta."""
        threads.run(
            lambda: self.cache.set(GROUP_PREFIX + group_id, self._text(meta), self.options.expires)
        )

    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """A group's meta; None when not saved or expired."""
        return threads.run(lambda: self._value(self.cache.get(GROUP_PREFIX + group_id)))

    def forget_group(self, group_id: str) -> None:
        """Delete a group's meta."""
        threads.run(lambda: self.cache.delete(GROUP_PREFIX + group_id))
