"""Celery's ``celery.loaders.default``: a loader that reads ``celeryconfig``."""

from __future__ import annotations

import os
from typing import Any

from celeriac.loaders.base import BaseLoader

__all__ = ["DEFAULT_CONFIG_MODULE", "Loader"]

#: The configuration module read when ``CELERY_CONFIG_MODULE`` is not set.
DEFAULT_CONFIG_MODULE = "celeryconfig"


class Loader(BaseLoader):
    """Reads the settings of ``CELERY_CONFIG_MODULE`` (default ``celeryconfig``)."""

    def read_configuration(self, env: str = "CELERY_CONFIG_MODULE") -> dict[str, Any]:
        """Import the configuration module and return its settings (lower-case names as
        well as Celery 3's upper-case ones)."""
        name = os.environ.get(env) or DEFAULT_CONFIG_MODULE
        module = self.import_from_cwd(name)
        self.configured = True
        return {key: value for key, value in vars(module).items() if not key.startswith("_")}
