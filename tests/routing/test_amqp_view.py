"""``app.amqp``: Celery's view of the queues (``app.amqp.queues``), and ``select_add`` from a
``celeryd_after_setup`` handler adding a queue a real worker consumes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import Celery, Exchange, Queue
from helpers.processes import PROCESS_TRANSPORTS, Project, project_on

pytestmark = pytest.mark.timeout(60)


def test_queues_by_name_and_alias() -> None:
    app = Celery("v", broker="memory://")
    assert set(app.amqp.queues) == {"celery"}  # Celery's integration suite checks this
    assert app.amqp.default_queue.name == "celery"
    assert app.amqp.default_exchange == Exchange("celery")
    app.conf.task_queues = [
        Queue("images", Exchange("media", "topic"), "*.image", alias="img"),
        Queue("quorum", queue_arguments={"x-queue-type": "quorum"}),
    ]
    queues = app.amqp.queues
    assert set(queues) == {"images", "quorum"}
    assert queues["img"] is queues["images"]
    # Celery's quorum-queues example
    assert [name for name in queues if (queues[name].queue_arguments or {}).get("x-queue-type")]
    made = queues["hipri"]  # task_create_missing_queues: added on first look-up
    assert made.exchange == Exchange("hipri") and "hipri" in queues
    assert ".> images           exchange=media(topic) key=*.image" in queues.format()


def test_missing_queue_is_a_key_error_when_not_created() -> None:
    app = Celery("v", broker="memory://", task_create_missing_queues=False)
    with pytest.raises(KeyError):
        app.amqp.queues["nope"]


def test_select_and_deselect() -> None:
    app = Celery("v", broker="memory://", task_queues=[Queue("a"), Queue("b"), Queue("c")])
    queues = app.amqp.queues
    queues.select(["a", "b"])
    queues.deselect("b")
    assert list(queues.consume_from) == ["a"]
    queues.select_add("d")
    assert list(queues.consume_from) == ["a", "d"]


@pytest.fixture(params=PROCESS_TRANSPORTS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    with project_on(request.param, tmp_path) as proj:
        yield proj


def test_select_add_in_celeryd_after_setup_is_consumed(project: Project) -> None:
    """Celery's signals guide: a direct queue per worker, added in celeryd_after_setup."""
    project.write_module(
        """
        from celeriac.signals import celeryd_after_setup

        @celeryd_after_setup.connect
        def setup_direct_queue(sender, instance, **kwargs):
            instance.app.amqp.queues.select_add("direct.q")

        @app.task
        def add(x, y):
            return x + y
        """
    )
    project.start_worker("-Q", "other", pool="solo")
    app = project.producer()
    assert app.send_task("tasks.add", (2, 3), queue="direct.q").get(timeout=20) == 5
