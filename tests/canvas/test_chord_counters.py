"""Chord counters in each result backend: atomic count and claim, dedupe, order, Celery's keys."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.backends.base import ChordBackend, ChordClaim


@pytest.fixture
def backend(make_app: Any) -> Iterator[ChordBackend]:
    app: Celery = make_app()
    backend = app.backend
    assert isinstance(backend, ChordBackend)
    yield backend


def _parts(backend: ChordBackend, size: int) -> list[tuple[str, int, bytes]]:
    out = []
    for index in range(size):
        task_id = str(uuid.uuid4())
        out.append((task_id, index, backend.encode_chord_part(task_id, "SUCCESS", index)))
    return out


def test_one_claim_under_concurrency_with_duplicates(backend: ChordBackend) -> None:
    group_id = str(uuid.uuid4())
    size = 60
    backend.set_chord_size(group_id, size)
    parts = _parts(backend, size)
    claims: list[ChordClaim] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def report(offset: int) -> None:
        barrier.wait()
        # every part is reported twice (a redelivery), by different threads
        for task_id, index, part in parts[offset::3]:
            claim = backend.chord_part_return(group_id, task_id, index, part)
            if claim is not None:
                with lock:
                    claims.append(claim)

    threads = [threading.Thread(target=report, args=(n % 3,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claims) == 1
    decoded = [backend.decode_chord_part(m) for m in claims[0].members]
    assert [value for _, _, value in decoded] == list(range(size))
    backend.chord_cleanup(group_id, claims[0].token)
    task_id, index, part = parts[0]
    assert backend.chord_part_return(group_id, task_id, index, part) is None


def test_batch_report_and_add_to_chord(backend: ChordBackend) -> None:
    group_id = str(uuid.uuid4())
    backend.set_chord_size(group_id, 3)
    backend.add_to_chord(group_id, 1)
    parts = _parts(backend, 4)
    first = backend.chord_parts_return([(group_id, t, i, p) for t, i, p in parts[:3]])
    assert first == [None, None, None]
    [claim] = backend.chord_parts_return([(group_id, t, i, p) for t, i, p in parts[3:]])
    assert claim is not None and len(claim.members) == 4


def test_part_encoding_is_celerys(backend: ChordBackend) -> None:
    celery = pytest.importorskip("celery")
    theirs = celery.Celery("enc", backend="redis://127.0.0.1:1/0").backend
    task_id = str(uuid.uuid4())
    error = ValueError("boom", 3)
    # ZADD dedupes on the exact member bytes: they must be Celery's (str there, bytes here)
    ours = backend.encode_chord_part(task_id, "SUCCESS", {"a": [1, 2]})
    assert ours.decode() == theirs.encode(
        [1, task_id, "SUCCESS", theirs.encode_result({"a": [1, 2]}, "SUCCESS")]
    )
    ours = backend.encode_chord_part(task_id, "FAILURE", error)
    assert ours.decode() == theirs.encode(
        [1, task_id, "FAILURE", theirs.encode_result(error, "FAILURE")]
    )


def test_redis_keys_are_celerys(canvas_kind: str, redis_prefix: Any, make_app: Any) -> None:
    if canvas_kind != "redis":
        pytest.skip("Redis key layout")
    import redis

    from helpers.services import redis_client

    app = make_app()
    backend = app.backend
    group_id = str(uuid.uuid4())
    base = f"{redis_prefix}celery-taskset-meta-{group_id}"
    backend.set_chord_size(group_id, 2)
    client: redis.Redis = redis_client()
    assert client.get(base + ".s") == b"2"
    assert client.ttl(base + ".s") > 0
    (t1, i1, p1), (t2, i2, p2) = _parts(backend, 2)
    assert backend.chord_part_return(group_id, t1, i1, p1) is None
    assert client.zrange(base + ".j", 0, -1, withscores=True) == [(p1, 0.0)]
    assert client.smembers(base + ".d") == {f"{t1}:0".encode()}
    claim = backend.chord_part_return(group_id, t2, i2, p2)
    assert claim is not None and claim.members == [p1, p2]
    assert client.get(base + ".c") == claim.token.encode()
    backend.chord_cleanup(group_id, claim.token)
    assert client.get(base + ".c") == b"done"
    assert not client.exists(base + ".j", base + ".s", base + ".d", base + ".t")
    assert json.loads(p1)[0] == 1


def test_sqlite_counts_across_backend_objects(tmp_path: Path) -> None:
    from celeriac.backends.sqlite import SQLiteBackend

    url = f"sqlite:///{tmp_path / 'r.db'}"
    one, two = SQLiteBackend(url), SQLiteBackend(url)
    group_id = str(uuid.uuid4())
    one.set_chord_size(group_id, 2)
    (t1, i1, p1), (t2, i2, p2) = _parts(one, 2)
    assert one.chord_part_return(group_id, t1, i1, p1) is None
    claim = two.chord_part_return(group_id, t2, i2, p2)
    assert claim is not None and claim.members == [p1, p2]


def test_redis_claim_survives_a_retried_call(
    canvas_kind: str, redis_prefix: Any, make_app: Any
) -> None:
    """The call that completes a chord claims it even when run twice with one token: its
    reply lost in a Redis restart, the backend's retry runs the script again (found by
    the chaos soak: the body of such a chord was never sent)."""
    if canvas_kind != "redis":
        pytest.skip("Redis claim script")
    from celeriac.backends.redis import scripts

    backend = make_app().backend
    group_id = str(uuid.uuid4())
    backend.set_chord_size(group_id, 1)
    ((task_id, index, part),) = _parts(backend, 1)
    keys = backend._chord_keys(group_id)
    script_keys = [keys["j"], keys["t"], keys["s"], keys["d"], keys["g"], keys["c"]]
    args = [task_id, part, 1, str(index), 3600, 3600, 10, "token-1"]

    def run(client: Any) -> Any:
        script = client.register_script(scripts.CHORD_PART_RETURN)
        return script(keys=script_keys, args=args)

    first = backend._call("test", run)
    again = backend._call("test", run)  # the same call, retried
    assert first[3] == 1 and again[3] == 1
    other = backend._call("test", lambda c: c.register_script(scripts.CHORD_PART_RETURN)(
        keys=script_keys, args=[*args[:-1], "token-2"]))  # fmt: skip
    assert other[3] == 0


def test_celerys_on_chord_part_return_sends_the_body(make_app: Any, worker: Any) -> None:
    """``app.backend.on_chord_part_return(request, state, result)`` (Celery's call) counts
    each part once, redeliveries included, and the last one sends the body."""
    from celeriac.execution.request import Context

    app = make_app()

    @app.task(name="tests.collect")
    def collect(values: list[int]) -> list[int]:
        return values

    worker(app)
    group_id = str(uuid.uuid4())
    body = collect.s()
    body_id = body.freeze().id
    ids = [str(uuid.uuid4()) for _ in range(3)]
    backend = app.backend
    assert isinstance(backend, ChordBackend)
    backend.set_chord_size(group_id, 3)
    for index, value in [(0, 1), (0, 42), (1, 2), (2, 3)]:  # (0, 42): a redelivered part
        request = Context(id=ids[index], group=group_id, group_index=index, chord=body)
        backend.on_chord_part_return(request, "SUCCESS", value)
    assert app.AsyncResult(body_id).get(timeout=20) == [1, 2, 3]


def test_apply_chord_saves_a_nested_header(canvas_kind: str, make_app: Any) -> None:
    if canvas_kind != "redis":
        pytest.skip("Celery's Redis apply_chord")
    from celeriac.result import AsyncResult, GroupResult

    app = make_app(result_chord_expires=600)
    backend = app.backend
    group_id = str(uuid.uuid4())
    flat = [AsyncResult(str(uuid.uuid4()), app=app)]
    backend.apply_chord((group_id, flat), None)
    assert GroupResult.restore(group_id, backend=backend, app=app) is None
    header = GroupResult(group_id, [GroupResult(str(uuid.uuid4()), flat, app=app)], app=app)
    backend.apply_chord((group_id, header.results), None)
    assert GroupResult.restore(group_id, backend=backend, app=app) == header
    assert 60 < backend.client.ttl(backend.get_key_for_group(group_id)) <= 600
