"""The JSON API over recorded Celery events: tasks, filters, detail, Flower's paths."""

from __future__ import annotations

import uuid

from helpers.dashboard import Dash, DashFactory, recorded_events, task_events


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def test_recorded_celery_events_become_tasks_and_workers(dashboard: Dash) -> None:
    events = recorded_events()
    dashboard.feed(events)
    data = dashboard.client.get("/api/v1/tasks?limit=100").json()
    by_id = {t["uuid"]: t for t in data["tasks"]}
    expected = {str(e["uuid"]) for e in events if str(e["type"]).startswith("task-")}
    assert set(by_id) == expected
    assert data["total"] == len(expected)
    succeeded = next(e for e in events if e["type"] == "task-succeeded")
    task = by_id[str(succeeded["uuid"])]
    assert task["state"] == "SUCCESS"
    assert task["result"] == succeeded["result"]
    assert task["runtime"] == succeeded["runtime"]
    revoked = next(e for e in events if e["type"] == "task-revoked")
    assert by_id[str(revoked["uuid"])]["state"] == "REVOKED"
    assert "expired" in by_id[str(revoked["uuid"])]  # extra fields kept
    workers = dashboard.client.get("/api/v1/workers").json()["workers"]
    hosts = {w["hostname"] for w in workers}
    assert hosts == {str(e["hostname"]) for e in events if str(e["type"]).startswith("worker-")}
    assert all(w["status"] == "offline" for w in workers)  # both sent worker-offline
    assert all(w["sw_ident"] == "py-celery" for w in workers)


def test_filters_search_sort_and_pages(dashboard: Dash) -> None:
    adds, fails = ids(30), ids(5)
    events = []
    for i, tid in enumerate(adds):
        events += task_events(tid, at=1_800_000_000 + i, args=f"({i}, 1)", hostname="a@h")
    for i, tid in enumerate(fails):
        events += task_events(
            tid, "tasks.fail", at=1_800_000_100 + i, state="failed", hostname="b@h"
        )
    dashboard.feed(events)
    get = lambda q: dashboard.client.get(f"/api/v1/tasks?{q}").json()
    assert get("")["total"] == 35
    failed = get("state=FAILURE")
    assert failed["total"] == 5 and {t["uuid"] for t in failed["tasks"]} == set(fails)
    assert get("state=SUCCESS,FAILURE")["total"] == 35
    assert get("name=tasks.add&hostname=a@h")["total"] == 30
    assert get("hostname=b@h")["total"] == 5
    assert [t["args"] for t in get("search=(17,")["tasks"]] == ["(17, 1)"]
    assert get("search=boom")["total"] == 5  # the exception text
    searched = get("search=1)&limit=10")  # every add: a page, and "more" instead of a count
    assert len(searched["tasks"]) == 10 and searched["total"] == 11 and searched["total_capped"]
    assert get("search=1)&limit=10&offset=20")["total"] == 30
    newest = get("limit=10")["tasks"]
    assert [t["uuid"] for t in newest[:5]] == fails[::-1]
    second = get("limit=10&offset=10")["tasks"]
    assert not {t["uuid"] for t in newest} & {t["uuid"] for t in second}
    oldest = get("sort=timestamp&limit=3")["tasks"]
    assert get("sort_by=received&limit=3")["tasks"] == oldest  # Flower's name
    assert [t["uuid"] for t in oldest] == adds[:3]
    window = get(f"since={1_800_000_100}&until={1_800_000_103}")
    assert window["total"] == 3
    assert dashboard.client.get("/api/v1/tasks?sort=args").status_code == 400
    assert dashboard.client.get("/api/v1/tasks?limit=x").status_code == 400
    menus = dashboard.client.get("/api/v1/tasks/menus").json()
    assert menus["name"] == ["tasks.add", "tasks.fail"]
    assert menus["hostname"] == ["a@h", "b@h"]


def test_task_detail_timeline_wait_and_runtime(dashboard: Dash) -> None:
    (tid,) = ids(1)
    dashboard.feed(task_events(tid, at=1_800_000_000.0, runtime=2.0))
    detail = dashboard.client.get(f"/api/v1/tasks/{tid}").json()
    assert [s["state"] for s in detail["timeline"]] == ["RECEIVED", "STARTED", "SUCCESS"]
    assert abs(detail["wait"] - 0.1) < 1e-6
    assert detail["runtime"] == 2.0
    assert detail["task"]["name"] == "tasks.add"
    assert dashboard.client.get(f"/api/v1/tasks/{ids(1)[0]}").status_code == 404


def test_events_out_of_order_keep_the_final_state(dashboard: Dash) -> None:
    (tid,) = ids(1)
    received, started, succeeded = task_events(tid)
    dashboard.feed([succeeded])
    dashboard.feed([started, received])
    task = dashboard.client.get(f"/api/v1/tasks/{tid}").json()["task"]
    assert task["state"] == "SUCCESS"
    assert task["name"] == "tasks.add"  # fields of the late events are merged
    assert task["received"] is not None


def test_a_late_task_sent_event_does_not_move_the_state_back(dashboard: Dash) -> None:
    (tid,) = ids(1)
    received, started, _ = task_events(tid, at=1_800_000_000.0)
    sent = {"type": "task-sent", "uuid": tid, "hostname": "gen1@client", "name": "tasks.add",
            "queue": "q1", "timestamp": 1_800_000_000.5}  # fmt: skip
    dashboard.feed([received, started, sent])
    detail = dashboard.client.get(f"/api/v1/tasks/{tid}").json()
    assert detail["task"]["state"] == "STARTED"
    assert detail["task"]["queue"] == "q1" and detail["task"]["hostname"] == "w1@test"
    assert [s["state"] for s in detail["timeline"]] == ["PENDING", "RECEIVED", "STARTED"]


def test_a_retried_task_goes_back_to_received_then_succeeds(dashboard: Dash) -> None:
    (tid,) = ids(1)
    first = task_events(tid, at=1_800_000_000.0, state="started")
    retried = {
        "type": "task-retried",
        "uuid": tid,
        "hostname": "w1@test",
        "timestamp": 1_800_000_001.0,
        "exception": "Retry in 1s",
        "traceback": "",
    }
    again = task_events(tid, at=1_800_000_002.0)
    dashboard.feed([*first, retried])
    assert dashboard.client.get(f"/api/v1/tasks/{tid}").json()["task"]["state"] == "RETRY"
    dashboard.feed(again)
    detail = dashboard.client.get(f"/api/v1/tasks/{tid}").json()
    assert detail["task"]["state"] == "SUCCESS"
    assert "RETRY" in [s["state"] for s in detail["timeline"]]


def test_flower_paths_keep_flowers_shapes(dashboard: Dash) -> None:
    parent, child = ids(2)
    dashboard.feed(
        task_events(parent) + task_events(child, "tasks.mul", parent_id=parent, root_id=parent)
    )
    tasks = dashboard.client.get("/api/tasks?limit=10").json()
    assert set(tasks) == {parent, child}
    assert tasks[child]["worker"] == "w1@test" and tasks[child]["state"] == "SUCCESS"
    assert dashboard.client.get("/api/tasks?taskname=tasks.mul").json().keys() == {child}
    info = dashboard.client.get(f"/api/task/info/{parent}").json()
    assert info["uuid"] == parent and info["children"] == [child]
    assert dashboard.client.get(f"/api/task/info/{ids(1)[0]}").status_code == 404
    dashboard.feed(recorded_events())
    workers = dashboard.client.get("/api/workers").json()
    assert "w1@celeriac-test" in workers
    assert workers["w1@celeriac-test"]["status"] is False


def test_async_apply_sends_the_task(dashboard: Dash) -> None:
    app = dashboard.context.app
    reply = dashboard.client.post("/api/task/async-apply/tasks.add", json={"args": [1, 2]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "PENDING"
    assert app.transport.queue_length("celery") == 1  # type: ignore[attr-defined]
    bad = dashboard.client.post("/api/task/async-apply/tasks.add", json={"args": {"x": 1}})
    assert bad.status_code == 400 and "args must be" in bad.json()["error"]


def test_rerun_sends_the_same_arguments_again(dashboard: Dash) -> None:
    (tid,) = ids(1)
    dashboard.feed(
        task_events(tid, "tasks.fail", state="failed", args="('x', 2)", kwargs="{'k': [1]}")
    )
    reply = dashboard.client.post(f"/api/v1/tasks/{tid}/rerun")
    assert reply.status_code == 200, reply.text
    assert reply.json()["rerun_of"] == tid
    app = dashboard.context.app
    assert app.transport.queue_length("celery") == 1  # type: ignore[attr-defined]
    (hidden,) = ids(1)
    dashboard.feed(task_events(hidden, state="failed", args="<secret>"))
    refused = dashboard.client.post(f"/api/v1/tasks/{hidden}/rerun")
    assert refused.status_code == 409 and "result_extended" in refused.json()["error"]
    (running,) = ids(1)
    dashboard.feed(task_events(running, state="started"))
    assert dashboard.client.post(f"/api/v1/tasks/{running}/rerun").status_code == 409


def test_progress_comes_from_update_state_meta(dashboard: Dash) -> None:
    (tid,) = ids(1)
    dashboard.feed(task_events(tid, state="started"))
    backend = dashboard.context.app.backend
    backend.store(tid, {"status": "PROGRESS", "result": {"current": 3, "total": 8}, "task_id": tid})
    progress = dashboard.client.get(f"/api/v1/tasks/{tid}").json()["progress"]
    assert progress == {"state": "PROGRESS", "current": 3, "total": 8}


def test_progress_says_done_when_the_backend_knows_before_the_events(dashboard: Dash) -> None:
    # The result reaches the backend a moment before task-succeeded reaches the store; the
    # page must not draw the bar of a finished task as empty in between.
    (tid,) = ids(1)
    dashboard.feed(task_events(tid, state="started"))
    backend = dashboard.context.app.backend
    backend.store(tid, {"status": "SUCCESS", "result": 42, "task_id": tid})
    detail = dashboard.client.get(f"/api/v1/tasks/{tid}").json()
    assert detail["task"]["state"] == "STARTED"
    assert detail["progress"] == {"state": "SUCCESS", "current": None, "total": None}


def test_workflow_graph_links_parents_and_groups(dashboard: Dash) -> None:
    head1, head2, body, other = ids(4)
    group = str(uuid.uuid4())
    dashboard.feed(
        task_events(head1, group=group)
        + task_events(head2, group=group)
        + task_events(body, "tasks.tsum", parent_id=head2, root_id=head2)
        + task_events(other)
    )
    graph = dashboard.client.get(f"/api/v1/tasks/{body}/graph").json()
    assert {n["uuid"] for n in graph["nodes"]} == {head1, head2, body}
    assert graph["edges"] == [{"from": head2, "to": body, "kind": "parent"}]
    assert sorted(graph["groups"][group]) == sorted([head1, head2])
    depth = {n["uuid"]: n["depth"] for n in graph["nodes"]}
    assert depth[body] == 1 and depth[head1] == depth[head2] == 0


def test_history_is_bounded_and_survives_a_restart(make_dashboard: DashFactory, tmp_path) -> None:
    url = str(tmp_path / "bounded.sqlite3")
    first = make_dashboard(store_url=url, max_tasks=10)
    all_ids = ids(15)
    first.feed([e for i, t in enumerate(all_ids) for e in task_events(t, at=1_800_000_000 + i)])
    first.context.store.prune()
    kept = {t["uuid"] for t in first.client.get("/api/v1/tasks?limit=100").json()["tasks"]}
    assert kept == set(all_ids[5:])
    first.client.__exit__(None, None, None)
    second = make_dashboard(store_url=url, max_tasks=10)
    assert second.client.get("/api/v1/tasks").json()["total"] == 10


def test_graphs_count_throughput_failures_and_percentiles(dashboard: Dash) -> None:
    base = 1_800_000_000.0
    events = []
    for i, tid in enumerate(ids(20)):
        events += task_events(tid, at=base + i, runtime=0.1 * (i + 1))
    for i, tid in enumerate(ids(4)):
        events += task_events(tid, "tasks.fail", at=base + 30 + i, state="failed")
    dashboard.feed(events)
    data = dashboard.client.get(f"/api/v1/graphs?since={base}&until={base + 60}&buckets=6").json()
    assert sum(data["throughput"]["tasks.add"]) == 20
    assert sum(data["failures"]) == 4 and data["failures"][3] == 4
    runtime = data["runtime"]["tasks.add"]
    assert runtime["count"] == 20
    assert abs(runtime["p50"] - 1.0) < 1e-6 and abs(runtime["p95"] - 1.9) < 1e-6


def test_openapi_document_covers_the_api(dashboard: Dash) -> None:
    doc = dashboard.client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    flower = ("/api/workers", "/api/tasks", "/api/task/info/{uuid}", "/api/task/async-apply/{name}")
    for path in (*flower, "/api/v1/tasks", "/api/v1/graphs", "/metrics"):
        assert path in doc["paths"], path
    assert "post" in doc["paths"]["/api/v1/tasks/{uuid}/revoke"]


def test_queues_report_lengths_from_the_broker(dashboard: Dash) -> None:
    app = dashboard.context.app
    for _ in range(3):
        app.send_task("tasks.add", (1, 1))
    queues = dashboard.client.get("/api/v1/queues").json()
    assert queues["supported"] is True
    assert {"name": "celery", "length": 3, "consumers": []} in queues["queues"]
    assert dashboard.client.get("/api/v1/dead-letters").json()["entries"] == []
