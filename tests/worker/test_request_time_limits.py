"""``self.request.time_limit``/``soft_time_limit`` (Celery 5.6+): the limits the message
carries, the call's over the task's, None when neither gives one."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("transport_kind", ["memory"])
def test_request_time_limits(app: Celery, worker: WorkerFactory) -> None:
    @app.task(bind=True, name="limits.plain")
    def plain(self: Any) -> list[Any]:
        return [self.request.time_limit, self.request.soft_time_limit]

    @app.task(bind=True, name="limits.declared", time_limit=60, soft_time_limit=45)
    def declared(self: Any) -> list[Any]:
        return [self.request.time_limit, self.request.soft_time_limit]

    worker(app)
    assert plain.delay().get(timeout=10) == [None, None]
    assert plain.apply_async(time_limit=30, soft_time_limit=20).get(timeout=10) == [30, 20]
    assert declared.delay().get(timeout=10) == [60, 45]
    assert declared.apply_async(time_limit=10, soft_time_limit=5).get(timeout=10) == [10, 5]
