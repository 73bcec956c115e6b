"""Helpers shared by the lifecycle tests."""

from __future__ import annotations

import email
import threading
import time
import uuid
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from helpers.services import prefix_settings


def redis_settings(prefix: str) -> dict[str, Any]:
    """Settings that keep an app on the test's prefix and a queue of its own."""
    return {"task_default_queue": f"q-{uuid.uuid4().hex[:8]}", **prefix_settings(prefix)}


class Sink:
    """An SMTP handler keeping every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def wait(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} mails, wanted {count}"
            time.sleep(0.02)
        return list(self.messages)
