"""Canvas across implementations on Redis: chains, groups and chords built by Celery 5.7 run on
celeriac workers, those built by celeriac run on Celery workers, and a chord whose header is
shared by a Celery and a celeriac worker fires its body exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import ModuleType

import pytest

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]

TIMEOUT = 30


@pytest.fixture(scope="module")
def on_celeriac(module_interop: Interop) -> Iterator[ModuleType]:
    """Celery's tasks module (the producer), with a celeriac worker on its queue."""
    module_interop.start_worker("celeriac", "prefork", 2)
    yield module_interop.tasks("celery")


def _flows(tasks: ModuleType, canvas: ModuleType) -> None:
    chain_result = (tasks.add.s(1, 1) | tasks.mul.s(5) | tasks.add.s(3)).apply_async()
    assert chain_result.get(timeout=TIMEOUT) == 13
    assert chain_result.parent.get(timeout=TIMEOUT) == 10
    group_result = canvas.group(tasks.add.s(i, i) for i in range(5)).apply_async()
    assert group_result.get(timeout=TIMEOUT) == [0, 2, 4, 6, 8]
    chord_result = canvas.chord(
        [tasks.add.s(i, i) for i in range(20)], tasks.tsum.s()
    ).apply_async()
    assert chord_result.get(timeout=TIMEOUT) == sum(2 * i for i in range(20))
    upgraded = (tasks.add.s(1, 1) | canvas.group(tasks.add.s(1), tasks.mul.s(3)) | tasks.tsum.s())()
    assert upgraded.get(timeout=TIMEOUT) == 9
    chains_in_header = canvas.chord(
        [tasks.add.s(1, 1) | tasks.mul.s(2), tasks.add.s(2, 2) | tasks.mul.s(2)], tasks.tsum.s()
    )()
    assert chains_in_header.get(timeout=TIMEOUT) == 12
    chord_in_chain = canvas.chain(
        tasks.add.s(1, 1),
        canvas.chord([tasks.add.s(1), tasks.add.s(2)], tasks.tsum.s()),
        tasks.mul.s(10),
    )()
    assert chord_in_chain.get(timeout=TIMEOUT) == 70


def test_celery_builds_celeriac_runs(on_celeriac: ModuleType) -> None:
    import celery

    _flows(on_celeriac, celery)


def test_celery_chord_failure_on_celeriac(on_celeriac: ModuleType) -> None:
    import celery
    from celery.exceptions import ChordError

    tasks = on_celeriac
    result = celery.chord([tasks.add.s(1, 1), tasks.fail.s("boom")], tasks.tsum.s()).apply_async()
    # Celery's get() re-raises a failed parent (the header task) first.
    with pytest.raises((ChordError, ValueError), match="boom"):
        result.get(timeout=TIMEOUT)
    meta = result.backend.get_task_meta(result.id)
    deadline = time.monotonic() + TIMEOUT
    while meta["status"] != "FAILURE" and time.monotonic() < deadline:
        time.sleep(0.05)
        meta = result.backend.get_task_meta(result.id)
    assert meta["status"] == "FAILURE"
    assert isinstance(meta["result"], ChordError)
    assert "boom" in str(meta["result"])


def test_celeriac_builds_celery_runs(interop: Interop) -> None:
    import celeriac

    interop.start_worker("celery", "prefork", 2)
    _flows(interop.tasks("celeriac"), celeriac)


def test_one_chord_completed_by_both_implementations(interop: Interop) -> None:
    import celeriac

    interop.start_worker("celery", "prefork", 1)
    interop.start_worker("celeriac", "prefork", 1)
    tasks = interop.tasks("celeriac")
    size = 200
    result = celeriac.chord([tasks.record.si(i) for i in range(size)], tasks.tsum.s())()
    # record() ignores its result; the chord still gets every part, in header order.
    assert result.get(timeout=60) == sum(range(size))
    by_celery = interop.client.scard(interop.key("interop.by.celery"))
    by_celeriac = interop.client.scard(interop.key("interop.by.celeriac"))
    assert by_celery + by_celeriac == size
    assert interop.client.lrange(interop.key("interop.tsum"), 0, -1) in ([b"celery"], [b"celeriac"])
