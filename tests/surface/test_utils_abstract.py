"""Celery's ``celery.utils.abstract``: celeriac tasks and signatures satisfy the interfaces."""

from __future__ import annotations

from celeriac import Celery, chain, group
from celeriac.utils.abstract import CallableSignature, CallableTask


def test_tasks_and_signatures_are_recognised() -> None:
    app = Celery("modpaths-abstract", broker="memory://", set_as_current=False)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert isinstance(add, CallableTask) and not isinstance(add, CallableSignature)
    assert isinstance(add.s(1, 2), CallableSignature) and isinstance(add.s(1, 2), CallableTask)
    assert isinstance(chain(add.s(1, 2), add.s(3)), CallableSignature)
    assert isinstance(group(add.s(1, 2)), CallableSignature)
    assert not isinstance(object(), CallableTask)
    assert not isinstance(lambda: None, CallableSignature)


def test_register_returns_the_class() -> None:
    @CallableTask.register
    class Custom:
        pass

    assert isinstance(Custom(), CallableTask)
