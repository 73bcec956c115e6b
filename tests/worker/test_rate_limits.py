"""Rate limits hold back only the limited task."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.timeout(30)


def test_rate_limited_task_is_spaced_and_others_are_not_held_up(app, worker):
    @app.task(rate_limit="10/s")
    def limited(n: int) -> float:
        return time.monotonic()

    @app.task
    def free() -> float:
        return time.monotonic()

    worker(app, pool="threads", concurrency=4)
    started = time.monotonic()
    limited_results = [limited.delay(n) for n in range(30)]
    free_result = free.delay()
    free_done = free_result.get(timeout=5)
    finished = [r.get(timeout=10) for r in limited_results]
    assert free_done - started < 1.0
    assert max(finished) - started >= 2.8
    assert free_done < max(finished)


def test_rate_limit_per_minute_parses_and_runs_the_first_call_at_once(app, worker):
    @app.task(rate_limit="100/m")
    def minute() -> str:
        return "ok"

    worker(app)
    started = time.monotonic()
    assert minute.delay().get(timeout=5) == "ok"
    assert time.monotonic() - started < 1.0


def test_invalid_rate_limit_fails_the_task_instead_of_holding_it(app, worker):
    @app.task(rate_limit="fast")
    def misconfigured() -> int:
        return 1

    @app.task
    def fine() -> int:
        return 2

    worker(app)
    result = misconfigured.delay()
    with pytest.raises(ValueError, match="invalid rate limit 'fast'"):
        result.get(timeout=5)
    assert fine.delay().get(timeout=5) == 2
    deadline = time.monotonic() + 5
    while not any(d.task_id == result.id for d in app.transport.dead_letters()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
