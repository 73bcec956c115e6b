"""Celery's result-backend methods (``store_result``, ``get_task_meta``, ``mark_as_*`` …).

Every celeriac backend stores and reads Celery's meta dicts by task id (``store``/``get``);
this mixin gives them the names a Celery project or test calls on ``app.backend``, with
Celery's arguments and return values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from celeriac import states
from celeriac.protocol.results import build_meta, meta_value

__all__ = ["CeleryResultAPI"]


class CeleryResultAPI:
    """Celery's ``BaseBackend`` calls over ``store``/``get``/``forget``."""

    def store(self, task_id: str, meta: Mapping[str, object]) -> None:  # pragma: no cover
        """Store one task's meta (the backend's own)."""
        raise NotImplementedError

    def get(self, task_id: str) -> dict[str, Any] | None:  # pragma: no cover
        """Read one task's meta (the backend's own)."""
        raise NotImplementedError

    def store_result(
        self,
        task_id: str,
        result: object,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> object:
        """Store ``state`` with ``result`` (an exception for FAILURE/RETRY); returns ``result``."""
        ready = state in states.READY_STATES
        meta = build_meta(
            task_id,
            state,
            result,
            traceback=traceback,
            children=[],
            date_done=dt.datetime.now(dt.UTC) if ready else None,
            group_id=getattr(request, "group", None),
            parent_id=getattr(request, "parent_id", None),
        )
        self.store(task_id, meta)
        return result

    def get_task_meta(self, task_id: str, cache: bool = True) -> dict[str, Any]:
        """The stored meta, or Celery's PENDING meta when nothing is stored."""
        meta = self.get(task_id)
        if meta is None:
            return {"status": states.PENDING, "result": None, "task_id": task_id}
        return meta

    def get_state(self, task_id: str) -> str:
        """The task's state (PENDING when nothing is stored)."""
        return str(self.get_task_meta(task_id).get("status"))

    get_status = get_state

    def get_result(self, task_id: str) -> Any:
        """The task's result (its exception for FAILURE/RETRY/REVOKED)."""
        return meta_value(self.get_task_meta(task_id))

    def get_traceback(self, task_id: str) -> Any:
        """The task's traceback text, if it failed."""
        return self.get_task_meta(task_id).get("traceback")

    def get_children(self, task_id: str) -> Any:
        """The task's children (result tuples), if any."""
        return self.get_task_meta(task_id).get("children")

    def mark_as_started(self, task_id: str, **meta: Any) -> object:
        """Store STARTED with ``meta`` as the result (Celery's ``pid``/``hostname``)."""
        return self.store_result(task_id, meta, states.STARTED)

    def mark_as_done(
        self, task_id: str, result: object, request: Any = None, **kwargs: Any
    ) -> object:
        """Store SUCCESS with ``result``."""
        return self.store_result(task_id, result, states.SUCCESS, request=request)

    def mark_as_failure(
        self,
        task_id: str,
        exc: BaseException,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> object:
        """Store FAILURE with ``exc``."""
        return self.store_result(task_id, exc, states.FAILURE, traceback, request)

    def mark_as_retry(
        self,
        task_id: str,
        exc: BaseException,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> object:
        """Store RETRY with ``exc``."""
        return self.store_result(task_id, exc, states.RETRY, traceback, request)

    def mark_as_revoked(
        self, task_id: str, reason: str = "", request: Any = None, **kwargs: Any
    ) -> object:
        """Store REVOKED (a ``TaskRevokedError`` with ``reason``)."""
        from celeriac.exceptions import TaskRevokedError

        return self.store_result(task_id, TaskRevokedError(reason), states.REVOKED, None, request)
