"""Task messages as mock objects, for unit tests (``celery.contrib.testing.mocks``)."""

from __future__ import annotations

import json
import numbers
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import Mock

__all__ = ["ContextMock", "TaskMessage", "TaskMessage1", "task_message_from_sig"]


def _dumps(payload: Any) -> tuple[str, str, str]:
    return "application/json", "utf-8", json.dumps(payload)


def TaskMessage(
    name: str,
    id: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    callbacks: Sequence[Any] | None = None,
    errbacks: Sequence[Any] | None = None,
    chain: Sequence[Any] | None = None,
    shadow: str | None = None,
    utc: bool | None = None,
    **options: Any,
) -> Mock:
    """A protocol 2 task message: ``headers``, ``body``, ``payload``, content type."""
    task_id = id or str(uuid.uuid4())
    message = Mock(name=f"TaskMessage-{task_id}")
    message.headers = {"id": task_id, "task": name, "shadow": shadow, **options}
    embed = {"callbacks": callbacks, "errbacks": errbacks, "chain": chain}
    payload = (list(args), dict(kwargs or {}), embed)
    message.content_type, message.content_encoding, message.body = _dumps(payload)
    message.payload = payload
    return message


def TaskMessage1(
    name: str,
    id: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    callbacks: Sequence[Any] | None = None,
    errbacks: Sequence[Any] | None = None,
    chain: Sequence[Any] | None = None,
    **options: Any,
) -> Mock:
    """A protocol 1 task message (everything in the body)."""
    task_id = id or str(uuid.uuid4())
    message = Mock(name=f"TaskMessage-{task_id}")
    message.headers = {}
    message.payload = {
        "task": name, "id": task_id, "args": list(args), "kwargs": dict(kwargs or {}),
        "callbacks": callbacks, "errbacks": errbacks, **options,
    }  # fmt: skip
    message.content_type, message.content_encoding, message.body = _dumps(message.payload)
    return message


def task_message_from_sig(
    app: Any, sig: Any, utc: bool = True, TaskMessage: Any = TaskMessage
) -> Mock:
    """The message a signature would be sent as (ids frozen, times as ISO strings)."""
    sig.freeze()
    options = sig.options
    callbacks = options.pop("link", None)
    errbacks = options.pop("link_error", None)
    countdown = options.pop("countdown", None)
    eta = app.now() + timedelta(seconds=countdown) if countdown else options.pop("eta", None)
    if isinstance(eta, datetime):
        eta = eta.isoformat()
    expires = options.pop("expires", None)
    if isinstance(expires, numbers.Real):
        expires = app.now() + timedelta(seconds=float(expires))
    if isinstance(expires, datetime):
        expires = expires.isoformat()
    return TaskMessage(  # type: ignore[no-any-return]
        sig.task,
        id=sig.id,
        args=sig.args,
        kwargs=sig.kwargs,
        callbacks=[dict(s) for s in callbacks] if callbacks else None,
        errbacks=[dict(s) for s in errbacks] if errbacks else None,
        eta=eta,
        expires=expires,
        utc=utc,
        **options,
    )


class _ContextMock(Mock):
    """A mock usable in a ``with`` statement (the methods must be on the class)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def ContextMock(*args: Any, **kwargs: Any) -> Mock:
    """A mock of a context manager: ``with mock as m`` gives the mock itself."""
    obj = _ContextMock(*args, **kwargs)
    obj.attach_mock(_ContextMock(), "__enter__")
    obj.attach_mock(_ContextMock(), "__exit__")
    enter: Any = obj.__enter__
    leave: Any = obj.__exit__
    enter.return_value = obj
    leave.return_value = None
    return obj
