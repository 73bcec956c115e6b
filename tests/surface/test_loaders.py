"""``app.loader`` and Celery's ``celery.loaders`` modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.loaders import get_loader_cls
from celeriac.loaders.app import AppLoader
from celeriac.loaders.base import BaseLoader
from celeriac.loaders.default import DEFAULT_CONFIG_MODULE, Loader
from celeriac.signals import import_modules


def test_loader_imports_the_default_modules_and_reads_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "loader_tasks.py").write_text(
        "from celeriac import shared_task\n\n@shared_task(name='loader.ping')\ndef ping():\n"
        "    return 'pong'\n"
    )
    (tmp_path / "celeryconfig.py").write_text("task_serializer = 'json'\n")
    (tmp_path / "otherconfig.py").write_text("BROKER_URL = 'memory://'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = Celery("loaders", broker="memory://", imports=["loader_tasks"], set_as_current=False)
    loader = app.loader
    assert isinstance(loader, AppLoader) and loader is app.loader and loader.conf is app.conf
    sent: list[object] = []
    import_modules.connect(lambda sender, **_: sent.append(sender), weak=False, dispatch_uid="t")
    try:
        assert loader.default_modules == ["loader_tasks"]
        modules = loader.import_default_modules()
        assert [m.__name__ for m in modules] == ["loader_tasks"] and sent == [app]
        assert "loader_tasks" in loader.task_modules
        assert "loader.ping" in app.tasks
        monkeypatch.setenv("CELERY_CONFIG_MODULE", "otherconfig")
        assert loader.read_configuration() == {"BROKER_URL": "memory://"}
        monkeypatch.delenv("CELERY_CONFIG_MODULE")
        assert Loader(app).read_configuration()["task_serializer"] == "json"
        assert DEFAULT_CONFIG_MODULE == "celeryconfig"
        assert loader.config_from_object("celeryconfig") and loader.configured
        assert app.conf.task_serializer == "json"
        assert loader.config_from_object("no_such_config_module", silent=True) is False
        assert loader.cmdline_config_parser(["worker.concurrency=4", "task_acks_late=True"]) == {
            "worker_concurrency": 4, "task_acks_late": True,
        }  # fmt: skip
    finally:
        import_modules.disconnect(dispatch_uid="t")
        for name in ("loader_tasks", "celeryconfig", "otherconfig"):
            sys.modules.pop(name, None)


def test_get_loader_cls() -> None:
    assert get_loader_cls("app") is AppLoader and get_loader_cls("default") is Loader
    assert get_loader_cls("celeriac.loaders.base:BaseLoader") is BaseLoader
    assert get_loader_cls(Loader) is Loader
