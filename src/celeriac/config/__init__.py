"""Configuration: the settings table, the ``Settings`` mapping and the config-module loader."""

from celeriac.config.loader import settings_from_envvar, settings_from_object
from celeriac.config.settings import Settings, UnknownSettingWarning
from celeriac.config.settings_table import CELERY_DEFAULTS, OLD_NAMES, SETTINGS, Setting

__all__ = [
    "CELERY_DEFAULTS",
    "OLD_NAMES",
    "SETTINGS",
    "Setting",
    "Settings",
    "UnknownSettingWarning",
    "settings_from_envvar",
    "settings_from_object",
]
