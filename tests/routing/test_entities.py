"""celeriac.Queue/Exchange/binding: kombu's constructor arguments and attribute names, frozen;
kombu's own objects, dicts and names read into them; the queue table Celery builds."""

from __future__ import annotations

from typing import Any

import kombu
import pytest

import celeriac
from celeriac import Celery, Exchange, Queue, binding
from celeriac.config import entities
from celeriac.config.entities import as_binding, as_exchange, as_queue
from celeriac.config.entity_dicts import queue_dict
from celeriac.config.queues import declared_queues, queue_declarations, queue_table
from celeriac.exceptions import ImproperlyConfigured, QueueNotFound


def test_exported_from_the_package_and_their_module() -> None:
    assert celeriac.Queue is entities.Queue
    assert celeriac.Exchange is entities.Exchange
    assert celeriac.binding is entities.binding


def test_exchange_has_kombus_defaults_and_names() -> None:
    media = Exchange("media", "topic")
    assert (media.name, media.type, media.durable, media.auto_delete) == (
        "media",
        "topic",
        True,
        False,
    )
    assert media.arguments is None and media.delivery_mode is None
    assert Exchange("plain").type == "direct"
    assert Exchange("x", delivery_mode="transient").delivery_mode == 1
    assert Exchange("x", delivery_mode="persistent").delivery_mode == 2
    assert Exchange("x", "topic") == Exchange("x", "topic")
    assert Exchange("x", "topic") != Exchange("x", "fanout")
    with pytest.raises(ValueError, match="unknown type 'toppic'"):
        Exchange("x", "toppic")


def test_queue_has_kombus_defaults_and_names() -> None:
    images = Queue("images", Exchange("media", "topic"), routing_key="*.image")
    assert images.name == "images"
    assert images.exchange == Exchange("media", "topic")
    assert images.routing_key == "*.image"
    assert images.bindings == frozenset()
    assert (images.durable, images.exclusive, images.auto_delete) == (True, False, False)
    assert images.queue_arguments is None and images.max_priority is None
    # a name for the exchange, exclusive implying auto_delete, as in kombu
    assert Queue("q", "ex").exchange == Exchange("ex")
    assert Queue("q", exclusive=True).auto_delete is True
    assert Queue("q").exchange == Exchange("")


def test_entities_are_immutable_and_hash_by_name() -> None:
    queue = Queue("q", Exchange("e"), "k")
    with pytest.raises(AttributeError, match="immutable"):
        queue.name = "other"  # type: ignore[misc]
    assert {queue, Queue("q", Exchange("e"), "k")} == {queue}
    assert queue.replace(routing_key="k2").routing_key == "k2"
    assert queue.routing_key == "k"


def test_bindings_and_declare_arguments() -> None:
    media = Exchange("media", "topic")
    queue = Queue("both", [binding(media, "*.image"), media.binding("#.video")])
    assert queue.exchange is None
    assert [b.routing_key for b in queue.all_bindings()] == ["#.video", "*.image"]
    assert Queue("plain").all_bindings() == ()  # the default exchange only
    limited = Queue(
        "limited",
        queue_arguments={"x-queue-type": "classic"},
        max_priority=9,
        message_ttl=1.5,
        expires=60,
        max_length=10,
    )
    assert limited.declare_arguments() == {
        "x-queue-type": "classic",
        "x-max-priority": 9,
        "x-message-ttl": 1500,
        "x-expires": 60000,
        "x-max-length": 10,
    }
    assert limited.priority_levels == 9


def test_kombu_objects_are_read_by_their_attributes() -> None:
    media = kombu.Exchange("media", "topic", durable=False, delivery_mode="transient")
    exchange = as_exchange(media)
    assert (exchange.name, exchange.type, exchange.durable, exchange.delivery_mode) == (
        "media",
        "topic",
        False,
        1,
    )
    queue = as_queue(
        kombu.Queue(
            "images",
            media,
            routing_key="*.image",
            queue_arguments={"x-queue-type": "quorum"},
            max_priority=5,
            consumer_arguments={"x-priority": 3},
        )
    )
    assert queue == Queue(
        "images",
        Exchange("media", "topic", durable=False, delivery_mode=1),
        "*.image",
        queue_arguments={"x-queue-type": "quorum"},
        max_priority=5,
        consumer_arguments={"x-priority": 3},
    )
    bound = as_queue(
        kombu.Queue("multi", [kombu.binding(media, "a.*"), kombu.binding(media, "b.#")])
    )
    assert {b.routing_key for b in bound.bindings} == {"a.*", "b.#"}
    assert as_binding(kombu.binding(media, "x")).exchange == as_exchange(media)


def test_dicts_and_names() -> None:
    assert as_queue("hipri") == Queue("hipri", Exchange("hipri"), "hipri")
    from_dict = as_queue(
        {"exchange": "media", "exchange_type": "topic", "routing_key": "a.#"}, name="m"
    )
    assert from_dict.name == "m"
    assert from_dict.exchange == Exchange("media", "topic")
    assert from_dict.routing_key == "a.#"
    assert (
        as_queue({"name": "n"}).routing_key == "n"
    )  # Celery: the routing key defaults to the name
    with pytest.raises(TypeError, match="expected a Queue"):
        as_queue(42)


def test_queue_table_applies_celerys_defaults() -> None:
    app = Celery(
        "t",
        broker="memory://",
        task_queues=[
            Queue("plain"),
            Queue("images", Exchange("media", "topic"), "*.image", alias="img"),
        ],
        task_default_queue="plain",
        task_queue_max_priority=10,
    )
    table = queue_table(app.conf)
    plain = table.get("plain")
    # no exchange: the default exchange (named after the default queue) and routing key
    assert plain.exchange == Exchange("plain", "direct")
    assert plain.routing_key == "plain"
    assert plain.queue_arguments == {"x-max-priority": 10}
    assert table.get("img") is table.get("images")
    assert declared_queues(app.conf) == ["plain", "images"]
    assert [q.name for q in queue_declarations(app.conf)] == ["plain", "images"]
    made = table.get("elsewhere")  # task_create_missing_queues: a direct exchange of its name
    assert (made.exchange, made.routing_key) == (Exchange("elsewhere"), "elsewhere")


def test_default_queue_and_its_settings() -> None:
    app = Celery(
        "t",
        broker="memory://",
        task_default_queue="jobs",
        task_default_exchange="tasks",
        task_default_exchange_type="topic",
        task_default_routing_key="job.default",
        task_default_queue_type="quorum",
    )
    [queue] = queue_declarations(app.conf)
    assert queue.name == "jobs"
    assert queue.exchange == Exchange("tasks", "topic")
    assert queue.routing_key == "job.default"
    assert queue.queue_arguments == {"x-queue-type": "quorum"}


def test_missing_queues_off_names_the_queue() -> None:
    app = Celery(
        "t", broker="memory://", task_queues=[Queue("a")], task_create_missing_queues=False
    )
    with pytest.raises(QueueNotFound, match="queue 'b' is not in task_queues"):
        queue_table(app.conf).get("b")


def test_task_queues_of_the_wrong_kind() -> None:
    app = Celery("t", broker="memory://", task_queues=[object()])
    with pytest.raises(ImproperlyConfigured, match="task_queues"):
        queue_table(app.conf)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Queue("plain"),
        lambda m: m.Queue("images", m.Exchange("media", "topic"), routing_key="*.image"),
        lambda m: m.Queue(
            "ranked",
            m.Exchange("r", durable=False),
            "r",
            max_priority=9,
            queue_arguments={"x-queue-type": "quorum"},
        ),
        lambda m: m.Queue("multi", [m.binding(m.Exchange("e", "topic"), "a.*")]),
    ],
)
def test_queue_dict_is_kombus_as_dict(make: Any) -> None:
    """What ``inspect active_queues`` replies, as a Celery worker does (kombu's as_dict)."""
    ours = queue_dict(make(celeriac))
    theirs = make(kombu).as_dict(recurse=True)
    assert ours == theirs
