"""Worker ``-Q``/``-X`` with queue objects: names and aliases, declared or made, excluded."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery, Exchange, Queue
from celeriac.exceptions import ImproperlyConfigured
from celeriac.worker.worker import Worker, WorkerOptions

pytestmark = pytest.mark.timeout(30)

MEDIA = Exchange("media", "topic")


def consumed(app: Celery, queues: list[str] | None = None, exclude: list[str] | None = None):
    options = WorkerOptions(queues=queues or [], exclude_queues=exclude or [], pool="solo")
    return Worker(app, options).queues


@pytest.fixture
def media_app() -> Celery:
    return Celery(
        "select",
        broker="memory://select",
        task_queues=[
            Queue("default"),
            Queue("images", MEDIA, "*.image", alias="img"),
            Queue("videos", MEDIA, "#.video"),
        ],
        task_default_queue="default",
    )


def test_every_declared_queue_by_default(media_app: Celery) -> None:
    assert consumed(media_app) == ["default", "images", "videos"]


def test_q_selects_by_name_or_alias_and_makes_missing_ones(media_app: Celery) -> None:
    assert consumed(media_app, ["img", "videos"]) == ["images", "videos"]
    assert consumed(media_app, ["images", "img"]) == ["images"]  # once
    assert consumed(media_app, ["hipri"]) == ["hipri"]  # task_create_missing_queues


def test_x_excludes_by_name_or_alias(media_app: Celery) -> None:
    assert consumed(media_app, exclude=["img"]) == ["default", "videos"]
    assert consumed(media_app, ["images", "videos"], exclude=["videos"]) == ["images"]
    with pytest.raises(ImproperlyConfigured, match="no queues left"):
        consumed(media_app, ["images"], exclude=["images"])


def test_a_worker_on_an_alias_runs_what_the_topic_routes(make_app: Any, worker: Any) -> None:
    app = make_app(
        task_queues=[
            Queue("images", MEDIA, "*.image", alias="img"),
            Queue("videos", MEDIA, "#.video"),
        ]
    )

    @app.task(name="media.thumb")
    def thumb(name: str) -> str:
        return f"thumb of {name}"

    result = thumb.apply_async(("cat",), exchange="media", routing_key="cat.image")
    worker(app, queues=consumed(app, ["img"]))
    assert result.get(timeout=10) == "thumb of cat"


def test_a_failed_declare_leaves_the_publish_retry_policy_in_charge(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis down: declaring the queue fails, and the publish still retries per its policy
    before raising (the declaration does not short-cut it)."""
    from celeriac.exceptions import BrokerError
    from helpers.services import free_port

    app = Celery("down", broker=f"redis://127.0.0.1:{free_port()}/0", backend="memory://")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.01, "interval_max": 0.01}
    with pytest.raises(BrokerError):
        add.apply_async((1, 2), retry_policy=policy)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    app.close()
