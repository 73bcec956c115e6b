"""/metrics carries celery-exporter's names and labels."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families

from helpers.dashboard import Dash, recorded_events, task_events


def samples(dash: Dash) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = dash.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_task_counters_runtime_histogram_and_worker_gauges(dashboard: Dash) -> None:
    events = []
    for _ in range(3):
        events += task_events(str(uuid.uuid4()), hostname="w1@h", runtime=0.2)
    events += task_events(str(uuid.uuid4()), "tasks.fail", hostname="w1@h", state="failed")
    heartbeat = {"type": "worker-heartbeat", "hostname": "w1@h", "timestamp": 1.0, "freq": 2.0,
                 "active": 2, "processed": 4, "loadavg": [0.1, 0.1, 0.1]}  # fmt: skip
    dashboard.feed([*events, heartbeat])
    got = samples(dashboard)
    labels = (("hostname", "w1@h"), ("name", "tasks.add"), ("queue_name", "celery"))
    assert got[("celery_task_received_total", labels)] == 3
    assert got[("celery_task_started_total", labels)] == 3
    assert got[("celery_task_succeeded_total", labels)] == 3
    fail = (("hostname", "w1@h"), ("name", "tasks.fail"), ("queue_name", "celery"))
    assert got[("celery_task_failed_total", fail)] == 1
    assert got[("celery_task_runtime_count", labels)] == 3
    assert abs(got[("celery_task_runtime_sum", labels)] - 0.6) < 1e-9
    bucket = (("hostname", "w1@h"), ("le", "0.25"), ("name", "tasks.add"), ("queue_name", "celery"))
    assert got[("celery_task_runtime_bucket", bucket)] == 3
    assert got[("celery_worker_up", (("hostname", "w1@h"),))] == 1
    assert got[("celery_worker_tasks_active", (("hostname", "w1@h"),))] == 2
    assert got[("celery_active_worker_count", ())] == 1


def test_offline_workers_are_down_and_queue_length_is_set(dashboard: Dash) -> None:
    dashboard.feed(recorded_events())
    dashboard.context.app.send_task("tasks.add", (1, 1))
    dashboard.context.queues.sample()
    got = samples(dashboard)
    assert got[("celery_worker_up", (("hostname", "w1@celeriac-test"),))] == 0
    assert got[("celery_queue_length", (("queue_name", "celery"),))] == 1
