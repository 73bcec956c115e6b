"""Celery settings celeriac accepts but does not act on, and the start-up line naming them.

A project that sets one of :data:`INERT_SETTINGS` to something other than its default
gets one warning line at worker start-up (:func:`inert_settings_warning`) naming each, so
nothing is silently ignored. docs/compatibility.md says why each one is inert.
"""

from __future__ import annotations

from typing import Any

from celeriac.config.settings_table import SETTINGS

__all__ = ["INERT_SETTINGS", "inert_settings_changed", "inert_settings_warning"]

#: Accepted for compatibility, no effect in celeriac (yet).
INERT_SETTINGS: tuple[str, ...] = (
    "task_retry_on_worker_lost",
    "task_remote_tracebacks",
    "task_inherit_parent_priority",
    "worker_disable_prefetch",
    "worker_redirect_stdouts",
    "worker_redirect_stdouts_level",
    "task_protocol",
)


def inert_settings_changed(conf: Any) -> list[str]:
    """The inert settings ``conf`` sets to something other than the default."""
    changed = []
    for name in INERT_SETTINGS:
        setting = SETTINGS.get(name)
        if setting is None:
            continue
        try:
            value = conf[name]
        except KeyError:
            continue
        if value != setting.default:
            changed.append(name)
    return changed


def inert_settings_warning(conf: Any) -> str | None:
    """One line naming the inert settings the app changed, or ``None``."""
    changed = inert_settings_changed(conf)
    if not changed:
        return None
    return (
        f"these settings are accepted but have no effect in celeriac: {', '.join(changed)} "
        "(see docs/compatibility.md)"
    )
