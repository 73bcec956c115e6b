"""``celeriac amqp``: Celery's broker administration commands on a celeriac broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.processes import Project

pytestmark = pytest.mark.timeout(90)

BODY = """
@app.task(name="amqp.add")
def add(x, y):
    return x + y
"""


def test_queue_commands_publish_get_and_the_repl_session(tmp_path: Path) -> None:
    with Project(tmp_path, BODY) as project:
        producer = project.producer()
        out = project.celeriac("amqp", "queue.declare", "jobs")
        assert out.returncode == 0 and "ok. queue:jobs messages:0" in out.stdout, out.stderr
        assert project.celeriac("amqp", "basic.publish", "hello", "", "jobs").stdout == "ok.\n"
        assert "messages:1" in project.celeriac("amqp", "queue.declare", "jobs").stdout
        got = project.celeriac("amqp", "basic.get", "jobs")  # not acked: given back
        assert "'body': 'hello'" in got.stdout
        assert producer.transport.queue_length("jobs") == 1
        session = project.celeriac("amqp", input="basic.get jobs\n")
        tag = session.stdout.split("'delivery_tag': '")[1].split("'")[0]
        acked = project.celeriac("amqp", "repl", input=f"basic.get jobs\nbasic.ack {tag}x\n")
        assert "no message" in acked.stderr  # a tag of another session
        both = project.celeriac("amqp", input="basic.get jobs yes\nqueue.purge jobs\n")
        assert "ok. 0 messages deleted." in both.stdout
        assert producer.transport.queue_length("jobs") == 0
        producer.send_task("amqp.add", (1, 2), queue="jobs")
        assert "ok. 1 messages deleted." in project.celeriac("amqp", "queue.purge", "jobs").stdout
        refused = project.celeriac("amqp", "exchange.declare", "ex", "direct")
        assert refused.returncode != 0 and "queue.bind" in refused.stderr
        assert "ok." in project.celeriac("amqp", "queue.delete", "jobs").stdout


def test_basic_ack_in_one_session(tmp_path: Path) -> None:
    from celeriac import Celery
    from celeriac.cli.amqp import AMQPSession

    url = f"sqlite:///{tmp_path / 'b.db'}"
    app = Celery("amqpsession", broker=url, set_as_current=False)
    session = AMQPSession(app)
    try:
        session.run("basic.publish", ["payload", "", "q"])
        got = session.run("basic.get", ["q"])
        tag = got.split("'delivery_tag': '")[1].split("'")[0]
        assert session.run("basic.ack", [tag]) == "ok."
    finally:
        session.close()
    assert app.transport.queue_length("q") == 0
