"""Celery's smaller module paths: saferepr, fixups, flatten_reply, heartbeat_expires."""

from __future__ import annotations

import time
import warnings

import pytest

from celeriac.exceptions import DuplicateNodenameWarning


def test_saferepr_bounds_and_never_fails() -> None:
    from celeriac.utils.saferepr import saferepr

    assert saferepr({"a": [1, 2]}) == repr({"a": [1, 2]})
    cut = saferepr(list(range(1000)), maxlen=20)
    assert cut.startswith("[0, 1, 2") and cut.endswith("...]") and len(cut) < 30
    assert len(saferepr(list(range(1000)))) == len(repr(list(range(1000))))  # no limit
    assert saferepr([[[[1]]]], maxlevels=2) == "[[[...]]]"

    class Broken:
        def __repr__(self) -> str:
            raise ValueError("no")

    assert "unrepresentable" in saferepr(Broken())


def test_flatten_reply_merges_and_warns_on_duplicate_nodes() -> None:
    from celeriac.app.control import flatten_reply

    replies = [{"a@h": {"ok": 1}}, {"b@h": {"ok": 2}}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert flatten_reply(replies) == {"a@h": {"ok": 1}, "b@h": {"ok": 2}}
    with pytest.warns(DuplicateNodenameWarning, match="a@h"):
        assert flatten_reply([*replies, {"a@h": {"ok": 3}}])["a@h"] == {"ok": 3}


def test_heartbeat_expires_as_celery() -> None:
    from celeriac.events.state import heartbeat_expires

    assert heartbeat_expires(1000.0) == 1000.0 + 60 * 2.0
    assert heartbeat_expires(1000, freq=2, expire_window=150) == 1003.0


def test_fixups_django_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from celeriac import Celery
    from celeriac.contrib.django import fixup as ours
    from celeriac.fixups.django import DjangoFixup, fixup

    assert DjangoFixup is ours.DjangoFixup
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    assert fixup(Celery("modpaths", set_as_current=False)) is None


def test_heartbeat_sent_follows_each_worker_event() -> None:
    from celeriac import Celery
    from celeriac.signals import heartbeat_sent
    from celeriac.worker.heartbeat import NodeEvents

    app = Celery("modpaths", broker="memory://", set_as_current=False)
    node = NodeEvents(app, "hb@modpaths", freq=0.05)
    senders: list[object] = []

    def receiver(sender: object = None, **_: object) -> None:
        senders.append(sender)

    heartbeat_sent.connect(receiver)
    try:
        node.start()
        deadline = time.monotonic() + 5
        while len(senders) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        node.stop()
    finally:
        heartbeat_sent.disconnect(receiver)
    assert len(senders) >= 3 and all(s is node for s in senders)


def test_app_module_names() -> None:
    import celeriac.app as app_module
    from celeriac import Celery
    from celeriac.execution.context import get_current_task

    app = Celery("modpaths-app")  # becomes current (and the default app)
    assert app_module.default_app is app
    assert app_module.app_or_default() is app
    assert "celeriac" in app_module.bugreport()
    assert app_module.pop_current_task() is None  # nothing pushed
    app_module.push_current_task("outer")
    app_module.push_current_task("inner")
    assert get_current_task() == "inner"
    assert app_module.pop_current_task() == "inner"
    assert get_current_task() == "outer"
    assert app_module.pop_current_task() == "outer"
    assert get_current_task() is None
    with pytest.raises(AttributeError):
        app_module.no_such_name  # noqa: B018


def test_backend_names() -> None:
    from celeriac.backends import base, disabled
    from celeriac.backends.base import BackendOptions
    from celeriac.exceptions import ImproperlyConfigured

    assert base.DisabledBackend is disabled.DisabledBackend
    off = base.DisabledBackend("disabled", BackendOptions())
    with pytest.raises(ImproperlyConfigured):
        off.get_task_meta("x")
    with pytest.raises(AttributeError):
        base.NoSuchBackend  # noqa: B018


def test_sentinel_backend_is_the_redis_backend() -> None:
    pytest.importorskip("redis")
    from celeriac.backends.base import BackendOptions
    from celeriac.backends.redis import RedisBackend, SentinelBackend

    backend = SentinelBackend(
        "sentinel://localhost:26379/0", BackendOptions(extra={"master_name": "mymaster"})
    )
    assert isinstance(backend, RedisBackend)
    backend.close()
