"""``celeriac migrate`` and ``celeriac.contrib.migrate``: messages copied or moved between
brokers and queues, then run by a worker on the destination."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from celeriac import Celery
from celeriac.cli.main import celeriac as cli
from celeriac.contrib.migrate import (
    State,
    migrate_tasks,
    move_by_taskmap,
    move_task_by_id,
    task_id_eq,
    task_id_in,
)
from celeriac.contrib.testing import start_worker

pytestmark = pytest.mark.timeout(60)


def _app(url: str) -> Celery:
    app = Celery("migrate_tests", broker=url, backend=url, set_as_current=False)

    @app.task(name="m.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="m.other")
    def other() -> str:
        return "other"

    return app


@pytest.fixture
def brokers(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'dest.db'}"


def test_migrate_copies_then_moves_and_the_destination_runs_them(
    brokers: tuple[str, str],
) -> None:
    source_url, dest_url = brokers
    source, dest = _app(source_url), _app(dest_url)
    results = [source.send_task("m.add", (i, i)) for i in range(3)]
    source.send_task("m.other")
    seen: list[str] = []
    state = migrate_tasks(
        source_url, dest_url, app=source, tasks="m.add",
        callback=lambda st, body, msg: seen.append(msg.message.headers["id"]),
    )  # fmt: skip
    assert isinstance(state, State) and state.count == 3 and state.total_apx == 4
    assert sorted(seen) == sorted(r.id for r in results)
    assert source.transport.queue_length("celery") == 4  # copied: still on the source
    assert dest.transport.queue_length("celery") == 3
    dest.transport.purge("celery")
    state = migrate_tasks(source_url, dest_url, app=source, ack_messages=True, limit=2)
    assert state.count == 2 and source.transport.queue_length("celery") == 2
    with start_worker(dest, pool="solo", perform_ping_check=False):
        values = sorted(dest.AsyncResult(r.id).get(timeout=10) for r in results[:2])
    assert values in ([0, 2], [0, 4], [2, 4])  # the first two fetched (priority/time order)


def test_move_by_id_and_by_task_name(brokers: tuple[str, str]) -> None:
    app = _app(brokers[0])
    first, second = app.send_task("m.add", (1, 1)), app.send_task("m.add", (2, 2))
    other = app.send_task("m.other")
    state = move_task_by_id(second.id, "elsewhere", app=app)
    assert state.filtered == 1
    assert app.transport.queue_length("elsewhere") == 1
    assert app.transport.queue_length("celery") == 2
    state = move_by_taskmap({"m.other": "others"}, app=app)
    assert state.filtered == 1 and app.transport.queue_length("others") == 1
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["elsewhere"]):
        assert second.get(timeout=10) == 4
    assert first.state == "PENDING" and other.state == "PENDING"


def test_predicates() -> None:
    from types import SimpleNamespace

    from celeriac.protocol.message import Message

    message = Message(b"[]", headers={"id": "t1", "task": "m.add"})
    delivery = SimpleNamespace(message=message)
    assert task_id_eq("t1", None, message) and not task_id_eq("t2", None, message)
    assert task_id_in(["t0", "t1"], None, message)
    assert delivery.message.headers["task"] == "m.add"


def test_cli_migrate(brokers: tuple[str, str]) -> None:
    source_url, dest_url = brokers
    source, dest = _app(source_url), _app(dest_url)
    for i in range(2):
        source.send_task("m.add", (i, 1), queue="q1")
    destination = dest.transport  # before -b sets CELERY_BROKER_URL for this process
    result = CliRunner().invoke(
        cli, ["-b", source_url, "migrate", source_url, dest_url, "-Q", "q1:q2", "-a", "-t", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "Migrating task 1/2: m.add[" in result.output and "Migrated 2 tasks." in result.output
    assert source.transport.queue_length("q1") == 0
    assert destination.queue_length("q2") == 2
