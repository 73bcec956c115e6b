"""Helpers shared by the lifecycle tests."""

from __future__ import annotations

import uuid
from typing import Any


def redis_settings(prefix: str) -> dict[str, Any]:
    """Settings that keep an app on the test's prefix and a queue of its own."""
    return {
        "task_default_queue": f"q-{uuid.uuid4().hex[:8]}",
        "broker_transport_options": {"global_keyprefix": prefix},
        "result_backend_transport_options": {"global_keyprefix": prefix},
    }
