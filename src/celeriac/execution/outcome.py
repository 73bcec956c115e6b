"""Outcome: what running one task produced, and the kinds of outcome there are."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from celeriac import states
from celeriac.exceptions import Retry

__all__ = ["Outcome", "OutcomeKind"]


class OutcomeKind(StrEnum):
    """How a task ended. The values compare equal to Celery's state names where one exists.

    SUCCESS, FAILURE, RETRY, IGNORED (``Ignore``) and REJECTED (``Reject``) come from the
    body; REVOKED, EXPIRED, INTERNAL_ERROR, TIME_LIMIT and LOST (its process died) are
    decided around it.
    """

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    RETRY = "RETRY"
    IGNORED = "IGNORED"
    REJECTED = "REJECTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    TIME_LIMIT = "TIME_LIMIT"
    LOST = "LOST"


#: The result state each kind stores (IGNORED and REJECTED store none of their own).
_STATES = {
    OutcomeKind.SUCCESS: states.SUCCESS,
    OutcomeKind.FAILURE: states.FAILURE,
    OutcomeKind.RETRY: states.RETRY,
    OutcomeKind.IGNORED: "IGNORED",
    OutcomeKind.REJECTED: "REJECTED",
    OutcomeKind.REVOKED: states.REVOKED,
    OutcomeKind.EXPIRED: states.REVOKED,
    OutcomeKind.INTERNAL_ERROR: states.FAILURE,
    OutcomeKind.TIME_LIMIT: states.FAILURE,
    OutcomeKind.LOST: states.FAILURE,
}


@dataclass(slots=True)
class Outcome:
    """What running a task produced.

    Attributes:
        kind: how it ended.
        retval: the return value (SUCCESS).
        exc: the exception (FAILURE; the cause of a RETRY; the Reject).
        traceback: the formatted traceback (FAILURE, RETRY).
        runtime: seconds spent in the body.
        retry: the Retry signal (RETRY) with what to send again.
    """

    kind: OutcomeKind
    retval: object = None
    exc: BaseException | None = None
    traceback: str | None = None
    runtime: float = 0.0
    retry: Retry | None = None

    @property
    def state(self) -> str:
        """The state name of this outcome (``SUCCESS``, ``FAILURE``, ``RETRY``, ``REVOKED``,
        or ``IGNORED``/``REJECTED``), as middleware and signals see it."""
        return _STATES[self.kind]
