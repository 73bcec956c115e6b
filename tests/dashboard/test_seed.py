"""A new dashboard seeds its history from the result backend (Redis and SQLite)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from celeriac import Celery
from helpers.dashboard import DashFactory, task_events
from helpers.services import prefix_settings, redis_keyspace


def _metas(app: Celery) -> tuple[str, str, str]:
    ok, bad, known = (str(uuid.uuid4()) for _ in range(3))
    app.backend.store(ok, {"status": "SUCCESS", "result": 42, "traceback": None, "children": [],
                           "date_done": "2026-12-01T10:00:00+00:00", "task_id": ok,
                           "name": "tasks.add", "args": [40, 2], "kwargs": {}, "worker": "w9@h",
                           "queue": "celery", "retries": 0})  # fmt: skip
    app.backend.store(bad, {"status": "FAILURE", "traceback": "Traceback ...", "children": [],
                            "result": {"exc_type": "ValueError", "exc_message": ["boom"],
                                       "exc_module": "builtins"},
                            "date_done": "2026-12-01T10:00:01+00:00", "task_id": bad})  # fmt: skip
    app.backend.store(known, {"status": "SUCCESS", "result": 1, "task_id": known})
    return ok, bad, known


def _check(make_dashboard: DashFactory, app: Celery) -> None:
    ok, bad, known = _metas(app)
    first = make_dashboard(app=app, seed=0)
    first.feed(task_events(known, "tasks.known"))
    first.client.__exit__(None, None, None)
    dash = make_dashboard(app=app, seed=1000, store_url=str(first.context.store.url))
    deadline = time.monotonic() + 10
    while dash.client.get("/api/v1/tasks").json()["total"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    task = dash.client.get(f"/api/v1/tasks/{ok}").json()["task"]
    assert task["state"] == "SUCCESS" and task["result"] == "42"
    assert task["name"] == "tasks.add" and task["args"] == "(40, 2)"
    assert task["hostname"] == "w9@h"
    failed = dash.client.get(f"/api/v1/tasks/{bad}").json()["task"]
    assert failed["exception"] == "ValueError('boom')" and failed["traceback"] == "Traceback ..."
    kept = dash.client.get(f"/api/v1/tasks/{known}").json()["task"]
    assert kept["name"] == "tasks.known"  # what events said is not overwritten


def test_seed_from_sqlite(make_dashboard: DashFactory, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.sqlite3'}"
    app = Celery("seed", broker="memory://", backend=url)
    try:
        _check(make_dashboard, app)
    finally:
        app.close()


def test_seed_from_redis(make_dashboard: DashFactory) -> None:
    pytest.importorskip("redis")
    with redis_keyspace("dashseed") as space:
        app = Celery("seed", broker="memory://", backend=space.url, **prefix_settings(space.prefix))
        try:
            _check(make_dashboard, app)
        finally:
            app.close()
