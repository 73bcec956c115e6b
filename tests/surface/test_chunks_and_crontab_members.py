"""``chunks.apply_chunks`` and ``crontab.remaining_delta``, checked against the real Celery
where it can answer the same question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from celeriac import Celery
from celeriac.canvas import chunks
from celeriac.contrib.testing import start_worker
from celeriac.schedules import crontab

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 3, 28, 23, 40, 30, tzinfo=UTC)  # the eve of a DST change in Europe


def test_apply_chunks_sends_at_once() -> None:
    app = Celery("chunked", broker="memory://", backend="memory://", set_as_current=False)

    @app.task(name="chunked.add")
    def add(x: int, y: int) -> int:
        return x + y

    with start_worker(app, pool="threads", perform_ping_check=False):
        result: Any = chunks.apply_chunks(add.s(), [(1, 1), (2, 2), (3, 3)], 2, app=app)
        assert result.get(timeout=10) == [[2, 4], [6]]


CASES = [
    ({"minute": "*/15"}, datetime(2026, 3, 28, 23, 40, 30, tzinfo=UTC), None),
    ({"minute": 0, "hour": 4}, datetime(2026, 3, 28, 5, 0, tzinfo=UTC), None),
    ({"minute": 30, "hour": 2, "day_of_week": "sun"}, datetime(2026, 3, 20, tzinfo=UTC), None),
    ({"minute": 0, "hour": 9}, datetime(2026, 3, 28, 12, tzinfo=UTC), "Europe/Paris"),
    ({"minute": 5, "day_of_month": 1}, datetime(2026, 3, 28, 12, tzinfo=UTC), "America/New_York"),
]


@pytest.mark.parametrize(("fields", "last_run_at", "tz"), CASES)
def test_remaining_delta_lands_where_celerys_does(
    fields: dict[str, Any], last_run_at: datetime, tz: str | None
) -> None:
    celery_schedules = pytest.importorskip("celery.schedules")
    ours = crontab(**fields, nowfun=lambda: NOW)
    theirs = celery_schedules.crontab(**fields, nowfun=lambda: NOW)
    start, delta, now = ours.remaining_delta(last_run_at, tz=tz)
    c_start, c_delta, c_now = theirs.remaining_delta(last_run_at, tz=tz)
    assert isinstance(delta, timedelta)
    assert (start, now) == (c_start, c_now)
    assert start + delta == c_start + c_delta
    assert start.utcoffset() == c_start.utcoffset()  # in the schedule's zone, as Celery's


def test_remaining_delta_steps_to_the_next_run() -> None:
    every_quarter = crontab(minute="*/15", nowfun=lambda: NOW)
    start, delta, now = every_quarter.remaining_delta(datetime(2026, 1, 1, 10, 7, 12, tzinfo=UTC))
    assert start + delta == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    assert now == NOW
    assert start + delta == every_quarter.next_run_after(start)
