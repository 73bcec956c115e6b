"""Celery's helper modules under their celeriac paths: celeriac.utils, .utils.imports,
.utils.dispatch, .local, .events.event, celeriac.app, celeriac.worker and the top level."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

import celeriac
from celeriac import Celery
from celeriac.utils import (
    LOG_LEVELS,
    cached_property,
    chunks,
    gen_task_name,
    gen_unique_id,
    get_cls_by_name,
    get_full_cls_name,
    instantiate,
    memoize,
    nodename,
    nodesplit,
    noop,
    uuid,
    worker_direct,
)
from celeriac.utils.imports import (
    NotAPackage,
    cwd_in_path,
    find_module,
    import_from_cwd,
    module_file,
    reload_from_cwd,
)


def test_utils_functions() -> None:
    assert list(chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(uuid()) == 36 and uuid() != gen_unique_id()
    assert noop(1, x=2) is None
    assert LOG_LEVELS["INFO"] == 20 and LOG_LEVELS[20] == "INFO"
    assert nodename("w1", "host") == "w1@host" and nodesplit("w1@host") == ("w1", "host")
    assert worker_direct("w1@host") == "w1@host.dq2"  # the queue's name (Celery: a Queue)
    calls: list[int] = []

    @memoize(maxsize=2)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert [square(2), square(2), square(3)] == [4, 4, 9] and calls == [2, 3]

    @memoize(maxsize=1, keyfun=lambda args, kwargs: args[0] % 2)
    def parity(x: int) -> int:
        calls.append(x)
        return x % 2

    assert parity(1) == parity(3) == 1 and calls[-1] == 1

    class Lazy:
        @cached_property
        def value(self) -> list[int]:
            return []

    lazy = Lazy()
    assert lazy.value is lazy.value


def test_import_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_cls_by_name("celeriac.app.base.Celery") is Celery
    assert get_cls_by_name("celeriac.app.base:Celery") is Celery
    assert get_cls_by_name(Celery) is Celery
    assert get_cls_by_name("x", aliases={"x": "celeriac:Celery"}) is Celery
    assert get_full_cls_name(Celery) == "celeriac.app.base.Celery"
    assert instantiate("collections.OrderedDict", a=1) == {"a": 1}
    app = Celery("proj", set_as_current=False)
    assert gen_task_name(app, "add", "__main__") == "proj.add"
    assert gen_task_name(app, "add", "tasks") == "tasks.add"
    (tmp_path / "cwd_module.py").write_text("VALUE = 1\n")
    monkeypatch.chdir(tmp_path)
    with cwd_in_path() as added:
        assert added == os.getcwd() and sys.path[0] == added
    assert os.getcwd() not in sys.path
    try:
        module = import_from_cwd("cwd_module")
        assert module.VALUE == 1 and module_file(module).endswith("cwd_module.py")
        (tmp_path / "cwd_module.py").write_text("VALUE = 22\n")
        assert reload_from_cwd(module).VALUE == 22
        assert find_module("cwd_module") is module
        with pytest.raises(NotAPackage):
            find_module("cwd_module.sub")
    finally:
        sys.modules.pop("cwd_module", None)


def test_dispatch_signal_is_celeriacs_signal() -> None:
    from celeriac.signals import Signal
    from celeriac.utils.dispatch import Signal as DispatchSignal
    from celeriac.utils.dispatch.signal import Signal as ModuleSignal

    assert DispatchSignal is ModuleSignal is Signal
    custom = DispatchSignal(name="custom")
    got: list[Any] = []
    for _ in range(2):  # the same dispatch_uid connects once
        custom.connect(lambda sender, **kw: got.append((sender, kw)), dispatch_uid="u")
    custom.send(sender="me", x=1)
    assert got == [("me", {"signal": custom, "x": 1})]
    assert custom.disconnect(dispatch_uid="u") and not custom.disconnect(dispatch_uid="u")
    custom.send(sender="me")
    assert len(got) == 1

    @custom.connect(sender="other", dispatch_uid="d")
    def on_other(sender: Any, **kw: Any) -> None:
        got.append(sender)

    custom.send(sender="other")
    assert custom.disconnect(sender="other", dispatch_uid="d")
    custom.send(sender="other")
    assert got[1:] == ["other"]


def test_local_proxies() -> None:
    from celeriac.local import PromiseProxy, Proxy, maybe_evaluate, try_import

    calls: list[int] = []

    def make(x: int) -> list[int]:
        calls.append(x)
        return [x]

    promise = PromiseProxy(make, (5,))
    assert not promise.__evaluated__() and calls == []
    assert promise == [5] and promise.__evaluated__()
    assert maybe_evaluate(promise) == [5] and calls == [5]
    assert maybe_evaluate(3) == 3
    box = {"v": 1}
    live = Proxy(lambda: box["v"])
    box["v"] = 2
    assert live == 2
    assert try_import("json") is sys.modules["json"]
    assert try_import("celeriac_no_such_module", "fallback") == "fallback"
    assert celeriac.local is sys.modules["celeriac.local"]


def test_events_event_builder_and_exchange() -> None:
    from celeriac.events import event_exchange, get_exchange
    from celeriac.events.event import Event, group_from

    event = Event("task-custom", {"uuid": "i"}, info="x", __now__=lambda: 12.5)
    assert event == {"uuid": "i", "info": "x", "timestamp": 12.5, "type": "task-custom"}
    assert Event("worker-x", timestamp=1.0)["timestamp"] == 1.0
    assert group_from("task-custom") == "task"
    assert (event_exchange.name, event_exchange.type) == ("celeryev", "topic")
    redis_app = Celery("ev", broker="redis://127.0.0.1:6379/15", set_as_current=False)
    assert get_exchange(redis_app.connection()).type == "fanout"
    memory_app = Celery("ev", broker="memory://", set_as_current=False)
    assert get_exchange(memory_app.connection(), "myev").name == "myev"


def test_app_package_worker_package_and_top_level() -> None:
    from celeriac.app import Celery as AppCelery
    from celeriac.app import app_or_default, shared_task
    from celeriac.worker import WorkController
    from celeriac.worker.worker import Worker

    assert AppCelery is Celery and shared_task is celeriac.shared_task
    app = Celery("pkg", broker="memory://", backend="memory://", set_as_current=False)
    assert app_or_default(app) is app
    assert WorkController is Worker
    assert celeriac.VERSION_BANNER.startswith(celeriac.__version__)
    assert celeriac.version_info[:3] == celeriac.VERSION and celeriac.version_info.major == 0
    assert "software -> celeriac:" in celeriac.bugreport(app)


def test_app_connection_members(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Celery("conn", broker="memory://", backend="memory://", set_as_current=False)
    assert app.connection() is app.transport is app.connection_for_write()
    assert app.broker_connection() is app.connection_for_read(app.broker_url)
    with app.connection_or_acquire() as conn:
        assert conn is app.transport
    with app.default_connection("given") as conn:
        assert conn == "given"
    other = app.connection("memory://elsewhere")
    assert other is not app.transport
    with pytest.raises(NotImplementedError, match="whole broker URL"):
        app.connection("redis://h", userid="u")
    assert app.either("task_serializer", None, "yaml") == "yaml"
    assert app.either("task_serializer", None) == "json"
    assert app.IS_WINDOWS is False and app.SYSTEM
    assert app.ResultSet([]).results == []
    bound = app.subclass_with_self(dict, name="AppDict")
    assert bound.__name__ == "AppDict" and bound.app is app  # type: ignore[attr-defined]
    secret = Celery("s", broker="redis://u:hunter2@localhost/0", set_as_current=False)
    assert "hunter2" not in secret.bugreport() and ":**@" in secret.bugreport()
    app.conf.task_queues = None
    app.select_queues(["celery"])


@pytest.mark.parametrize(
    ("backend", "secrets", "shown"),
    [
        ("cache+memcached://10.0.0.1:11211;10.0.0.2:11211/", [], "10.0.0.1:11211;10.0.0.2"),
        (
            "sentinel://:secret1@h1:26379;sentinel://:secret2@h2:26379/0",
            ["secret1", "secret2"],
            "sentinel://:********@h1:26379;sentinel://:********@h2:26379/0",
        ),
        ("redis://:p,ass@word@localhost:6379/0", ["p,ass@word"], ":********@localhost:6379/0"),
        ("redis://user:p,a@ss@localhost:6379/0", ["p,a@ss"], "user:********@localhost:6379/0"),
    ],
)
def test_bugreport_masks_every_password(backend: str, secrets: list[str], shown: str) -> None:
    # several URLs joined with ";", and passwords holding "@" (the last one ends them)
    app = Celery("s", broker="memory://", backend=backend, set_as_current=False)
    report = app.bugreport()
    assert all(secret not in report for secret in secrets)
    assert shown in report
