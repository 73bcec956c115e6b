"""Celery's ``Inspect.hello/memsample/memdump/objgraph`` against a worker, and the app's
``annotations``/``config_from_cmdline``."""

from __future__ import annotations

import pytest

from celeriac import Celery
from celeriac.app.annotations import MapAnnotation
from celeriac.contrib.testing import start_worker

pytestmark = pytest.mark.timeout(60)


def test_inspect_memory_and_hello_commands() -> None:
    app = Celery("inspectx", broker="memory://", backend="memory://", set_as_current=False)
    with start_worker(app, pool="threads", perform_ping_check=False) as worker:
        host = worker.hostname
        inspect = app.control.inspect(destination=[host], timeout=2)
        assert "MB" in str((inspect.memsample() or {})[host])
        assert "MB" in str((inspect.memdump() or {})[host])
        assert (inspect.objgraph("Celery") or {})[host]["type"] == "Celery"
        greeting = (inspect.hello("other@host") or {})[host]
        assert set(greeting) == {"revoked", "clock"}


def test_annotations_and_config_from_cmdline() -> None:
    app = Celery("cmdline", broker="memory://", set_as_current=False)
    app.conf.task_annotations = {"t.a": {"rate_limit": "1/s"}}
    assert app.annotations == [MapAnnotation({"t.a": {"rate_limit": "1/s"}})]
    app.config_from_cmdline(["worker.concurrency=3", "task_default_queue=q1"])
    assert app.conf.worker_concurrency == 3 and app.conf.task_default_queue == "q1"
