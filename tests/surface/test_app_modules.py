"""Celery's ``celery.app.*`` helper modules: defaults, utils, backends, events."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from celeriac import Celery


def test_defaults_namespaces_find_and_flatten() -> None:
    from celeriac.app.defaults import NAMESPACES, Option, find, flatten

    found = find("broker_url")
    assert (found.namespace, found.key) == ("broker", "url")
    assert find("CELERY_TASK_SERIALIZER").type.default == "json"
    assert find("serializer", namespace="task").key == "serializer"
    assert find("timezone").namespace is None
    with pytest.raises(KeyError):
        find("no_such_setting")
    flat = dict(flatten())
    assert flat["worker_concurrency"] is NAMESPACES["worker"]["concurrency"]
    assert set(flat) >= set(Celery("d", set_as_current=False).conf)
    assert flat["worker_send_task_events"].to_python("yes") is True
    assert Option(3, type="int").to_python("4") == 4
    assert flat["task_acks_late"].type == "bool"


def test_app_utils(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from celeriac.app.utils import (
        Settings,
        appstr,
        bugreport,
        filter_hidden_settings,
        find_app,
        sanitize_url,
    )

    app = Celery("utilsapp", broker="memory://", backend="memory://", set_as_current=False)
    assert isinstance(app.conf, Settings)
    assert appstr(app) == f"utilsapp at {id(app):#x}"
    assert bugreport(app).startswith("software -> celeriac:")
    assert sanitize_url("redis://u:pw@h:6379/0") == "redis://u:**@h:6379/0"
    hidden = filter_hidden_settings({"broker_url": "amqp://u:pw@h//", "secret_key": "s"})
    assert "pw" not in hidden["broker_url"] and hidden["secret_key"] != "s"
    pkg = tmp_path / "findproj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "celery.py").write_text("from celeriac import Celery\nmyapp = Celery('found')\n")
    (tmp_path / "flat_mod.py").write_text("from celeriac import Celery\napp = Celery('flat')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert find_app("findproj").main == "found"  # the package's celery submodule
        assert find_app("findproj.celery:myapp").main == "found"
        assert find_app("flat_mod").main == "flat"
        assert find_app("flat_mod.app").main == "flat"
    finally:
        for name in ("findproj", "findproj.celery", "flat_mod"):
            sys.modules.pop(name, None)


def test_backends_by_name_and_url() -> None:
    from celeriac.app.backends import by_name, by_url
    from celeriac.backends.memory import MemoryBackend

    assert by_name("memory") is MemoryBackend
    assert by_name(MemoryBackend) is MemoryBackend
    assert by_name("celeriac.backends.memory:MemoryBackend") is MemoryBackend
    cls, url = by_url("redis://localhost:6379/3")
    assert cls.__name__ == "RedisBackend" and url == "redis://localhost:6379/3"
    assert by_url("memory") == (MemoryBackend, None)
    app = Celery("b", broker="memory://", backend="memory://", set_as_current=False)
    assert isinstance(app.backend, by_name("memory"))


def test_app_events_is_the_events_class() -> None:
    from celeriac.app.events import Events

    app = Celery("e", broker="memory://", set_as_current=False)
    assert isinstance(app.events, Events)
