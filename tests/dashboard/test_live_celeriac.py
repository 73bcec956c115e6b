"""A celeriac worker started with task events shows up in the dashboard with its tasks, on
every transport (the dashboard listens through ``app.events.Receiver``)."""

from __future__ import annotations

import pytest

from celeriac import Celery
from helpers.dashboard import Dash, DashFactory
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory

pytestmark = pytest.mark.timeout(60)


def _tasks(app: Celery) -> None:
    @app.task(name="dl.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="dl.fail")
    def fail(text: str) -> None:
        raise ValueError(text)


def _state(dash: Dash, task_id: str) -> str | None:
    reply = dash.client.get(f"/api/v1/tasks/{task_id}")
    return reply.json()["task"]["state"] if reply.status_code == 200 else None


def test_a_celeriac_worker_and_its_tasks_appear(
    make_app: AppFactory, worker: WorkerFactory, make_dashboard: DashFactory
) -> None:
    app = make_app()
    _tasks(app)
    dash = make_dashboard(app=app, receive_events=True, enable_events=False)
    worker(app, send_events=True, hostname="dl1@test", heartbeat_interval=0.5)

    def online() -> bool:
        workers = dash.client.get("/api/v1/workers").json()["workers"]
        return any(w["hostname"] == "dl1@test" and w["status"] == "online" for w in workers)

    wait_until(online, timeout=15, message="the celeriac worker never showed online")
    ok = app.send_task("dl.add", (2, 3))
    bad = app.send_task("dl.fail", ("boom",))
    assert ok.get(timeout=10) == 5
    wait_until(lambda: _state(dash, ok.id) == "SUCCESS", timeout=15)
    wait_until(lambda: _state(dash, bad.id) == "FAILURE", timeout=15)
    task = dash.client.get(f"/api/v1/tasks/{ok.id}").json()["task"]
    assert task["name"] == "dl.add" and task["hostname"] == "dl1@test"
    assert task["args"] == "(2, 3)" and task["result"] == "5"
    assert isinstance(task["runtime"], float)
    assert "rss_delta" in task  # celeriac's extra field, kept with the task
    failed = dash.client.get(f"/api/task/info/{bad.id}").json()
    assert "boom" in failed["exception"]
