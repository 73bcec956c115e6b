"""``task_annotations`` sets every annotated attribute (Celery's ``Task.annotate``)."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery
from celeriac.app.annotations import MapAnnotation, prepare, resolve_all
from celeriac.contrib.testing import start_worker

pytestmark = pytest.mark.timeout(60)


class SlowDown:
    """An annotation object (Celery's second form)."""

    def annotate(self, task: Any) -> dict[str, Any] | None:
        if task.name.startswith("ann.slow"):
            return {"rate_limit": "10/s", "tag": "slow"}
        return None


def test_prepare_and_resolve_all() -> None:
    anno = prepare([{"ann.a": {"x": 1}, "*": {"y": 2}}, SlowDown()])
    assert isinstance(anno[0], MapAnnotation)
    task = type("T", (), {"name": "ann.a"})()
    assert list(resolve_all(anno, task)) == [{"x": 1}, {"y": 2}]
    slow = type("T", (), {"name": "ann.slow"})()
    assert list(resolve_all(anno, slow)) == [{"rate_limit": "10/s", "tag": "slow"}, {"y": 2}]
    assert prepare(None) == [] and prepare("collections:OrderedDict")[0] == {}


def test_annotated_attributes_reach_the_task_a_worker_runs() -> None:
    app = Celery("ann", broker="memory://", backend="memory://", set_as_current=False)
    app.conf.task_annotations = [
        {"ann.report": {"max_retries": 7, "flavour": "named"}, "*": {"flavour": "any", "n": 1}},
        SlowDown(),
    ]

    @app.task(name="ann.report", bind=True)
    def report(self: Any) -> list[Any]:
        return [self.max_retries, self.flavour, self.n]

    @app.task(name="ann.slow_one", bind=True)
    def slow_one(self: Any) -> list[Any]:
        return [self.rate_limit, self.tag, self.flavour]

    app.finalize()
    assert report.max_retries == 7
    with start_worker(app, pool="threads", perform_ping_check=False):
        assert report.delay().get(timeout=10) == [7, "named", 1]
        assert slow_one.delay().get(timeout=10) == ["10/s", "slow", "any"]
