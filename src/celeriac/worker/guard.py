"""The worker's gate for received messages: signature, size and shape limits.

The consumer asks :meth:`Guard.admit` before decoding a message and :meth:`Guard.check`
after; either answers a reason when the message must not run, and the consumer
dead-letters it with that reason (nothing runs, nothing is lost).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from celeriac.exceptions import DecodeError, SecurityError
from celeriac.protocol.message import Message
from celeriac.protocol.task_message import TaskMessage, decode
from celeriac.security.limits import MessageLimits
from celeriac.security.signing import Signer

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Guard"]


class Guard:
    """What one consumer checks on every message it receives."""

    def __init__(self, signer: Signer | None, limits: MessageLimits, accept: list[str]) -> None:
        self.signer = signer
        self.limits = limits
        inner = signer.inner_accept if signer is not None else None
        #: the content types decode() accepts (inside the signature when signing is on)
        self.accept: list[str] = list(inner) if inner is not None else accept

    @classmethod
    def for_app(cls, app: Celery, accept: Collection[str]) -> Guard:
        """The guard the app's settings ask for."""
        conf = app.conf
        limits = MessageLimits(
            max_size=conf.task_message_max_size or None,
            max_args=conf.task_max_args or None,
            max_depth=conf.task_max_canvas_depth or None,
        )
        return cls(app.signer, limits, list(accept))

    def admit(self, message: Message) -> tuple[Message | None, str | None]:
        """``(message to decode, None)``, or ``(None, reason)`` to dead-letter it."""
        reason = self.limits.check_message(message)
        if reason is not None:
            return None, reason
        if self.signer is None:
            return message, None
        try:
            return self.signer.verify(message, "task"), None
        except (SecurityError, DecodeError) as exc:
            return None, f"signature refused: {exc}"

    def decode(self, message: Message) -> TaskMessage:
        """Decode an admitted message (decompressing no more than the size limit).

        Raises:
            ContentDisallowed, DecodeError, InvalidTaskError: as :func:`decode`.
        """
        return decode(message, accept=self.accept, max_size=self.limits.max_size)

    def check(self, call: TaskMessage) -> str | None:
        """The reason a decoded task is over a limit, or None."""
        return self.limits.check_call(call)
