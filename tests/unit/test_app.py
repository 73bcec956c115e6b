"""The app without a worker: eager execution, configuration, registration, call checks."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from celeriac import Celery, current_app, current_task, group
from celeriac.exceptions import MaxRetriesExceededError, NotRegistered
from celeriac.results.result import EagerResult


class Boom(Exception):
    pass


# -- eager execution -------------------------------------------------------------------
def test_apply_runs_through_the_worker_path(app):
    @app.task(bind=True)
    def add(self, x: int, y: int) -> list:
        return [x + y, self.request.is_eager, self.request.id]

    result = add.apply((2, 3), task_id="eager-1")
    assert isinstance(result, EagerResult)
    assert result.get() == [5, True, "eager-1"]
    assert result.state == "SUCCESS" and result.successful()
    assert app.backend.get("eager-1") is None  # nothing stored


def test_apply_retries_at_once(app):
    calls: list[int] = []

    @app.task(bind=True, default_retry_delay=60)
    def flaky(self) -> int:
        calls.append(self.request.retries)
        if self.request.retries < 2:
            raise self.retry(exc=Boom())
        return self.request.retries

    assert flaky.apply().get() == 2
    assert calls == [0, 1, 2]


def test_apply_autoretry_and_max_retries(app):
    @app.task(autoretry_for=(Boom,), retry_kwargs={"max_retries": 2})
    def never() -> None:
        raise Boom("still")

    @app.task(bind=True, max_retries=1)
    def hopeless(self) -> None:
        raise self.retry()

    result = never.apply()
    assert result.state == "FAILURE" and isinstance(result.result, Boom)
    with pytest.raises(Boom):
        result.get()
    with pytest.raises(MaxRetriesExceededError):
        hopeless.apply().get()


def test_apply_applies_link_and_link_error(app):
    seen: list[object] = []

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def record(value: object) -> None:
        seen.append(value)

    @app.task
    def fail() -> None:
        raise Boom()

    assert add.apply((2, 2), link=record.s()).get() == 4
    failed = fail.apply(task_id="fails", link_error=record.s())
    assert failed.state == "FAILURE"
    assert seen == [4, "fails"]


def test_apply_calls_errbacks_by_their_signature(app):
    """A new-style errback ``(request, exc, traceback)`` gets those (Celery's way); the
    old single-argument form gets the failed task's id."""
    seen: list[object] = []

    @app.task
    def on_error(request, exc, traceback) -> None:  # type: ignore[no-untyped-def]
        seen.append((request.id, request.task, exc, traceback))

    @app.task
    def record(value: object) -> None:
        seen.append(value)

    @app.task
    def fail() -> None:
        raise Boom("eager boom")

    failed = fail.apply(task_id="fails", link_error=[on_error.s(), record.s()])
    assert failed.state == "FAILURE"
    [(task_id, name, exc, traceback), old_style] = seen
    assert (task_id, name) == ("fails", fail.name)
    assert isinstance(exc, Boom) and "Boom: eager boom" in traceback
    assert old_style == "fails"


def test_apply_failure_and_propagation(app):
    @app.task
    def fail() -> None:
        raise Boom("eager boom")

    result = fail.apply()
    assert result.failed() and "Boom: eager boom" in result.traceback
    assert isinstance(result.get(propagate=False), Boom)
    with pytest.raises(Boom, match="eager boom"):
        fail.apply(throw=True)
    app.conf.task_eager_propagates = True
    with pytest.raises(Boom, match="eager boom"):
        fail.apply()


def test_task_always_eager(make_app):
    app = make_app(task_always_eager=True)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    result = add.delay(1, 2)
    assert isinstance(result, EagerResult) and result.get() == 3
    assert add.s(5).delay(5).get() == 10
    assert group(add.s(i, i) for i in range(3))().get() == [0, 2, 4]
    assert app.transport.queue_length("celery") == 0


def test_task_always_eager_with_eager_propagates(make_app):
    app = make_app(task_always_eager=True, task_eager_propagates=True)

    @app.task
    def fail() -> None:
        raise Boom("propagated")

    with pytest.raises(Boom, match="propagated"):
        fail.delay()


async def test_eager_async_twins(make_app):
    app = make_app(task_always_eager=True)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    result = await add.adelay(2, 2)
    assert await result.aget() == 4


def test_calling_a_task_runs_it_in_process(app):
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert add(2, 2) == 4
    assert add.run(3, 3) == 6
    assert app.transport.queue_length("celery") == 0


def test_current_task_is_set_during_a_call(app):
    @app.task
    def who() -> str:
        return current_task.name

    assert who() == who.name
    assert who.apply().get() == who.name
    assert not current_task  # a proxy to None outside tasks


# -- calling checks --------------------------------------------------------------------
def test_wrong_arguments_raise_type_error_at_call_time(app):
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(bind=True)
    def bound(self, x: int) -> int:
        return x

    with pytest.raises(TypeError, match=add.name):
        add.delay("x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        add.apply_async((1, 2, 3))
    with pytest.raises(TypeError):
        add.apply_async((1,), {"z": 2})
    with pytest.raises(TypeError):
        bound.delay()  # type: ignore[call-arg]
    assert app.transport.queue_length("celery") == 0
    bound.delay(1)
    assert app.transport.queue_length("celery") == 1


def test_typing_false_skips_the_check(app):
    @app.task(typing=False)
    def loose(x: int) -> int:
        return x

    loose.delay()  # type: ignore[call-arg]
    assert app.transport.queue_length("celery") == 1


def test_send_task_does_not_need_the_task(app):
    result = app.send_task("elsewhere.task", (1,), {"a": 2}, queue="remote")
    assert app.transport.queue_length("remote") == 1
    assert result.state == "PENDING"
    assert "elsewhere.task" not in app.tasks
    with pytest.raises(NotRegistered):
        app.tasks["elsewhere.task"]


# -- registration ----------------------------------------------------------------------
def test_task_decorator_forms_and_names(app):
    @app.task
    def plain() -> None: ...

    @app.task(name="custom.name", queue="q1")
    def named() -> None: ...

    assert plain.name == f"{__name__}.plain"
    assert named.name == "custom.name" and named.queue == "q1"
    assert app.tasks[plain.name] is plain and app.tasks["custom.name"] is named
    assert "celery.backend_cleanup" in app.tasks


def test_task_in_main_module_uses_the_app_main_name(make_app):
    app = make_app("proj")
    fun = types.FunctionType((lambda: 1).__code__, {}, "job")
    fun.__module__ = "__main__"
    task = app.task(fun)
    assert task.name == "proj.job"


def test_async_def_makes_an_async_task(app):
    @app.task
    async def fetch() -> int:
        return 1

    @app.task
    def sync() -> int:
        return 1

    assert fetch.is_async and not sync.is_async


# -- configuration ---------------------------------------------------------------------
def test_config_from_object_with_namespace(app):
    class Settings:
        CELERY_TASK_DEFAULT_QUEUE = "from-settings"
        CELERY_RESULT_EXTENDED = True
        CELERY_ALWAYS_EAGER = True
        DEBUG = True
        task_default_priority = 9  # not in the namespace: ignored

    app.config_from_object(Settings, namespace="CELERY")
    assert app.conf.task_default_queue == "from-settings"
    assert app.conf.result_extended is True
    assert app.conf["task_always_eager"] is True
    assert app.conf.task_default_priority != 9


def test_config_from_object_module_path(app, tmp_path, monkeypatch):
    (tmp_path / "myconfig.py").write_text(
        "task_default_queue = 'from-module'\nCELERY_TASK_SERIALIZER = 'json'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app.config_from_object("myconfig")
    assert app.conf.task_default_queue == "from-module"


def test_settings_as_keyword_arguments_and_update(make_app):
    app = make_app(task_default_queue="kw")
    assert app.conf.task_default_queue == "kw"
    app.conf.update(task_default_queue="updated")
    assert app.conf["task_default_queue"] == "updated"


def test_routed_queue_comes_from_configuration(make_app):
    app = make_app(task_default_queue="jobs", task_routes={"*.urgent": "fast"})

    @app.task
    def normal() -> None: ...

    @app.task
    def urgent() -> None: ...

    normal.delay()
    urgent.delay()
    assert app.transport.queue_length("jobs") == 1
    assert app.transport.queue_length("fast") == 1


# -- current app -----------------------------------------------------------------------
def test_current_app_follows_the_latest_app(make_app):
    first = make_app("first")
    assert current_app.main == "first"
    second = make_app("second", set_as_current=False)
    assert current_app.main == "first"
    second.set_current()
    assert current_app.main == "second"
    assert first.tasks is not second.tasks


# -- autodiscovery ---------------------------------------------------------------------
@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Two packages with task modules (one under another name) and one without."""
    prefix = f"pkg_{tmp_path.name.replace('-', '_')}"
    for name, module, body in [
        (
            f"{prefix}_a",
            "tasks",
            "from celeriac import shared_task\n"
            "@shared_task(name='{p}_a.ping')\n"
            "def ping():\n    return 'pong'\n",
        ),
        (
            f"{prefix}_b",
            "jobs",
            "from celeriac import current_app\n"
            "@current_app.task(name='{p}_b.job')\n"
            "def job():\n    return 1\n",
        ),
        (f"{prefix}_c", None, ""),
    ]:
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        if module:
            (package / f"{module}.py").write_text(textwrap.dedent(body.replace("{p}", prefix)))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield prefix
    for name in list(sys.modules):
        if name.startswith(prefix):
            del sys.modules[name]


def test_autodiscover_tasks(app, packages):
    prefix = packages
    found = app.autodiscover_tasks([f"{prefix}_a", f"{prefix}_c"])
    assert found == [f"{prefix}_a.tasks"]
    assert f"{prefix}_a.ping" in app.tasks
    assert app.tasks[f"{prefix}_a.ping"].apply().get() == "pong"


def test_autodiscover_tasks_related_name_and_callable(app, packages):
    prefix = packages
    found = app.autodiscover_tasks(lambda: [f"{prefix}_b"], related_name="jobs")
    assert found == [f"{prefix}_b.jobs"]
    assert f"{prefix}_b.job" in app.tasks


def test_autodiscover_does_not_hide_a_broken_module(app, tmp_path, monkeypatch):
    package = tmp_path / "broken_pkg_for_autodiscover"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("import a_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
        app.autodiscover_tasks(["broken_pkg_for_autodiscover"])


def test_autodiscover_of_a_missing_package_raises(app, packages):
    # as Celery 5.7: a package without the module is skipped, a missing package is not;
    # a name that is not a package (a class path) is walked up one level
    prefix = packages
    with pytest.raises(ModuleNotFoundError) as raised:
        app.autodiscover_tasks([f"{prefix}_a", "nonexistent.package.name"], force=True)
    assert "nonexistent.package.name".startswith(str(raised.value.name))
    found = app.autodiscover_tasks([f"{prefix}_a.ping_class", "datetime.datetime"], force=True)
    assert found == [f"{prefix}_a.tasks"]


def test_include_modules_are_imported_by_finalize(make_app, tmp_path, monkeypatch):
    module = f"included_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        "from celeriac import current_app\n"
        f"@current_app.task(name='{module}.hello')\n"
        "def hello():\n    return 'hi'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = make_app(include=[module])
    assert f"{module}.hello" not in app.tasks
    app.finalize()
    assert f"{module}.hello" in app.tasks
    del sys.modules[module]


def test_celery_class_defaults_to_the_embedded_broker(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    app = Celery("embedded")
    try:
        assert app.broker_url.startswith("sqlite://")
        assert app.result_backend_url == app.broker_url
    finally:
        app.close()


def test_eager_subtasks_record_their_parent(make_app):
    app = make_app(task_always_eager=True)

    @app.task(bind=True)
    def child(self) -> list:
        return [self.request.parent_id, self.request.root_id]

    @app.task(bind=True)
    def parent(self) -> list:
        return [self.request.id, child.delay().get()]

    parent_id, (childs_parent, childs_root) = parent.delay().get()
    assert childs_parent == parent_id and childs_root == parent_id


def test_eager_group_members_know_their_group(make_app):
    app = make_app(task_always_eager=True)

    @app.task(bind=True)
    def member(self, n: int) -> list:
        return [self.request.group, self.request.group_index, n]

    sent = group(member.s(n) for n in range(2))()
    assert sent.get() == [[sent.id, 0, 0], [sent.id, 1, 1]]
    applied = group(member.s(n) for n in range(2)).apply()
    assert applied.get() == [[applied.id, 0, 0], [applied.id, 1, 1]]


# -- settings as the worker reads them -----------------------------------------------------
def test_worker_concurrency_given_as_a_string_is_a_number(app):
    # The table takes "4" (as from an environment variable); the worker used to keep
    # the string, so a prefork worker multiplied it ("4" * 4 == "4444" prefetch).
    from celeriac.exceptions import ImproperlyConfigured
    from celeriac.worker.worker import Worker, WorkerOptions

    app.conf.worker_concurrency = "3"
    node = Worker(app, WorkerOptions(pool="threads", quiet=True))
    assert node.concurrency == 3
    assert Worker(app, WorkerOptions(pool="threads", concurrency=2, quiet=True)).concurrency == 2
    app.conf.worker_concurrency = "lots"
    with pytest.raises(ImproperlyConfigured, match="worker_concurrency expects a number"):
        Worker(app, WorkerOptions(pool="threads", quiet=True))


def test_the_url_environment_variables_win_over_the_settings_as_in_celery(monkeypatch):
    celery = pytest.importorskip("celery")
    broker, backend = "redis://127.0.0.1:6379/9", "redis://127.0.0.1:6379/8"
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", backend)
    theirs = celery.Celery("env", broker="amqp://localhost", backend="rpc://", set_as_current=False)
    assert (theirs.conf.broker_url, theirs.conf.result_backend) == (broker, backend)
    app = Celery("env", broker="amqp://localhost", backend="rpc://", set_as_current=False)
    try:
        assert (app.broker_url, app.result_backend_url) == (broker, backend)
    finally:
        app.close()
