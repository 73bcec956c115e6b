"""The Redis result backend's Lua scripts, read once from the ``lua/`` files shipped with it."""

from __future__ import annotations

from importlib.resources import files

__all__ = ["CHORD_CLEANUP", "CHORD_PART_RETURN", "STORE"]


def _read(name: str) -> str:
    return (files("celeriac.backends.redis") / "lua" / name).read_text(encoding="utf-8")


#: Celery's result write (GET, then SETEX/SET + PUBLISH unless a SUCCESS is stored), atomic.
STORE = _read("store.lua")
#: Celery 5.7's chord counting: record a header part, claim the body when complete.
CHORD_PART_RETURN = _read("chord_part_return.lua")
#: Celery 5.7's chord cleanup: drop the counters, mark the chord done.
CHORD_CLEANUP = _read("chord_cleanup.lua")
