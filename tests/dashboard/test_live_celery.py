"""A real Celery 5.7 worker started with ``-E`` on Redis shows up in celeriac's dashboard
with its tasks, and the dashboard's remote control drives it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from celery import chord

from celeriac.dashboard.context import DashboardOptions
from helpers.dashboard_live import CeleryProject, ServedDashboard
from helpers.processes import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CeleryProject, ServedDashboard]]:
    root = tmp_path_factory.mktemp("dashlive")
    project = CeleryProject(root)
    app = project.dashboard_app()
    served = None
    try:
        project.start_worker()
        options = DashboardOptions(
            store_url=str(root / "history.sqlite3"), inspect_interval=1.0, queue_interval=1.0
        )
        served = ServedDashboard(app, options)
        yield project, served
    finally:
        if served is not None:
            served.close()
        project.close()
        app.close()


def api(served: ServedDashboard, path: str) -> object:
    return httpx.get(served.url + path, timeout=10).json()


def task_state(served: ServedDashboard, task_id: str) -> str | None:
    reply = httpx.get(f"{served.url}/api/v1/tasks/{task_id}", timeout=10)
    return reply.json()["task"]["state"] if reply.status_code == 200 else None


def test_the_worker_and_its_tasks_appear(live: tuple[CeleryProject, ServedDashboard]) -> None:
    project, served = live

    def online() -> dict | None:
        workers = api(served, "/api/v1/workers")["workers"]  # type: ignore[index]
        found = [w for w in workers if w["status"] == "online" and w["concurrency"] == 2]
        return found[0] if found else None

    worker = wait_until(online, timeout=20, message="the Celery worker never showed online")
    assert worker["sw_ident"] == "py-celery"
    assert project.queue in worker["queues"]
    tasks = project.tasks
    ok = tasks.add.delay(2, 3)
    bad = tasks.fail.delay("boom")
    wait_until(lambda: task_state(served, ok.id) == "SUCCESS", timeout=20)
    wait_until(lambda: task_state(served, bad.id) == "FAILURE", timeout=20)
    detail = api(served, f"/api/v1/tasks/{ok.id}")
    task = detail["task"]  # type: ignore[index]
    assert task["name"] == "dash.add" and task["args"] == "(2, 3)" and task["result"] == "5"
    assert task["hostname"] == worker["hostname"]
    assert [s["state"] for s in detail["timeline"]] == ["PENDING", "RECEIVED", "STARTED", "SUCCESS"]  # type: ignore[index]
    failed = api(served, f"/api/task/info/{bad.id}")
    assert "ValueError" in failed["exception"] and "boom" in failed["traceback"]  # type: ignore[index]
    metrics = httpx.get(served.url + "/metrics", timeout=10).text
    labels = f'hostname="{worker["hostname"]}",name="dash.add",queue_name="{project.queue}"'
    assert f"celery_task_succeeded_total{{{labels}}} 1.0" in metrics
    assert f'celery_worker_up{{hostname="{worker["hostname"]}"}} 1.0' in metrics


def test_a_chord_is_one_workflow(live: tuple[CeleryProject, ServedDashboard]) -> None:
    project, served = live
    tasks = project.tasks
    result = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)])(tasks.tsum.s())
    assert result.get(timeout=20) == 6
    wait_until(lambda: task_state(served, result.id) == "SUCCESS", timeout=20)
    graph = api(served, f"/api/v1/tasks/{result.id}/graph")
    names = sorted(n["name"] for n in graph["nodes"])  # type: ignore[index]
    assert names[-1] == "dash.tsum" and "dash.add" in names
    assert graph["edges"] and graph["edges"][0]["to"] == result.id  # type: ignore[index]


def test_revoke_and_pool_grow_by_remote_control(
    live: tuple[CeleryProject, ServedDashboard],
) -> None:
    project, served = live
    later = project.tasks.sleep.apply_async((0.1,), countdown=2)
    wait_until(lambda: task_state(served, later.id) == "RECEIVED", timeout=20)
    reply = httpx.post(f"{served.url}/api/v1/tasks/{later.id}/revoke", timeout=10)
    assert reply.status_code == 200, reply.text
    wait_until(lambda: task_state(served, later.id) == "REVOKED", timeout=20)
    workers = api(served, "/api/v1/workers")["workers"]  # type: ignore[index]
    host = next(w["hostname"] for w in workers if w["status"] == "online")
    grown = httpx.post(f"{served.url}/api/v1/workers/{host}/pool_grow", json={"n": 1}, timeout=10)
    assert grown.status_code == 200 and grown.json() == {"ok": "pool will grow"}, grown.text
    limited = httpx.post(
        f"{served.url}/api/v1/workers/{host}/rate_limit",
        json={"task_name": "dash.add", "rate_limit": "10/m"},
        timeout=10,
    )
    assert limited.json() == {"ok": "new rate limit set successfully"}, limited.text
    unknown = httpx.post(f"{served.url}/api/v1/workers/{host}/rate_limit",
                         json={"task_name": "nope", "rate_limit": "1/s"}, timeout=10)  # fmt: skip
    assert unknown.status_code == 409 and "unknown task" in unknown.json()["error"]
    extra_queue = f"{project.queue}-extra"
    added = httpx.post(f"{served.url}/api/v1/workers/{host}/add_consumer",
                       json={"queue": extra_queue}, timeout=10)  # fmt: skip
    assert added.json() == {"ok": f"add consumer {extra_queue}"}, added.text
    cancelled = httpx.post(f"{served.url}/api/v1/workers/{host}/cancel_consumer",
                           json={"queue": extra_queue}, timeout=10)  # fmt: skip
    assert cancelled.json() == {"ok": f"no longer consuming from {extra_queue}"}, cancelled.text
    shrunk = httpx.post(
        f"{served.url}/api/v1/workers/{host}/pool_shrink", json={"n": 1}, timeout=10
    )
    assert shrunk.json() == {"ok": "pool will shrink"}


def test_queue_lengths_come_from_the_broker(live: tuple[CeleryProject, ServedDashboard]) -> None:
    project, served = live

    def length() -> int | None:
        queues = api(served, "/api/v1/queues")["queues"]  # type: ignore[index]
        return next((q["length"] for q in queues if q["name"] == project.queue), None)

    assert wait_until(lambda: length() == 0, timeout=10)

    def consumed() -> bool:
        queues = api(served, "/api/v1/queues")["queues"]  # type: ignore[index]
        return any(q["consumers"] for q in queues if q["name"] == project.queue)

    wait_until(consumed, timeout=20, message="no consumer listed for the queue")
