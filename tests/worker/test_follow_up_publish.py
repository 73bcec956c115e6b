"""A worker's follow-ups (chain steps, callbacks, errbacks, chord bodies, retries) survive
a broker that is down when they are sent: nothing is lost, no chord fails for it.

The chaos soak found it (benchmarks/soak.py, broker restarts): with the client's publish
retry policy (3 retries, under a second) a chain step sent during a Redis restart was
logged and dropped, its task acked (the rest of the chain PENDING forever), and a chord
body that could not be sent failed the chord with ``ChordError('Callback error ...')``.
Now a follow-up retries patiently (``celeriac.execution.follow_up``), and when even that
fails, the task's message is requeued: the task runs again and sends it then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from celeriac import Celery, chain, chord
from celeriac.exceptions import BrokerError, ChordError
from celeriac.execution import follow_up
from celeriac.protocol.message import Message
from helpers.services import AppFactory, WorkerFactory

pytestmark = pytest.mark.timeout(90)

#: A client publish retry policy that gives up at once (3 retries, 10 ms apart).
FAST: dict[str, Any] = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.01,
    "interval_max": 0.01,
}


@pytest.fixture(params=["memory", "redis"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    """In memory and on Redis."""
    return str(request.param)


class Outage:
    """The broker refuses the first ``count`` publishes of task ``name``."""

    def __init__(self, name: str, count: int) -> None:
        self.name, self.left = name, count
        self.refused = 0
        self.lock = threading.Lock()

    def check(self, message: Message) -> None:
        if message.headers.get("task") != self.name:
            return
        with self.lock:
            if self.left <= 0:
                return
            self.left -= 1
            self.refused += 1
        raise BrokerError("publish failed: the broker is restarting (test)")

    def install(self, transport: object, monkeypatch: pytest.MonkeyPatch) -> None:
        cls = type(transport)
        publish, apublish = cls.publish, cls.apublish  # type: ignore[attr-defined]

        def sync(self_: object, message: Message, *args: Any, **kwargs: Any) -> Any:
            outage.check(message)
            return publish(self_, message, *args, **kwargs)

        async def asynchronous(self_: object, message: Message, *args: Any, **kwargs: Any) -> Any:
            outage.check(message)
            return await apublish(self_, message, *args, **kwargs)

        outage = self
        monkeypatch.setattr(cls, "publish", sync)
        monkeypatch.setattr(cls, "apublish", asynchronous)


class Runs:
    def __init__(self, app: Celery) -> None:
        self.lock = threading.Lock()
        self.names: list[str] = []
        runs = self

        @app.task(name="t.add")
        def add(x: int, y: int) -> int:
            runs.ran("t.add")
            return x + y

        @app.task(name="t.mul")
        def mul(x: int, y: int) -> int:
            runs.ran("t.mul")
            return x * y

        @app.task(name="t.tsum")
        def tsum(values: list[int]) -> int:
            runs.ran("t.tsum")
            return sum(values)

        @app.task(name="t.flaky", bind=True, max_retries=3)
        def flaky(self: Any, value: int) -> int:
            runs.ran("t.flaky")
            if self.request.retries < 1:
                raise self.retry(countdown=0)
            return value

    def ran(self, name: str) -> None:
        with self.lock:
            self.names.append(name)

    def count(self, name: str) -> int:
        with self.lock:
            return self.names.count(name)


Scenario = tuple[str, Callable[[Celery], Any], object, str]

SCENARIOS: dict[str, Scenario] = {
    # (task whose publishes fail, send, expected result, task that runs again if requeued)
    "chain_step": (
        "t.mul",
        lambda app: chain(app.tasks["t.add"].s(1, 1), app.tasks["t.mul"].s(10)).apply_async(),
        20,
        "t.add",
    ),
    "chord_body": (
        "t.tsum",
        lambda app: chord(
            [app.tasks["t.add"].s(i, i) for i in range(3)], app.tasks["t.tsum"].s()
        ).apply_async(),
        6,
        "t.add",
    ),
    "callback": (
        "t.mul",
        lambda app: app.tasks["t.add"].apply_async((1, 2), link=app.tasks["t.mul"].s(5)),
        3,
        "t.add",
    ),
    "retry": ("t.flaky", lambda app: app.tasks["t.flaky"].delay(7), 7, "t.flaky"),
}


def _send(app: Celery, path: str) -> Any:
    if path == "retry":  # the client's own publish keeps its (patient) policy
        return app.tasks["t.flaky"].apply_async((7,), retry_policy={"max_retries": 20})
    return SCENARIOS[path][1](app)


@pytest.mark.parametrize("path", sorted(SCENARIOS))
def test_follow_up_outlasts_a_short_outage(
    make_app: AppFactory, worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Refused for longer than the client's policy allows: the patient retry gets it out,
    and nothing runs twice."""
    app = make_app(task_publish_retry_policy=FAST)
    runs = Runs(app)
    name, _, expected, again = SCENARIOS[path]
    result = _send(app, path)
    outage = Outage(name, count=FAST["max_retries"] + 3)
    outage.install(app.transport, monkeypatch)
    worker(app)
    assert result.get(timeout=30) == expected
    assert outage.refused == FAST["max_retries"] + 3
    assert runs.count(again) == {"retry": 2, "chord_body": 3}.get(path, 1)


@pytest.mark.parametrize("path", sorted(SCENARIOS))
def test_follow_up_that_cannot_be_sent_requeues_its_task(
    make_app: AppFactory, worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Refused for longer than even the follow-up policy: the task's message is requeued,
    the task runs again and sends its follow-up then (at least once, never lost). A chord
    body still unsendable fails the chord with ChordError, as in Celery."""
    monkeypatch.setattr(follow_up, "MIN_RETRIES", 2)
    monkeypatch.setattr(follow_up, "MIN_INTERVAL_MAX", 0.01)
    app = make_app(task_publish_retry_policy=FAST)
    runs = Runs(app)
    name, _, expected, again = SCENARIOS[path]
    result = _send(app, path)
    outage = Outage(name, count=FAST["max_retries"] + 1)
    outage.install(app.transport, monkeypatch)
    worker(app)
    if path == "chord_body":
        with pytest.raises(ChordError, match="Callback error"):
            result.get(timeout=30)
        return
    assert result.get(timeout=30) == expected
    assert outage.refused == FAST["max_retries"] + 1
    # the task whose follow-up could not be sent ran again (the retry: its first run)
    assert runs.count(again) == (3 if path == "retry" else 2)
