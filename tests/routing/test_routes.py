"""task_routes in every form Celery takes, task attributes and call options, compared with
what Celery 5.7 itself decides for the same settings (exchange, routing key, queue)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import celery
import kombu
import pytest

from celeriac import Celery, Exchange, Queue
from celeriac.app import publish
from celeriac.exceptions import QueueNotFound

MEDIA = kombu.Exchange("media", "topic")
QUEUES = [
    kombu.Queue("default", kombu.Exchange("default"), routing_key="default"),
    kombu.Queue("images", MEDIA, routing_key="*.image"),
    kombu.Queue("videos", MEDIA, routing_key="#.video"),
    kombu.Queue("math", kombu.Exchange("math"), routing_key="math"),
]


def route_function(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any):
    if name == "tasks.resize":
        return {"queue": "images", "routing_key": "thumb.image"}
    return None


class LegacyRouter:
    """A pre-4.0 router class: ``route_for_task(task, args, kwargs)``."""

    def route_for_task(self, task: str, args: Any = None, kwargs: Any = None):
        return {"queue": "math"} if task.startswith("tasks.") else None


ROUTE_FORMS: dict[str, object] = {
    "name to queue name": {"tasks.add": "math"},
    "name to dict": {"tasks.add": {"queue": "math"}},
    "glob": {"tasks.*": {"queue": "math"}},
    "regex": {re.compile(r"tasks\.(add|mul)"): {"queue": "math"}},
    "exact before glob": {"tasks.*": {"queue": "images"}, "tasks.add": {"queue": "math"}},
    "list, first match wins": [{"other.*": "images"}, {"tasks.add": "math"}],
    "tuple with a function": (route_function, {"tasks.*": {"queue": "math"}}),
    "function": route_function,
    "legacy router object": LegacyRouter(),
    "import path of a function": "test_routes.route_function",
    "queue object": {"tasks.add": {"queue": QUEUES[3]}},
    "exchange and key": {"tasks.add": {"exchange": "media", "routing_key": "raw.video"}},
    "topic queue": {"tasks.add": {"queue": "images"}},
    "topic queue, own key": {"tasks.add": {"queue": "videos", "routing_key": "hd.video"}},
}

CALLS: dict[str, tuple[str, dict[str, object]]] = {
    "plain": ("tasks.add", {}),
    "resize": ("tasks.resize", {}),
    "queue option": ("tasks.add", {"queue": "images"}),
    "missing queue": ("tasks.add", {"queue": "hipri"}),
    "exchange option": ("tasks.add", {"exchange": "media", "routing_key": "x.image"}),
    "routing key alone": ("tasks.add", {"routing_key": "x.image"}),
    "queue object option": ("tasks.add", {"queue": QUEUES[2]}),
}


def celery_decides(settings: Mapping[str, object], name: str, options: dict[str, object]):
    """(exchange, routing_key, queue) as Celery publishes the call (before_task_publish)."""
    app = celery.Celery("celery-side", broker="memory://", set_as_current=False)
    app.conf.update(settings)
    seen: dict[str, object] = {}

    def capture(sender: str, exchange: str, routing_key: str, declare: list, **kw: Any):
        # a route giving an exchange but no queue: Celery names (and declares) none
        queue = declare[0].name if declare else None
        seen.update(exchange=exchange, routing_key=routing_key, queue=queue)

    celery.signals.before_task_publish.connect(capture, weak=False)
    try:
        app.send_task(name, (1, 2), **options)
    finally:
        celery.signals.before_task_publish.disconnect(capture)
        app.close()
    return seen["exchange"], seen["routing_key"], seen["queue"]


def celeriac_decides(settings: Mapping[str, object], name: str, options: dict[str, object]):
    app = Celery("celeriac-side", broker="memory://", **settings)
    message, _, queue = publish.build_message(app, name, (1, 2), {}, options, None, now=app.now())
    return message.exchange, message.routing_key, queue


@pytest.mark.parametrize("form", ROUTE_FORMS)
@pytest.mark.parametrize("call", CALLS)
def test_routes_decide_as_celery_does(form: str, call: str) -> None:
    settings = {
        "task_queues": QUEUES,
        "task_default_queue": "default",
        "task_routes": ROUTE_FORMS[form],
    }
    name, options = CALLS[call]
    exchange, routing_key, queue = celery_decides(settings, name, options)
    ours = celeriac_decides(settings, name, options)
    assert ours[:2] == (exchange, routing_key)
    assert ours[2] == (queue or "default")  # no queue named: ours is the default queue


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"task_default_queue": "jobs"},
        {
            "task_default_queue": "jobs",
            "task_default_exchange": "ex",
            "task_default_routing_key": "k",
        },
        {"task_default_exchange_type": "topic", "task_default_routing_key": "job.run"},
        {"task_queues": {"a": {"exchange": "a", "routing_key": "a"}}, "task_default_queue": "a"},
    ],
)
def test_default_settings_decide_as_celery_does(settings: dict[str, object]) -> None:
    assert celeriac_decides(settings, "tasks.add", {}) == celery_decides(settings, "tasks.add", {})


def test_precedence_options_then_task_then_route(app) -> None:
    app.conf.task_routes = {"tasks.*": {"queue": "from-route", "priority": 3}}

    @app.task(name="tasks.attr", queue="from-task")
    def attr() -> None: ...

    @app.task(name="tasks.plain")
    def plain() -> None: ...

    def where(task: Any, **options: object) -> tuple[str, int]:
        message, _, queue = publish.build_message(
            app, task.name, (), {}, options, task, now=app.now()
        )
        return queue, message.priority

    assert where(plain) == ("from-route", 3)
    assert where(attr) == ("from-task", 3)
    assert where(attr, queue="from-call", priority=7) == ("from-call", 7)


def test_celeriac_entities_route_like_kombus() -> None:
    media = Exchange("media", "topic")
    ours = {
        "task_queues": [Queue("images", media, "*.image"), Queue("videos", media, "#.video")],
        "task_routes": {"tasks.add": {"queue": "videos", "routing_key": "hd.video"}},
    }
    assert celeriac_decides(ours, "tasks.add", {}) == ("media", "hd.video", "videos")


def test_missing_queue_with_create_missing_off_names_it(app) -> None:
    app.conf.task_queues = [Queue("known")]
    app.conf.task_default_queue = "known"
    app.conf.task_create_missing_queues = False

    @app.task
    def add() -> None: ...

    with pytest.raises(QueueNotFound, match="'unknown'"):
        add.apply_async(queue="unknown")
    app.conf.task_routes = {add.name: "elsewhere"}
    with pytest.raises(QueueNotFound, match=r"'elsewhere'.*task_create_missing_queues is off"):
        add.delay()


@pytest.mark.parametrize(
    ("route", "options"),
    [
        ({"queue": "math", "priority": 3}, {}),
        ({"queue": "math", "priority": 3}, {"priority": 8}),
        ({"queue": "math"}, {"priority": 5}),
    ],
)
def test_route_priority_as_celery(route: dict[str, object], options: dict[str, object]) -> None:
    settings = {"task_queues": QUEUES, "task_routes": {"tasks.add": route}}
    celery_app = celery.Celery("celery-side", broker="memory://", set_as_current=False)
    celery_app.conf.update(settings)
    seen: dict[str, object] = {}

    def capture(sender: str, properties: dict, **kw: Any) -> None:
        seen["priority"] = properties.get("priority")

    celery.signals.before_task_publish.connect(capture, weak=False)
    try:
        celery_app.send_task("tasks.add", (1, 2), **options)
    finally:
        celery.signals.before_task_publish.disconnect(capture)
        celery_app.close()
    app = Celery("celeriac-side", broker="memory://", **settings)
    message, _, _ = publish.build_message(
        app, "tasks.add", (1, 2), {}, options, None, now=app.now()
    )
    assert message.priority == seen["priority"]


@pytest.mark.parametrize("form", ROUTE_FORMS)
def test_app_amqp_router_answers_as_celerys(form: str) -> None:
    """``app.amqp.router.route(options, name, args, kwargs)`` (celeriac.app.routes)."""
    settings = {
        "task_queues": QUEUES,
        "task_default_queue": "default",
        "task_routes": ROUTE_FORMS[form],
    }
    celery_app = celery.Celery("celery-side", broker="memory://", set_as_current=False)
    celery_app.conf.update(settings)
    ours = Celery("celeriac-side", broker="memory://", **settings)
    for name, options in CALLS.values():
        theirs = celery_app.amqp.router.route(dict(options), name, (1, 2), {})
        mine = ours.amqp.router.route(dict(options), name, (1, 2), {})
        assert set(mine) == set(theirs)
        if "queue" in theirs:  # a route naming only an exchange names no queue
            assert mine["queue"].name == theirs["queue"].name  # type: ignore[union-attr]
        for key in ("exchange", "routing_key", "priority"):
            assert str(getattr(mine.get(key), "name", mine.get(key))) == str(
                getattr(theirs.get(key), "name", theirs.get(key))
            )
    celery_app.close()


def test_a_route_carries_serializer_and_compression(app) -> None:
    app.conf.task_routes = {"tasks.*": {"queue": "math", "compression": "zlib", "priority": 4}}

    @app.task(name="tasks.zipped")
    def zipped() -> None: ...

    @app.task(name="tasks.own", compression="bzip2")
    def own() -> None: ...

    routed = publish.prepare(app, zipped.name, (), {}, {}, zipped)
    assert routed.queue == "math"
    assert routed.message.headers["compression"] == "application/x-gzip"
    assert routed.task.priority == 4
    call = publish.prepare(app, zipped.name, (), {}, {"compression": "bzip2"}, zipped)
    assert call.message.headers["compression"] == "application/x-bz2"  # the call wins
    attr = publish.prepare(app, own.name, (), {}, {}, own)
    assert attr.message.headers["compression"] == "application/x-bz2"  # then the task
