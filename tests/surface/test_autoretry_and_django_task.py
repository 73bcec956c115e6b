"""``celeriac.app.autoretry`` (retries added after the fact, run by a worker) and
``celeriac.contrib.django.task.DjangoTask`` as a project's task class."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celery
from celeriac.app.autoretry import add_autoretry_behaviour
from celeriac.contrib.testing import start_worker
from celeriac.exceptions import ImproperlyConfigured

pytestmark = pytest.mark.timeout(60)


def test_add_autoretry_behaviour_makes_the_worker_retry() -> None:
    app = Celery("autoretry", broker="memory://", backend="memory://", set_as_current=False)
    calls: list[int] = []

    @app.task(name="ar.flaky", bind=True)
    def flaky(self: Any) -> int:
        calls.append(self.request.retries)
        if len(calls) < 3:
            raise OSError("not yet")
        return len(calls)

    add_autoretry_behaviour(
        flaky, autoretry_for=[OSError], retry_kwargs={"max_retries": 5, "countdown": 0}
    )
    assert flaky.autoretry_for == (OSError,)
    with start_worker(app, pool="threads", perform_ping_check=False):
        assert flaky.delay().get(timeout=20) == 3
    assert calls == [0, 1, 2]


def test_django_task_is_a_task_class_with_on_commit_sends() -> None:
    from celeriac.contrib.django.task import DjangoTask

    app = Celery(
        "djtask", broker="memory://", backend="memory://",
        task_cls="celeriac.contrib.django.task:DjangoTask", set_as_current=False,
    )  # fmt: skip

    @app.task(name="dj.add")
    def add(x: int, y: int) -> int:
        return x + y

    assert isinstance(add, DjangoTask)
    with start_worker(app, pool="threads", perform_ping_check=False):
        assert add.delay(4, 5).get(timeout=10) == 9
    with pytest.raises(ImproperlyConfigured, match="Django's transactions"):
        add.delay_on_commit(2, 3)  # Django is not set up for this app: said, not ignored


def test_a_django_project_app_defaults_to_django_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``DJANGO_SETTINGS_MODULE`` set, an app (a ``Celery`` subclass too) left with
    the default task class gets ``DjangoTask``, as Celery's fixup does; a chosen class stays."""
    pytest.importorskip("django")
    from celeriac.app.task import Task
    from celeriac.contrib.django.task import DjangoTask

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "not_imported.settings")

    class ProjectCelery(Celery):
        pass

    class Chosen(Task[Any, Any]):
        pass

    app = ProjectCelery("dj", broker="memory://", set_as_current=False)
    assert issubclass(app.Task, DjangoTask) and hasattr(app.Task, "delay_on_commit")
    kept = Celery("dj2", broker="memory://", task_cls=Chosen, set_as_current=False)
    assert kept.Task is Chosen
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    assert Celery("plain", broker="memory://", set_as_current=False).Task is Task


def test_worker_pool_cls_names_the_pool_class() -> None:
    from celeriac.concurrency import solo, thread
    from celeriac.worker.worker import Worker, WorkerOptions

    app = Celery("pools", broker="memory://", set_as_current=False)
    assert Worker(app, WorkerOptions(pool="solo")).pool_cls is solo.TaskPool
    assert Worker(app, WorkerOptions(pool="threads")).pool_cls is thread.TaskPool
