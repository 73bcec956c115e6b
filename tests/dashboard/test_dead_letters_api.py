"""Dead letters through the dashboard's API, on a memory, SQLite and Redis broker: listed
with their reasons (one queue's too), requeued onto their queue and discarded; writers
only, and the CSRF check applies as for every action."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.dashboard.auth import AuthConfig
from celeriac.transports.registry import create_transport
from helpers.dashboard import Dash, DashFactory
from helpers.services import redis_keyspace

WRITER = ("admin", "s3cret")
READER = ("viewer", "look")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with ExitStack() as stack:
        if request.param == "memory":
            yield f"memory://dead-{uuid.uuid4().hex[:8]}"
        elif request.param == "sqlite":
            yield f"sqlite:///{tmp_path / 'broker.db'}"
        else:
            yield stack.enter_context(redis_keyspace("dl")).url_with_prefix


def bury(url: str, queue: str, reason: str, *task_ids: str) -> None:
    """Publish tasks on ``queue`` through a transport of ``url`` and dead-letter them."""
    app = Celery("burier", broker=url, set_as_current=False)
    for task_id in task_ids:
        app.send_task("tasks.add", (2, 2), task_id=task_id, queue=queue)
    transport = create_transport(url) if not url.startswith("memory") else app.transport

    async def run() -> None:
        deliveries = await transport.fetch([queue], len(task_ids), 2.0)
        assert len(deliveries) == len(task_ids)
        for delivery in deliveries:
            await transport.dead_letter(delivery, reason)

    asyncio.run(run())
    if transport is not app.transport:
        transport.close()
    app.close()


def make(make_dashboard: DashFactory, url: str, **options: object) -> Dash:
    app = Celery("dash", broker=url, backend="memory://", set_as_current=False)
    assert app.transport is not None  # a memory:// broker lives while a transport holds it
    return make_dashboard(app=app, **options)


def test_listed_requeued_and_discarded(make_dashboard: DashFactory, broker_url: str) -> None:
    dash = make(make_dashboard, broker_url)
    bury(broker_url, "celery", "Received unregistered task of type 'tasks.add'", "t-1", "t-2")
    bury(broker_url, "jobs", "delivered 5 times without an ack", "t-3")
    listed = dash.client.get("/api/v1/dead-letters").json()
    assert listed["supported"] is True and listed["actions"] is True
    entries = listed["entries"]
    assert [e["task_id"] for e in entries] == ["t-3", "t-2", "t-1"]  # newest first
    assert entries[0]["reason"] == "delivered 5 times without an ack"
    assert entries[0]["queue"] == "jobs" and entries[0]["task_name"] == "tasks.add"
    assert all(e["id"] for e in entries)
    only = dash.client.get("/api/v1/dead-letters?queue=celery").json()["entries"]
    assert [e["task_id"] for e in only] == ["t-2", "t-1"]
    ids = {e["task_id"]: e["id"] for e in entries}

    transport = dash.context.app.transport
    assert transport.queue_length("celery") == 0  # type: ignore[attr-defined]
    reply = dash.client.post("/api/v1/dead-letters/requeue", json={"ids": [ids["t-1"]]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["requeued"] == 1
    assert transport.queue_length("celery") == 1  # type: ignore[attr-defined]
    again = dash.client.post("/api/v1/dead-letters/requeue", json={"ids": [ids["t-1"]]})
    assert again.json()["requeued"] == 0

    gone = dash.client.post("/api/v1/dead-letters/discard", json={"ids": [ids["t-3"], "nope"]})
    assert gone.status_code == 200 and gone.json()["discarded"] == 1
    left = dash.client.get("/api/v1/dead-letters").json()["entries"]
    assert [e["task_id"] for e in left] == ["t-2"]
    assert transport.queue_length("jobs") == 0  # type: ignore[attr-defined]


def test_bad_requests_are_refused(make_dashboard: DashFactory) -> None:
    dash = make(make_dashboard, f"memory://dead-{uuid.uuid4().hex[:8]}")
    for body in ({}, {"ids": "x"}, {"ids": []}, {"ids": [1, 2]}, {"ids": ["a"] * 1001}):
        reply = dash.client.post("/api/v1/dead-letters/requeue", json=body)
        assert reply.status_code == 400, body
        assert "error" in reply.json()
    assert dash.client.get("/api/v1/dead-letters?limit=x").status_code == 400
    assert dash.client.post("/api/v1/dead-letters/explode", json={"ids": ["a"]}).status_code in (
        404,
        405,
    )


def test_readers_cannot_requeue_or_discard_and_csrf_applies(
    make_dashboard: DashFactory,
) -> None:
    url = f"memory://dead-{uuid.uuid4().hex[:8]}"
    auth = AuthConfig.from_options(basic_auth=("admin:s3cret",), read_only=("viewer:look",))
    dash = make(make_dashboard, url, auth=auth)
    bury(url, "celery", "no reason", "t-9")
    [entry] = dash.client.get("/api/v1/dead-letters", auth=READER).json()["entries"]
    for action in ("requeue", "discard"):
        refused = dash.client.post(
            f"/api/v1/dead-letters/{action}", json={"ids": [entry["id"]]}, auth=READER
        )
        assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    # A browser's request (Origin, cookie) without the CSRF header is refused.
    token = dash.client.get("/queues", auth=WRITER).cookies["celeriac_csrf"]
    origin = {"Origin": "http://127.0.0.1:5555"}
    path = "/api/v1/dead-letters/discard"
    csrf = dash.client.post(path, json={"ids": [entry["id"]]}, auth=WRITER, headers=origin)
    assert csrf.status_code == 403 and "CSRF" in csrf.json()["error"]
    assert len(dash.client.get("/api/v1/dead-letters", auth=WRITER).json()["entries"]) == 1
    ok = dash.client.post(
        path, json={"ids": [entry["id"]]}, auth=WRITER, headers={**origin, "X-CSRF-Token": token}
    )
    assert ok.status_code == 200 and ok.json()["discarded"] == 1


def test_openapi_lists_the_dead_letter_actions(make_dashboard: DashFactory) -> None:
    doc = make_dashboard().client.get("/api/openapi.json").json()
    assert "post" in doc["paths"]["/api/v1/dead-letters/requeue"]
    assert "post" in doc["paths"]["/api/v1/dead-letters/discard"]
    queue = doc["paths"]["/api/v1/dead-letters"]["get"]["parameters"]
    assert any(p["name"] == "queue" for p in queue)
