"""Helpers the canvas tests import by name (conftest cannot be)."""

from __future__ import annotations

import os

import redis

REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")


def redis_db() -> int:
    """``1 + n`` for xdist worker ``gw<n>``, 1 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


def redis_client() -> redis.Redis:
    """A client of the canvas tests' Redis database."""
    return redis.Redis.from_url(f"redis://{REDIS_HOST}/{redis_db()}")
