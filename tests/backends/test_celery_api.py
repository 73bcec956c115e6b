"""Celery's backend methods on every backend: ``store_result``, ``get_task_meta``, ``mark_as_*``;
on Redis also ``client``, ``get_key_for_task`` and ``get_key_for_group``."""

from __future__ import annotations

import uuid

from celeriac import states
from celeriac.backends.base import Backend
from celeriac.exceptions import TaskRevokedError


def test_store_result_and_read_it_back(backend: Backend) -> None:
    task_id = str(uuid.uuid4())
    assert backend.get_task_meta(task_id) == {
        "status": states.PENDING, "result": None, "task_id": task_id,
    }  # fmt: skip
    assert backend.get_state(task_id) == states.PENDING
    assert backend.store_result(task_id, {"answer": 42}, states.SUCCESS) == {"answer": 42}
    meta = backend.get_task_meta(task_id)
    assert meta["status"] == states.SUCCESS and meta["result"] == {"answer": 42}
    assert meta["date_done"] is not None and meta["task_id"] == task_id
    assert backend.get_status(task_id) == states.SUCCESS
    assert backend.get_result(task_id) == {"answer": 42}


def test_failures_and_revokes_are_exceptions(backend: Backend) -> None:
    failed, revoked, started = (str(uuid.uuid4()) for _ in range(3))
    backend.mark_as_failure(failed, KeyError("x"), traceback="Traceback: KeyError")
    assert isinstance(backend.get_result(failed), KeyError)
    assert backend.get_traceback(failed) == "Traceback: KeyError"
    backend.mark_as_revoked(revoked, "revoked")
    assert backend.get_state(revoked) == states.REVOKED
    assert isinstance(backend.get_result(revoked), TaskRevokedError)
    backend.mark_as_started(started, pid=1, hostname="h")
    assert backend.get_state(started) == states.STARTED
    assert backend.get_result(started) == {"pid": 1, "hostname": "h"}
    backend.mark_as_done(started, 7)
    assert backend.get_result(started) == 7 and backend.get_children(started) == []
