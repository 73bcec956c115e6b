"""Malformed input on a real SQLite queue and on Redis: each bad message is logged once,
dead-lettered with its reason, and the worker goes on to run the good tasks queued after it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac.exceptions import MessageTooLarge, NotRegistered
from celeriac.protocol.message import Message
from helpers.processes import PROCESS_TRANSPORTS, Project, project_on, wait_until

pytestmark = pytest.mark.timeout(60)

TASKS = """
@app.task
def add(x, y):
    return x + y


@app.task
def size(data):
    return len(data)
"""


@pytest.fixture(params=PROCESS_TRANSPORTS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    with project_on(request.param, tmp_path, TASKS) as proj:
        yield proj


def _with_body(message: Message, body: bytes, content_type: str | None = None) -> Message:
    return Message(
        body=body,
        content_type=content_type or message.content_type,
        content_encoding=message.content_encoding,
        headers=dict(message.headers),
        properties=dict(message.properties),
    )


def test_bad_messages_are_logged_once_dead_lettered_and_the_worker_goes_on(
    project: Project,
) -> None:
    app = project.producer()
    transport = app.transport
    raw_publish = transport.publish_raw  # type: ignore[attr-defined]

    # 1. bytes that are not an envelope at all
    raw_publish(b"\x00\xffthis is not a message\xfe", "celery")
    # 2. a valid envelope naming a task no worker has
    unknown, queue, _ = app.prepare_task_message("tasks.nobody_has_this", (1,))
    unknown_id = unknown.headers["id"]
    transport.publish(unknown, queue)
    # 3. a pickle body, with the default accept_content (json only)
    pickled, _, _ = app.prepare_task_message("tasks.add", (1, 2), serializer="pickle")
    assert pickled.content_type == "application/x-python-serialize"
    transport.publish(pickled, queue)
    # 4. application/json that is not JSON
    valid, _, _ = app.prepare_task_message("tasks.add", (3, 4))
    broken = _with_body(valid, b'[[3, 4], {}, {"callbacks": nul')
    transport.publish(broken, queue)
    # then good work
    good = [app.send_task("tasks.add", (i, i)) for i in range(5)]

    worker = project.start_worker()
    assert [result.get(timeout=10) for result in good] == [0, 2, 4, 6, 8], worker.describe()
    letters = wait_until(lambda: len(transport.dead_letters()) == 4 and transport.dead_letters())
    assert worker.proc.poll() is None

    reasons = [letter.reason for letter in letters]
    assert reasons[0].startswith("undecodable message"), reasons
    assert reasons[1].startswith("unknown task 'tasks.nobody_has_this'"), reasons
    assert letters[1].task_id == unknown_id and letters[1].task_name == "tasks.nobody_has_this"
    assert reasons[2].startswith("content type not accepted"), reasons
    assert "application/x-python-serialize" in reasons[2]
    assert letters[2].task_id == pickled.headers["id"]
    assert reasons[3].startswith("invalid task message"), reasons
    assert letters[3].task_id == valid.headers["id"]
    assert letters[0].raw.startswith(b"\x00\xffthis is not a message")

    # one clear ERROR line each, no traceback, and nothing ran for them
    log = worker.log()
    dead_lines = worker.lines(r"ERROR/.*Dead-lettered message")
    assert len(dead_lines) == 4, log
    for line, reason in zip(dead_lines, reasons, strict=True):
        assert line.endswith(reason), (line, reason)
    assert sum(unknown_id in line for line in log.splitlines()) == 1
    assert sum(pickled.headers["id"] in line for line in log.splitlines()) == 1
    assert "Traceback" not in log
    assert not re.search(r"Task tasks\.add\[[^\]]+\] succeeded in [\d.e-]+s: (3|7)$", log, re.M)

    with pytest.raises(NotRegistered):  # the unknown task's caller is told
        app.AsyncResult(unknown_id).get(timeout=5)
    assert transport.queue_length("celery") == 0
    assert worker.stop() == 0


def test_a_10_mb_argument_runs_normally(project: Project) -> None:
    project.start_worker()
    app = project.producer()
    data = "x" * (10 * 1024 * 1024)
    assert app.send_task("tasks.size", (data,)).get(timeout=20) == len(data)


def test_delay_refuses_a_message_above_task_message_max_size(project: Project) -> None:
    app = project.producer(task_message_max_size=1_000_000)

    @app.task(name="tasks.size")
    def size(data: str) -> int:
        return len(data)

    with pytest.raises(MessageTooLarge) as info:
        size.delay("x" * 2_000_000)
    text = str(info.value)
    assert "task_message_max_size (1,000,000 bytes)" in text
    assert re.search(r"message is 2,0\d\d,\d\d\d bytes", text), text
    assert app.transport.queue_length("celery") == 0
    assert size.delay("x" * 900_000).id  # just under the limit is fine
