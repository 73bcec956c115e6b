"""App signals and beat entries added from code: Celery's ``on_configure`` family,
``on_after_fork`` and ``add_periodic_task``, a base class of
:class:`~celeriac.app.base.Celery`."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from celeriac.signals import Signal

if TYPE_CHECKING:
    from celeriac.config.settings import Settings

__all__ = ["PeriodicTasks"]

#: apps whose ``on_after_fork`` a forked child sends (one fork hook for every app)
_FORK_WATCHERS: weakref.WeakSet[PeriodicTasks] = weakref.WeakSet()


_fork_hook: list[bool] = []  # registered (once, with the first app)
_fork_hook_lock = threading.Lock()


def _after_fork_in_child() -> None:
    for app in list(_FORK_WATCHERS):
        app.on_after_fork.send(sender=app)


def _watch_forks(app: PeriodicTasks) -> None:
    """Send ``app.on_after_fork`` in every child forked from now on."""
    _FORK_WATCHERS.add(app)
    with _fork_hook_lock:
        if not _fork_hook and hasattr(os, "register_at_fork"):
            _fork_hook.append(True)
            os.register_at_fork(after_in_child=_after_fork_in_child)


class PeriodicTasks:
    """The app's configuration signals and its ``add_periodic_task`` entries."""

    conf: Settings

    def _init_periodic(self) -> None:
        #: Celery's app signals: sent with ``sender=app`` once the configuration is read
        #: (when the app is finalized, by the worker or beat) and once finalized.
        self.on_configure = Signal("on_configure")
        self.on_after_configure = Signal("on_after_configure")
        self.on_after_finalize = Signal("on_after_finalize")
        #: sent with ``sender=app`` in a child process right after it is forked (prefork
        #: pool children, ``celeriac multi``): reopen what must not be shared across fork
        self.on_after_fork = Signal("on_after_fork")
        _watch_forks(self)
        self._configured_sent = False
        #: entries added with :meth:`add_periodic_task`, read by beat beside ``beat_schedule``
        self._periodic_tasks: dict[str, dict[str, object]] = {}

    def _configured(self) -> None:
        if not self._configured_sent:
            self._configured_sent = True
            self.on_configure.send(sender=self)
            self.on_after_configure.send(sender=self, source=self.conf)

    def add_periodic_task(
        self,
        schedule: object,
        sig: Mapping[str, object] | str,
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
        name: str | None = None,
        **opts: object,
    ) -> str:
        """Add a beat entry that calls the signature ``sig`` on ``schedule`` (Celery's API).

        ``schedule`` is seconds, a timedelta, ``schedule()``, ``crontab()`` or ``solar()``;
        ``opts`` are ``apply_async`` options (``queue``, ``expires``...) and ``relative``.
        Returns the entry's name (``name``, else the signature's repr).
        """
        sig_dict: Mapping[str, object] = {"task": sig} if isinstance(sig, str) else sig
        key = name or repr(sig)
        relative = bool(opts.pop("relative", False))
        sig_options, sig_args, sig_kwargs = (
            sig_dict.get("options"),
            sig_dict.get("args"),
            sig_dict.get("kwargs"),
        )
        options = {**(sig_options if isinstance(sig_options, Mapping) else {}), **opts}
        for internal in ("subtask_type", "immutable"):
            options.pop(internal, None)
        if not args and isinstance(sig_args, list | tuple):
            args = sig_args
        if not kwargs and isinstance(sig_kwargs, Mapping):
            kwargs = sig_kwargs
        self._periodic_tasks[key] = {
            "task": sig_dict["task"],
            "schedule": schedule,
            "args": tuple(args or ()),
            "kwargs": dict(kwargs or {}),
            "options": options,
            "relative": relative,
        }
        return key
