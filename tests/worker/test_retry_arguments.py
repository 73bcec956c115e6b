"""``self.retry(args=...)``/``retry(kwargs=...)`` alone: Celery 5.7's switch between
positional and keyword passing (#6494), on a real worker and as a pure function."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery
from celeriac.execution.retry_args import retry_arguments
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)


def _body(foo: int, bar: int, label: str | None = None) -> None: ...


def test_retry_arguments_rules() -> None:
    assert retry_arguments(_body, [1, 2], {}, None, {"foo": 2}) == ([2, 2], {})
    assert retry_arguments(_body, [], {"foo": 1, "bar": 2, "label": "x"}, [2, 3], None) == (
        [2, 3],
        {"label": "x"},
    )
    assert retry_arguments(_body, [1], {"bar": 2}, [5], {"bar": 6}) == ([5], {"bar": 6})
    assert retry_arguments(_body, [1, 2], {}, None, None) == ([1, 2], {})


@pytest.mark.parametrize("transport_kind", ["memory"])
def test_retry_switches_calling_convention(app: Celery, worker: WorkerFactory) -> None:
    @app.task(bind=True, max_retries=1, name="retry.kwargs_after_args")
    def kwargs_after_args(self: Any, foo: int, bar: int) -> list[Any]:
        if not self.request.retries:
            raise self.retry(kwargs={"foo": foo + 1}, countdown=0)
        return [foo, bar, self.request.retries]

    @app.task(bind=True, max_retries=1, name="retry.args_after_kwargs")
    def args_after_kwargs(self: Any, foo: int, bar: int, label: str | None = None) -> list[Any]:
        if not self.request.retries:
            raise self.retry(args=(foo + 1, bar + 1), countdown=0)
        return [foo, bar, label, self.request.retries]

    worker(app)
    assert kwargs_after_args.delay(1, 2).get(timeout=10) == [2, 2, 1]
    assert args_after_kwargs.apply_async(kwargs={"foo": 1, "bar": 2, "label": "x"}).get(
        timeout=10
    ) == [2, 3, "x", 1]
