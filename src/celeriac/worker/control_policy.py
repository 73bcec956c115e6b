"""Which remote-control requests a worker obeys: signed senders, allowed commands.

``worker_control_allowlist`` (None: every command) and ``worker_control_denylist`` name
commands; ``terminate`` in the deny list also refuses ``revoke(terminate=True)``, which
does the same thing. With signing on (``security_keys`` or ``task_serializer='auth'``)
a request must be signed by a trusted key, else it is dropped with one log line.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import DecodeError, SecurityError
from celeriac.protocol.message import Message
from celeriac.security.signing import Signer

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["ControlPolicy"]


@dataclass(frozen=True, slots=True)
class ControlPolicy:
    """One worker's remote-control policy.

    Attributes:
        allow: the commands obeyed (None: all).
        deny: the commands refused (wins over ``allow``).
        signer: verifies requests and signs replies (None: signing off).
    """

    allow: frozenset[str] | None = None
    deny: frozenset[str] = frozenset()
    signer: Signer | None = None

    @classmethod
    def for_app(cls, app: Celery) -> ControlPolicy:
        """The policy the app's settings ask for."""
        conf = app.conf
        allow: Collection[Any] | None = conf.worker_control_allowlist
        return cls(
            frozenset(str(name) for name in allow) if allow is not None else None,
            frozenset(str(name) for name in conf.worker_control_denylist or ()),
            app.signer,
        )

    @property
    def inner_accept(self) -> list[str] | None:
        """The content types inside a verified request (None: accept_content)."""
        inner = self.signer.inner_accept if self.signer is not None else None
        return list(inner) if inner is not None else None

    def open(self, message: Message) -> Message:
        """The request to parse; raises SecurityError when signing is on and it is not signed
        by a trusted key."""
        if self.signer is None:
            return message
        try:
            return self.signer.verify(message, "control")
        except DecodeError as exc:
            raise SecurityError(str(exc)) from exc

    def seal(self, message: Message) -> Message:
        """Sign a reply when signing is on."""
        return message if self.signer is None else self.signer.sign(message, "control")

    def refusal(self, method: str, arguments: Mapping[str, object]) -> str | None:
        """Why the command must not run here, or None when it may."""
        names = {method}
        if method == "revoke" and arguments.get("terminate"):
            names.add("terminate")
        denied = sorted(names & self.deny)
        if denied:
            return f"remote control command {denied[0]!r} is disabled (worker_control_denylist)"
        if self.allow is not None and method not in self.allow:
            return f"remote control command {method!r} is not in worker_control_allowlist"
        return None
