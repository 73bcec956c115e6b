"""The ingest loop: a merged task reaches the live stream and the API before (and
whatever the time) its batch is written to the history store."""

from __future__ import annotations

import threading
import time
import uuid

from celeriac.dashboard.ingest import Ingestor
from helpers.dashboard import DashFactory, task_events


def test_a_merged_task_is_found_before_its_batch_is_written(
    make_dashboard: DashFactory,
) -> None:
    dash = make_dashboard()
    ingestor, portal = dash.context.ingestor, dash.client.portal
    assert portal is not None
    tid = str(uuid.uuid4())
    events = task_events(tid, state="started")
    for event in events:
        event["local_received"] = time.time()
    queue = dash.context.hub.subscribe()
    # Hold the writer (it writes from a thread under this lock) so the batch is seen
    # merged and not yet written, whatever the machine's timing.
    with ingestor._write_lock:
        ingestor.feed_many(events)
        assert portal.call(ingestor.merge) == 1
        update = queue.get_nowait()
        assert update["type"] == "tasks" and update["tasks"][0]["uuid"] == tid  # type: ignore[index]
        assert dash.context.store.task(tid) is None  # not written yet
        assert dash.client.get(f"/api/task/info/{tid}").json()["state"] == "STARTED"
        assert dash.client.get(f"/api/v1/tasks/{tid}").json()["task"]["state"] == "STARTED"
    assert ingestor.last_publish_lag_seconds >= 0
    portal.call(ingestor.write)
    assert dash.context.store.task(tid) is not None
    assert ingestor.unwritten(tid) is None
    assert dash.client.get("/healthz").json()["publish_lag_seconds"] >= 0


def test_merges_go_on_while_a_slow_write_runs(make_dashboard: DashFactory) -> None:
    dash = make_dashboard()
    ingestor: Ingestor = dash.context.ingestor
    portal = dash.client.portal
    assert portal is not None
    release = threading.Event()
    upsert = dash.context.store.upsert

    def slow_upsert(*args: object, **kwargs: object) -> None:
        release.wait(10)
        upsert(*args, **kwargs)  # type: ignore[arg-type]

    dash.context.store.upsert = slow_upsert  # type: ignore[method-assign]
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    ingestor.feed_many(task_events(first, state="started"))
    portal.call(ingestor.merge)
    writing = portal.start_task_soon(ingestor.write)  # blocks in the store
    time.sleep(0.1)
    # The next batch updates the first task (read from the batch being written, not the
    # store) and adds a second one, while the write is stuck.
    ingestor.feed_many(task_events(first)[2:] + task_events(second, state="started"))
    started = time.monotonic()
    assert portal.call(ingestor.merge) == 2
    assert time.monotonic() - started < 2.0
    assert dash.client.get(f"/api/task/info/{first}").json()["state"] == "SUCCESS"
    assert dash.client.get(f"/api/task/info/{second}").json()["state"] == "STARTED"
    release.set()
    writing.result(10)
    portal.call(ingestor.write)
    assert dash.context.store.task(first)["state"] == "SUCCESS"  # type: ignore[index]
    assert dash.context.store.task(second)["state"] == "STARTED"  # type: ignore[index]
