"""Events recorded from real Celery 5.7 workers (wire vectors 10 and 13), decoded from the
raw Redis payloads, and synthetic events in the same shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from celeriac.protocol.envelope import loads_envelope
from celeriac.protocol.events import parse_event_message
from helpers.vectors import load_vector

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from celeriac.dashboard.context import DashboardContext


def recorded_events(*names: str) -> list[dict[str, object]]:
    """Every event of the named vector files, in the order they were published."""
    events: list[dict[str, object]] = []
    for name in names or ("10-redis-events.json", "13-redis-events-task-lifecycle.json"):
        data = load_vector(name)
        for entry in data.get("events") or data.get("messages") or []:
            raw = entry.get("raw_payload")
            if raw:
                events.extend(parse_event_message(loads_envelope(raw)))
    return events


def task_events(
    uuid: str,
    name: str = "tasks.add",
    *,
    at: float = 1_800_000_000.0,
    hostname: str = "w1@test",
    state: str = "succeeded",
    args: str = "(2, 2)",
    kwargs: str = "{}",
    parent_id: str | None = None,
    root_id: str | None = None,
    group: str | None = None,
    runtime: float = 0.5,
) -> list[dict[str, object]]:
    """The events a worker sends for one task: received, started, then ``state``."""
    common = {"hostname": hostname, "utcoffset": 0, "pid": 1, "clock": 1, "uuid": uuid}
    received: dict[str, object] = {
        **common, "type": "task-received", "timestamp": at, "name": name, "args": args,
        "kwargs": kwargs, "root_id": root_id or uuid, "parent_id": parent_id, "retries": 0,
        "eta": None, "expires": None,
    }  # fmt: skip
    if group is not None:
        received["group"] = group
    events = [received, {**common, "type": "task-started", "timestamp": at + 0.1}]
    end: dict[str, object] = {**common, "type": f"task-{state}", "timestamp": at + 0.1 + runtime}
    if state == "succeeded":
        end.update(result="4", runtime=runtime)
    elif state == "failed":
        end.update(exception="ValueError('boom')", traceback="Traceback ...\nValueError: boom")
    if state in ("succeeded", "failed", "revoked"):
        events.append(end)
    return events


@dataclass
class Dash:
    """A dashboard under a TestClient, fed by hand."""

    client: TestClient
    context: DashboardContext

    def feed(self, events: Sequence[Mapping[str, object]]) -> None:
        """Ingest ``events`` and write them (one batch)."""
        self.context.ingestor.feed_many(events)
        self.client.portal.call(self.context.ingestor.flush)  # type: ignore[union-attr]


DashFactory = Callable[..., Dash]
