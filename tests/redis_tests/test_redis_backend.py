"""The Redis result backend against Celery's keys, values and PUBLISH, and Celery itself."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis_support import OwnRedis

from celeriac.backends.base import BackendOptions
from celeriac.backends.redis import RedisBackend, global_keyprefix
from celeriac.protocol.results import build_meta, parse_date_done
from helpers.services import redis_url
from helpers.vectors import load_vector

SPAWN = multiprocessing.get_context("spawn")


def meta(task_id: str, status: str = "SUCCESS", result: Any = 4) -> dict[str, Any]:
    return build_meta(
        task_id,
        status,
        result,
        children=[],
        date_done="2026-11-22T02:45:25.832564+00:00" if status == "SUCCESS" else None,
    )


@pytest.mark.parametrize(
    ("given", "used"),
    [("", ""), ("rpfx", "rpfx_"), ("p:", "p:"), ("p_", "p_"), ("p-", "p-"), ("p.", "p.")],
)
def test_global_keyprefix_rule(given: str, used: str) -> None:
    assert global_keyprefix(given) == used
    backend = RedisBackend("redis://localhost/0", BackendOptions(extra={"global_keyprefix": given}))
    assert backend.task_key("t") == f"{used}celery-task-meta-t"
    assert backend.group_key("g") == f"{used}celery-taskset-meta-g"


def test_stored_value_is_celerys(
    make_backend: Callable[..., RedisBackend], rclient: redis.Redis, prefix: str
) -> None:
    stored = load_vector("06-redis-result-success.json")["stored"]
    value = stored["value"]
    backend = make_backend()
    built = build_meta(
        value["task_id"],
        value["status"],
        value["result"],
        children=value["children"],
        date_done=parse_date_done(value["date_done"]),
    )
    backend.store(value["task_id"], built)
    key = f"{prefix}{stored['key']}"  # the prefix ends in "_": kombu's rule adds nothing
    assert rclient.get(key) == stored["raw_value"].encode()
    assert 86390 < rclient.ttl(key) <= 86400


def test_setex_and_publish(
    make_backend: Callable[..., RedisBackend], rclient: redis.Redis, prefix: str
) -> None:
    backend = make_backend(expires=3600)
    pubsub = rclient.pubsub(ignore_subscribe_messages=True)
    key = f"{prefix}celery-task-meta-t1"
    pubsub.subscribe(key)
    pubsub.get_message(timeout=1)
    backend.store("t1", meta("t1"))
    message = pubsub.get_message(timeout=2)
    assert message is not None and message["channel"] == key.encode()
    assert message["data"] == rclient.get(key)
    assert 3590 < rclient.ttl(key) <= 3600
    pubsub.close()


def test_no_expiry_and_fractional_expiry(
    make_backend: Callable[..., RedisBackend], rclient: redis.Redis, prefix: str
) -> None:
    make_backend(expires=None).store("forever", meta("forever"))
    assert rclient.ttl(f"{prefix}celery-task-meta-forever") == -1
    make_backend(expires=1.5).store("short", meta("short"))
    assert 1000 < rclient.pttl(f"{prefix}celery-task-meta-short") <= 1500


def test_group_and_forget(
    make_backend: Callable[..., RedisBackend], rclient: redis.Redis, prefix: str
) -> None:
    backend = make_backend()
    saved = {"result": [["g1", None], [[["t1", None], None]]]}
    backend.save_group("g1", saved)
    assert json.loads(rclient.get(f"{prefix}celery-taskset-meta-g1") or b"") == saved
    backend.store("t1", meta("t1"))
    backend.forget("t1")
    assert rclient.exists(f"{prefix}celery-task-meta-t1") == 0


def _celery_app(prefix: str) -> Any:
    celery = pytest.importorskip("celery")
    return celery.Celery(
        "interop",
        broker="memory://",
        backend=redis_url(),
        result_backend_transport_options={"global_keyprefix": prefix},
    )


@pytest.mark.interop
def test_celery_reads_our_results_and_we_read_celerys(
    make_backend: Callable[..., RedisBackend], prefix: str
) -> None:
    app = _celery_app(prefix)
    try:
        backend = make_backend()
        backend.store("ours", meta("ours", result={"a": [1, 2]}))
        assert app.AsyncResult("ours").get(timeout=5) == {"a": [1, 2]}
        failed = build_meta(
            "boom",
            "FAILURE",
            ValueError("boom"),
            traceback="Traceback …",
            children=[],
            date_done="2026-11-22T02:45:25.832564+00:00",
        )
        backend.store("boom", failed)
        with pytest.raises(ValueError, match="boom"):
            app.AsyncResult("boom").get(timeout=5)
        app.backend.store_result("theirs", 42, "SUCCESS")
        stored = backend.get("theirs")
        assert stored is not None and stored["result"] == 42 and stored["status"] == "SUCCESS"
        # Celery's waiting get() (pub/sub) wakes on our write, and ours on Celery's.
        later = str(uuid.uuid4())
        threading.Timer(0.2, backend.store, args=(later, meta(later, result="late"))).start()
        assert app.AsyncResult(later).get(timeout=5) == "late"
        again = str(uuid.uuid4())
        threading.Timer(0.2, app.backend.store_result, args=(again, "hi", "SUCCESS")).start()
        assert backend.wait_for(again, timeout=5)["result"] == "hi"
    finally:
        app.close()


def _store_from_child(url: str, prefix: str, task_id: str, delay: float, out: Any) -> None:
    backend = RedisBackend(url, BackendOptions(extra={"global_keyprefix": prefix}))
    backend.get("warm-up")
    time.sleep(delay)
    started = time.time()
    backend.store(task_id, meta(task_id))
    out.put(started)  # sent after the store, so the queue's thread cannot slow it down
    backend.close()


@pytest.mark.slow
def test_wait_for_wakes_within_10ms_of_another_clients_store(
    make_backend: Callable[..., RedisBackend], broker_url: str, prefix: str
) -> None:
    waiter = make_backend()
    waiter.get("warm-up")
    delays = []
    for n in range(5):
        out = SPAWN.Queue()
        child = SPAWN.Process(
            target=_store_from_child, args=(broker_url, prefix, f"t{n}", 1.0, out)
        )
        child.start()
        result = waiter.wait_for(f"t{n}", timeout=20)
        returned = time.time()
        delays.append(returned - out.get(timeout=5))
        child.join(10)
        assert result["task_id"] == f"t{n}"
    assert statistics.median(delays) < 0.01, delays


async def test_await_for_many_at_once(make_backend: Callable[..., RedisBackend]) -> None:
    backend, writer = make_backend(), make_backend()
    waits = [asyncio.create_task(backend.await_for(f"t{n}", timeout=5)) for n in range(20)]
    await asyncio.sleep(0.1)
    await asyncio.to_thread(
        writer.store_many, [(f"t{n}", meta(f"t{n}", result=n)) for n in range(20)]
    )
    results = await asyncio.gather(*waits)
    assert [r["result"] for r in results] == list(range(20))


def _set_without_publish(broker_url: str, key: str, task_id: str, after: float) -> None:
    """Write a result the way a tool that only SETs would: no PUBLISH to wake anyone."""
    time.sleep(after)
    client = redis.Redis.from_url(broker_url)
    client.set(key, json.dumps(meta(task_id)))
    client.close()


def test_wait_for_finds_a_result_stored_without_a_publish(
    make_backend: Callable[..., RedisBackend], broker_url: str
) -> None:
    backend = make_backend()
    key = backend.task_key("quiet")
    writer = threading.Thread(target=_set_without_publish, args=(broker_url, key, "quiet", 0.2))
    writer.start()
    began = time.monotonic()
    found = backend.wait_for("quiet", timeout=10)
    writer.join()
    assert found["status"] == "SUCCESS" and found["task_id"] == "quiet"
    assert time.monotonic() - began < 3.0  # read again after a quiet second, not at timeout


async def test_await_for_finds_a_result_stored_without_a_publish(
    make_backend: Callable[..., RedisBackend], broker_url: str
) -> None:
    backend = make_backend()
    key = backend.task_key("quiet-async")
    writer = threading.Thread(
        target=_set_without_publish, args=(broker_url, key, "quiet-async", 0.2)
    )
    writer.start()
    began = time.monotonic()
    found = await backend.await_for("quiet-async", timeout=10)
    writer.join()
    assert found["task_id"] == "quiet-async"
    assert time.monotonic() - began < 3.0


def test_get_survives_a_redis_restart(own_redis: OwnRedis) -> None:
    waiter = RedisBackend(own_redis.url)
    writer = RedisBackend(own_redis.url)
    waiter.get("warm-up")
    box: dict[str, Any] = {}

    def wait() -> None:
        try:
            box["meta"] = waiter.wait_for("t1", timeout=20)
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    own_redis.stop()
    time.sleep(1.0)
    own_redis.start()
    writer.store("t1", meta("t1"))
    thread.join(20)
    assert box.get("meta") == meta("t1"), box
    assert waiter.get("t1") == meta("t1")
    waiter.close()
    writer.close()
