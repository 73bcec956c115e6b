"""The database scheduler's own suite: run in a process of its own by ``../test_beat_suite.py``
(its Django settings are ``beat_settings``), ignored by the main run."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("CELERIAC_DJANGO_SUITE") == "beat" else ["test_*.py"]
