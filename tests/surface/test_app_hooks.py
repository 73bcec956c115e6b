"""Celery's app hooks: ``on_init``, ``on_after_fork`` and ``task_cls``."""

from __future__ import annotations

import os
from typing import Any

import pytest

from celeriac import Celery, Task

pytestmark = pytest.mark.timeout(30)


class CustomTask(Task[..., object]):
    custom = True


def test_on_init_runs_at_the_end_of_init() -> None:
    seen: list[Any] = []

    class MyApp(Celery):
        def on_init(self) -> None:
            # everything is set up by then: settings and the built-in tasks
            seen.append((self.main, self.conf.broker_url, "celery.chunks" in self.tasks))

    MyApp("hooked", broker="memory://", set_as_current=False)
    assert seen == [("hooked", "memory://", True)]


def test_task_cls_is_the_base_of_app_tasks() -> None:
    plain = Celery("plain", broker="memory://", set_as_current=False)
    assert plain.task_cls == "celeriac.app.task:Task" and plain.Task is Task

    given = Celery("given", broker="memory://", set_as_current=False, task_cls=CustomTask)
    assert given.task_cls is CustomTask and given.Task is CustomTask

    by_path = Celery(
        "path", broker="memory://", set_as_current=False, task_cls=f"{__name__}:CustomTask"
    )
    assert by_path.task_cls == f"{__name__}:CustomTask" and by_path.Task is CustomTask

    @by_path.task(name="path.t")
    def t() -> None: ...

    assert isinstance(t, CustomTask)

    class Sub(Celery):
        task_cls = CustomTask

    sub = Sub("sub", broker="memory://", set_as_current=False)
    assert sub.Task is CustomTask


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_on_after_fork_is_sent_in_the_forked_child() -> None:
    app = Celery("forking", broker="memory://", set_as_current=False)
    other = Celery("other", broker="memory://", set_as_current=False)
    fired: list[str] = []

    @app.on_after_fork.connect
    def _reopen(sender: Any, **kwargs: Any) -> None:
        fired.append(sender.main)

    @other.on_after_fork.connect
    def _other(sender: Any, **kwargs: Any) -> None:
        fired.append(sender.main)

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what fired, then leave at once
        try:
            os.write(write_end, ",".join(sorted(fired)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read().decode()
    os.waitpid(pid, 0)
    assert reported == "forking,other"
    assert fired == []  # not in the parent
