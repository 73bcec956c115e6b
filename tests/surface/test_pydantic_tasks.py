"""``@app.task(pydantic=True)`` (Celery 5.5+): models validated on the worker, returned
models dumped, a caller's models dumped before sending. Celery's ``examples/pydantic``
runs with these (``scripts/celery_integration.py --examples pydantic``)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from celeriac import Celery, shared_task
from celeriac.exceptions import ImproperlyConfigured
from helpers.services import WorkerFactory

pydantic = pytest.importorskip("pydantic")

pytestmark = pytest.mark.timeout(60)


class ArgModel(pydantic.BaseModel):  # type: ignore[misc,name-defined]
    value: int


class ReturnModel(pydantic.BaseModel):  # type: ignore[misc,name-defined]
    value: str


class Checked(pydantic.BaseModel):  # type: ignore[misc,name-defined]
    """Records the validation context the task's wrapper passes."""

    value: int
    seen: dict[str, Any] = {}

    @pydantic.model_validator(mode="after")  # type: ignore[misc]
    def _context(self, info: Any) -> Checked:
        context = info.context or {}
        self.seen = {"task": context.get("celery_task_name"), "extra": context.get("extra")}
        return self


def _tasks(app: Celery) -> dict[str, Any]:
    @app.task(pydantic=True, name="p.x")
    def x(arg: ArgModel) -> ReturnModel:
        assert isinstance(arg, ArgModel)
        return ReturnModel(value=f"example: {arg.value}")

    @app.task(pydantic=True, name="p.maybe")
    def maybe(arg: ArgModel | None = None, *, scale: int = 1) -> int | None:
        return None if arg is None else arg.value * scale

    @app.task(pydantic=True, bind=True, name="p.bound")
    def bound(self: Any, arg: ArgModel) -> dict[str, Any]:
        return {"task": self.name, "value": arg.value}

    @app.task(pydantic=True, pydantic_context={"extra": 42}, name="p.context")
    def context(arg: Checked) -> dict[str, Any]:
        return arg.seen

    @app.task(pydantic=True, name="p.untyped_return")
    def untyped(arg: ArgModel):  # type: ignore[no-untyped-def]
        return arg.value

    @app.task(pydantic=True, name="p.async")
    async def asynchronous(arg: ArgModel) -> ReturnModel:
        return ReturnModel(value=str(arg.value * 2))

    return {
        "x": x, "maybe": maybe, "bound": bound, "context": context, "untyped": untyped,
        "async": asynchronous,
    }  # fmt: skip


def test_worker_validates_arguments_and_dumps_returned_models(
    app: Celery, worker: WorkerFactory
) -> None:
    t = _tasks(app)
    worker(app)
    assert t["x"].delay({"value": 1}).get(timeout=20) == {"value": "example: 1"}
    assert t["x"].delay(ArgModel(value=2)).get(timeout=20) == {"value": "example: 2"}
    assert t["x"].s(ArgModel(value=3)).delay().get(timeout=20) == {"value": "example: 3"}
    assert t["maybe"].delay(None).get(timeout=20) is None
    assert t["maybe"].delay(arg=ArgModel(value=4), scale=3).get(timeout=20) == 12
    assert t["bound"].delay(ArgModel(value=5)).get(timeout=20) == {"task": "p.bound", "value": 5}
    seen = t["context"].delay({"value": 1}).get(timeout=20)
    assert seen == {"task": "p.context", "extra": 42}
    assert t["untyped"].delay({"value": 7}).get(timeout=20) == 7


def test_async_task_with_models(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    assert t["async"].delay({"value": 21}).get(timeout=20) == {"value": "42"}


@shared_task(pydantic=True, name="p.shared")
def shared(arg: ArgModel) -> ReturnModel:
    return ReturnModel(value=f"shared: {arg.value}")


def test_shared_task_with_models(app: Celery, worker: WorkerFactory) -> None:
    # shared_task(pydantic=True) as Celery's own integration tasks use it
    worker(app)
    assert shared.delay({"value": 1}).get(timeout=20) == {"value": "shared: 1"}
    assert shared.delay(ArgModel(value=2)).get(timeout=20) == {"value": "shared: 2"}
    assert shared.apply_async(kwargs={"arg": ArgModel(value=3)}).get(timeout=20) == {
        "value": "shared: 3"
    }
    assert shared.s(ArgModel(value=4)).delay().get(timeout=20) == {"value": "shared: 4"}


def test_invalid_argument_fails_the_task(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    worker(app)
    result = t["x"].delay({"value": "not a number"})
    with pytest.raises(Exception, match="ValidationError"):
        result.get(timeout=20)
    assert result.state == "FAILURE"


def test_caller_models_are_dumped_in_the_message(app: Celery) -> None:
    t = _tasks(app)
    message, _, _ = app.prepare_task_message("p.x", (ArgModel(value=3),), {}, task_type=t["x"])
    assert message.body.startswith(b'[[{"value": 3}], {}')
    # a model the wrapper would not rebuild is left for the serializer (to refuse)
    other = ReturnModel(value="x")
    assert t["x"]._dump_pydantic_arguments((other,), {}) == ((other,), {})


def test_direct_call_goes_through_the_wrapper(app: Celery) -> None:
    t = _tasks(app)
    assert t["x"](ArgModel(value=3)) == {"value": "example: 3"}
    assert t["x"]({"value": 4}) == {"value": "example: 4"}


def test_without_pydantic_installed(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydantic", None)
    with pytest.raises(ImproperlyConfigured, match="install pydantic"):

        @app.task(pydantic=True)
        def needs(arg: int) -> int:
            return arg


def test_tasks_without_pydantic_are_unchanged(app: Celery) -> None:
    @app.task(name="p.plain")
    def plain(arg: Any) -> Any:
        return arg

    model = ArgModel(value=1)
    assert plain._dump_pydantic_arguments is None
    assert plain(model) is model
