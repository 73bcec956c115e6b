"""``Task.on_replace`` (Celery 5.3+): ``replace()`` hands the prepared replacement to the
hook, which sends it; a task class can stamp it first. Celery's ``examples/stamping``
(``StampOnReplace``, ``MonitoredTask``) relies on it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from celeriac import Celery, Task
from celeriac.canvas import Signature, StampingVisitor
from celeriac.signals import task_received
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)


class MarkVisitor(StampingVisitor):
    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        return {"mystamp": "I am a stamp!"}


class StampOnReplace(Task[..., Any]):
    """As in the stamping example: stamp the replacement, then let the base class send it."""

    replaced: list[str] = []

    def on_replace(self, sig: Signature) -> Any:
        self.replaced.append(sig["task"])
        sig.stamp(MarkVisitor())
        return super().on_replace(sig)


def _tasks(app: Celery) -> dict[str, Any]:
    @app.task(name="r.identity")
    def identity(x: object) -> object:
        return x

    @app.task(bind=True, base=StampOnReplace, name="r.replaced")
    def replaced(self: Task[..., Any], x: object) -> object:
        return self.replace(identity.s(x))

    return {"identity": identity, "replaced": replaced}


def test_on_replace_stamps_reach_the_worker(app: Celery, worker: WorkerFactory) -> None:
    t = _tasks(app)
    seen: dict[str, Any] = {}
    received = threading.Event()

    def on_received(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
        if request.task == "r.identity":
            seen.update(stamps=request.stamps, stamped_headers=request.stamped_headers)
            received.set()

    task_received.connect(on_received, weak=False)
    try:
        worker(app)
        result = t["replaced"].delay("value")
        assert result.get(timeout=20) == "value"  # the replacement answers under the same id
        assert received.wait(10)
    finally:
        task_received.disconnect(on_received)
    assert StampOnReplace.replaced[-1] == "r.identity"
    assert seen["stamps"] == {"mystamp": "I am a stamp!"}
    assert seen["stamped_headers"] == ["mystamp"]


def test_eager_replace_returns_the_replacements_result(app: Celery) -> None:
    t = _tasks(app)
    assert t["replaced"].apply(("eager",)).get() == "eager"


def test_an_override_may_send_nothing(app: Celery) -> None:
    """The hook decides: one that does not call the base class does not send."""

    class Swallow(Task[..., Any]):
        def on_replace(self, sig: Signature) -> Any:
            return f"kept {sig['task']}"

    @app.task(bind=True, base=Swallow, name="r.swallow")
    def swallow(self: Task[..., Any]) -> object:
        return self.replace(app.signature("r.never"))

    assert swallow.apply().get() == "kept r.never"
