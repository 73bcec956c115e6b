"""Exchanges on brokers without them (memory, SQLite, Redis): a message sent to an exchange
reaches the queues whose bindings match (direct, topic, fanout, headers), and a worker
runs one copy from each queue."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, Exchange, Queue, binding
from celeriac.app.declare import declare_queues
from celeriac.app.exchanges import topic_matches
from celeriac.exceptions import QueueNotFound
from helpers.services import WITH_AMQP

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=WITH_AMQP)
def transport_kind(request: pytest.FixtureRequest) -> str:
    """Also on RabbitMQ, where the broker routes by exchange itself."""
    return str(request.param)


MEDIA = Exchange("media", "topic")


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("*.image", "thumb.image", True),
        ("*.image", "image", False),
        ("*.image", "a.b.image", False),  # '*' is one word (kombu's Redis emulation says yes)
        ("#.video", "video", True),  # '#' is zero or more words
        ("#.video", "hd.video", True),
        ("#.video", "a.b.c.video", True),
        ("#.video", "video.hd", False),
        ("#", "anything.at.all", True),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.*.z", "a.z", False),
        ("exact.key", "exact.key", True),
        ("exact.key", "exact.keys", False),
    ],
)
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def waiting(app: Celery, *queues: str) -> dict[str, int]:
    return {queue: app.transport.queue_length(queue) for queue in queues}


def collect(app: Celery) -> tuple[Any, list[tuple[str, object]]]:
    """A task recording (its argument, the delivery_info it came with)."""
    seen: list[tuple[str, object]] = []
    lock = threading.Lock()

    @app.task(name="media.process", bind=True)
    def process(self: Any, what: str) -> str:
        with lock:
            info = self.request.delivery_info
            seen.append((what, {key: info[key] for key in ("exchange", "routing_key")}))
        return what

    return process, seen


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_topic_bindings_reach_the_right_queues(app: Celery, worker: Any) -> None:
    app.conf.task_queues = [Queue("images", MEDIA, "*.image"), Queue("videos", MEDIA, "#.video")]
    process, seen = collect(app)
    for key in ("thumb.image", "hd.video", "video", "big.image"):
        process.apply_async((key,), exchange="media", routing_key=key)
    assert waiting(app, "images", "videos") == {"images": 2, "videos": 2}
    with pytest.raises(QueueNotFound, match=r"exchange 'media' \(topic\).*'a\.b\.image'"):
        process.apply_async(("lost",), exchange="media", routing_key="a.b.image")
    worker(app, queues=["images", "videos"])
    wait_for(lambda: len(seen) == 4)
    assert sorted(seen, key=lambda item: item[0]) == [
        ("big.image", {"exchange": "media", "routing_key": "big.image"}),
        ("hd.video", {"exchange": "media", "routing_key": "hd.video"}),
        ("thumb.image", {"exchange": "media", "routing_key": "thumb.image"}),
        ("video", {"exchange": "media", "routing_key": "video"}),
    ]


def test_a_route_to_a_topic_queue_uses_its_exchange(app: Celery, worker: Any) -> None:
    app.conf.task_queues = [Queue("images", MEDIA, "*.image"), Queue("videos", MEDIA, "#.video")]
    app.conf.task_routes = {"media.*": {"queue": "videos", "routing_key": "hd.video"}}
    process, seen = collect(app)
    result = process.delay("clip")
    assert waiting(app, "images", "videos") == {"images": 0, "videos": 1}
    worker(app, queues=["videos"])
    assert result.get(timeout=10) == "clip"
    assert seen == [("clip", {"exchange": "media", "routing_key": "hd.video"})]


def test_fanout_reaches_every_bound_queue(app: Celery, worker: Any) -> None:
    everyone = Exchange("everyone", "fanout")
    app.conf.task_queues = [Queue("a", everyone), Queue("b", everyone), Queue("c")]
    process, seen = collect(app)
    process.apply_async(("hello",), exchange=everyone, routing_key="ignored")
    assert waiting(app, "a", "b", "c") == {"a": 1, "b": 1, "c": 0}
    worker(app, queues=["a", "b"])
    wait_for(lambda: len(seen) == 2)
    assert [what for what, _ in seen] == ["hello", "hello"]


def test_direct_exchange_matches_the_key_exactly(app: Celery) -> None:
    jobs = Exchange("jobs", "direct")
    app.conf.task_queues = [
        Queue("x", jobs, "work"),
        Queue("y", jobs, "work"),  # two queues, one key: both get a copy
        Queue("z", jobs, "other"),
    ]
    process, _ = collect(app)
    process.apply_async(("w",), exchange="jobs", routing_key="work")
    process.apply_async(("o",), exchange="jobs", routing_key="other")
    assert waiting(app, "x", "y", "z") == {"x": 1, "y": 1, "z": 1}
    with pytest.raises(QueueNotFound, match="'jobs' \\(direct\\)"):
        process.apply_async(("w",), exchange="jobs", routing_key="nobody")


def test_headers_exchange_matches_the_message_headers(app: Celery) -> None:
    by_header = Exchange("by-header", "headers")
    app.conf.task_queues = [
        Queue("all", by_header, binding_arguments={"x-match": "all", "task": "media.process"}),
        Queue("any", [binding(by_header, arguments={"x-match": "any", "tier": "gold", "n": 1})]),
    ]
    process, _ = collect(app)
    # As in Celery, a message with no routing key goes to its queue through the default
    # exchange (when that queue's exchange is direct): give one, any will do.
    process.apply_async(("h",), exchange="by-header", routing_key="-", headers={"tier": "gold"})
    process.apply_async(("h",), exchange="by-header", routing_key="-", headers={"tier": "iron"})
    assert waiting(app, "all", "any") == {"all": 2, "any": 1}


def test_a_group_through_an_exchange_reaches_each_queue(app: Celery) -> None:
    from celeriac import group

    everyone = Exchange("everyone", "fanout")
    app.conf.task_queues = [Queue("a", everyone), Queue("b", everyone)]
    process, _ = collect(app)
    members = (process.s(str(n)).set(exchange="everyone", routing_key="-") for n in range(3))
    group(members).apply_async()
    assert waiting(app, "a", "b") == {"a": 3, "b": 3}


def test_priority_queue_runs_higher_first(app: Celery, worker: Any, transport_kind: str) -> None:
    app.conf.task_queues = [Queue("ranked", max_priority=9)]
    app.conf.task_default_queue = "ranked"
    process, seen = collect(app)
    for priority in (0, 9, 3, 6):
        process.apply_async((str(priority),), priority=priority)
    worker(app, pool="solo", prefetch_multiplier=1, queues=["ranked"])
    wait_for(lambda: len(seen) == 4)
    order = [int(what) for what, _ in seen]
    # Redis keeps kombu's order (lower first) so Celery and celeriac workers agree
    assert order == ([0, 3, 6, 9] if transport_kind == "redis" else [9, 6, 3, 0])


@pytest.mark.filterwarnings("ignore:unknown setting 'media'")
def test_kombu_objects_in_a_settings_module(
    make_app: Any, worker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Celery settings file that imports Queue and Exchange from kombu, unchanged."""
    (tmp_path / "kombu_celeryconfig.py").write_text(
        textwrap.dedent(
            """
            from kombu import Exchange, Queue

            media = Exchange("media", type="topic")
            task_queues = (
                Queue("default", Exchange("default"), routing_key="default"),
                Queue("images", media, routing_key="*.image"),
                Queue("videos", media, routing_key="#.video"),
            )
            task_default_queue = "default"
            task_routes = {
                "media.process": {"queue": "images", "routing_key": "thumb.image"},
            }
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = make_app()
    app.config_from_object("kombu_celeryconfig")
    process, seen = collect(app)
    result = process.delay("picture")
    process.apply_async(("clip",), exchange="media", routing_key="hd.video")
    assert waiting(app, "default", "images", "videos") == {"default": 0, "images": 1, "videos": 1}
    worker(app, queues=["images", "videos"])
    assert result.get(timeout=10) == "picture"
    wait_for(lambda: len(seen) == 2)
    sys.modules.pop("kombu_celeryconfig", None)


def test_redis_keeps_kombus_binding_tables_for_celery_producers(
    make_app: Any, worker: Any, transport_kind: str
) -> None:
    """On Redis the app's bindings go into kombu's tables (a topic binding with kombu's
    regex), so a Celery producer's topic publish reaches a celeriac worker's queue."""
    if transport_kind != "redis":
        pytest.skip("kombu's binding tables are Redis's")
    import celery
    import kombu

    app = make_app()
    app.conf.task_queues = [Queue("images", MEDIA, "*.image"), Queue("videos", MEDIA, "#.video")]
    _, seen = collect(app)
    worker(app, queues=["images", "videos"])
    declare_queues(app, ["images", "videos"])  # what Worker.start() does (not the test harness)
    producer = celery.Celery("producer", broker=app.conf.broker_url, set_as_current=False)
    producer.conf.broker_transport_options = app.conf.broker_transport_options
    media = kombu.Exchange("media", "topic")
    producer.conf.task_queues = [
        kombu.Queue("images", media, routing_key="*.image"),
        kombu.Queue("videos", media, routing_key="#.video"),
    ]
    try:
        # Each publish declares (in kombu's tables) only the queue it names: the other
        # queue's binding must come from celeriac's declaration for the message to arrive.
        producer.send_task("media.process", ("video",), queue="images", routing_key="hd.video")
        producer.send_task("media.process", ("image",), queue="videos", routing_key="big.image")
        wait_for(lambda: len(seen) == 2)
    finally:
        producer.close()
    assert sorted(seen) == [
        ("image", {"exchange": "media", "routing_key": "big.image"}),
        ("video", {"exchange": "media", "routing_key": "hd.video"}),
    ]
    assert waiting(app, "images", "videos") == {"images": 0, "videos": 0}


def test_kombu_broadcast_queue_is_refused_with_the_reason(app: Celery, transport_kind: str) -> None:
    if transport_kind == "amqp":
        pytest.skip("RabbitMQ has exchanges: a Broadcast queue works there")
    import kombu.common

    app.conf.task_queues = [Queue("celery"), kombu.common.Broadcast("broadcast_tasks")]
    app.conf.task_routes = {"media.process": {"queue": "broadcast_tasks"}}
    process, _ = collect(app)
    with pytest.raises(QueueNotFound, match="'broadcast_tasks' is a kombu Broadcast queue"):
        process.delay("everyone")
