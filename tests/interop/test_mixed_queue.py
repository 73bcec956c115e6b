"""One queue, one Celery worker and one celeriac worker at once: every task runs exactly once."""

from __future__ import annotations

import pytest

from .conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.slow]

TASKS = 2000


def test_mixed_queue_runs_each_task_exactly_once(interop: Interop) -> None:
    celery_worker = interop.start_worker("celery", "threads", 2, wait=False)
    celeriac_worker = interop.start_worker("celeriac", "prefork", 2, wait=False)
    for worker in (celery_worker, celeriac_worker):
        worker.wait_for(r"ready\.", timeout=30)
    celery_tasks, celeriac_tasks = interop.tasks("celery"), interop.tasks("celeriac")
    sent: set[str] = set()
    # Both producers, interleaved in small runs, onto the one queue.
    for start in range(0, TASKS, 50):
        producer = celery_tasks if (start // 50) % 2 == 0 else celeriac_tasks
        for n in range(start, start + 50):
            sent.add(producer.record.delay(n).id)
    assert len(sent) == TASKS
    runs_key = interop.key("interop.runs")
    interop.wait(
        lambda: interop.client.hlen(runs_key) >= TASKS,
        timeout=60,
        what=f"{TASKS} tasks to run (ran {interop.client.hlen(runs_key)})",
    )
    # Anything delivered twice would show up in the next moment; let it.
    queue_keys = [interop.key(interop.queue), interop.key("unacked")]
    interop.wait(
        lambda: not any(interop.client.exists(k) for k in queue_keys),
        timeout=10,
        what="the queue and the unacked hash to empty",
    )
    runs = {k.decode(): int(v) for k, v in interop.client.hgetall(runs_key).items()}
    assert set(runs) == sent
    twice = {task_id: count for task_id, count in runs.items() if count != 1}
    assert not twice, f"ran more than once: {twice}"
    by_celery = interop.client.smembers(interop.key("interop.by.celery"))
    by_celeriac = interop.client.smembers(interop.key("interop.by.celeriac"))
    print(f"celery ran {len(by_celery)}, celeriac ran {len(by_celeriac)}")
    assert by_celery and by_celeriac, (len(by_celery), len(by_celeriac))
    assert len(by_celery) + len(by_celeriac) == TASKS
    assert interop.client.llen(interop.key(interop.queue)) == 0
