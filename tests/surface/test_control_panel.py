"""Custom remote-control commands, add/cancel_consumer, stamping, pool resizing: real workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, group
from celeriac.canvas import StampingVisitor
from celeriac.worker.control import add_consumer, control_command, inspect_command
from helpers.processes import Project, wait_until
from helpers.services import WorkerFactory

pytestmark = pytest.mark.timeout(60)


@control_command(args=[("factor", int)])
def surface_multiply_queues(state: Any, factor: int = 2, **_: Any) -> dict[str, Any]:
    """A project's own control command."""
    return {"ok": len(state.consumer.config.queues) * factor, "node": state.hostname}


@inspect_command()
def surface_app_name(state: Any, **_: Any) -> str:
    return str(state.app.main)


def test_custom_commands_answer(app: Celery, worker: WorkerFactory) -> None:
    node = worker(app)
    replies = app.control.broadcast(
        "surface_multiply_queues", arguments={"factor": 3}, reply=True, timeout=2,
        destination=[node.hostname],
    )  # fmt: skip
    assert replies == [{node.hostname: {"ok": 3, "node": node.hostname}}]
    answer = app.control.broadcast(
        "surface_app_name", reply=True, timeout=2, destination=[node.hostname]
    )
    assert answer == [{node.hostname: app.main}]
    assert callable(add_consumer)


def test_add_and_cancel_consumer(app: Celery, worker: WorkerFactory) -> None:
    @app.task(name="surface.echo")
    def echo(x: int) -> int:
        return x

    node = worker(app)
    other = echo.apply_async((1,), queue="surface-extra")
    time.sleep(0.3)
    assert other.state == "PENDING"  # not consumed yet
    reply = app.control.add_consumer("surface-extra", reply=True, destination=[node.hostname])
    assert reply == [{node.hostname: {"ok": "add consumer surface-extra"}}]
    assert other.get(timeout=10) == 1
    reply = app.control.cancel_consumer("surface-extra", reply=True, destination=[node.hostname])
    assert reply == [{node.hostname: {"ok": "no longer consuming from surface-extra"}}]
    time.sleep(0.5)  # a fetch already waiting on the old queue list ends first
    late = echo.apply_async((2,), queue="surface-extra")
    time.sleep(0.5)
    assert late.state == "PENDING"


class Tagger(StampingVisitor):
    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        return {"tenant": "acme"}


def test_stamps_reach_the_worker_and_revoke_by_them(app: Celery, worker: WorkerFactory) -> None:
    @app.task(name="surface.stamps", bind=True)
    def stamps(self: Any) -> dict[str, Any]:
        return dict(self.request.stamps or {})

    worker(app)
    workflow = group(stamps.s(), stamps.s())
    workflow.stamp(Tagger(), batch="b1")
    assert workflow.apply_async().get(timeout=10) == [{"tenant": "acme", "batch": "b1"}] * 2
    sig = stamps.s()
    sig.stamp(batch="b2")
    assert sig.options["stamped_headers"] == ["batch"]


def test_revoke_by_stamped_headers(app: Celery, worker: WorkerFactory) -> None:
    @app.task(name="surface.nap")
    def nap(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    node = worker(app, pool="solo", concurrency=1)
    busy = nap.delay(1.0)
    waiting = nap.s(0.1)
    waiting.stamp(batch="doomed")
    doomed = waiting.apply_async()
    time.sleep(0.3)  # reserved behind the running nap
    reply = app.control.revoke_by_stamped_headers(
        {"batch": "doomed"}, reply=True, destination=[node.hostname]
    )
    assert reply == [  # Celery's reply text
        {
            node.hostname: {
                "ok": "headers {'batch': 'doomed'} flagged as revoked, but not terminated"
            }
        }
    ]
    assert busy.get(timeout=10) == 1.0
    with pytest.raises(Exception, match="revoked"):
        doomed.get(timeout=10)


def test_pool_grow_and_shrink_on_prefork(tmp_path: Path) -> None:
    with Project(tmp_path, "") as project:
        worker = project.start_worker(pool="prefork", concurrency=1, name="pg")
        wait_until(lambda: len(worker.child_pids()) == 1, timeout=20)
        control = project.producer().control
        host = worker.lines(r"ready\.")[0].split("]")[-1].split()[0]
        assert control.pool_grow(2, reply=True, destination=[host]) == [
            {host: {"ok": "pool will grow"}}
        ]
        wait_until(lambda: len(worker.child_pids()) == 3, timeout=20)
        control.pool_shrink(1, reply=True, destination=[host])
        wait_until(lambda: len(worker.child_pids()) == 2, timeout=20)
        reply = control.autoscale(4, 2, reply=True, destination=[host])
        assert reply == [{host: {"error": "Autoscale not enabled"}}]


def test_prefork_active_shows_stamps_and_revoke_by_them_terminates(tmp_path: Path) -> None:
    """Celery's stamping example (``revoke_example.run_then_revoke``): the running task
    whose stamps match is terminated in its prefork child."""
    body = """
    @app.task
    def nap(seconds):
        time.sleep(seconds)
        return seconds
    """
    with Project(tmp_path, body) as project:
        worker = project.start_worker(pool="prefork", concurrency=1, name="st")
        producer = project.producer()
        sig = producer.signature("tasks.nap", (60,))
        sig.stamp(mystamp="I am a stamp!")
        running = sig.apply_async()
        host = worker.lines(r"ready\.")[0].split("]")[-1].split()[0]

        def active() -> list[dict[str, Any]]:
            found = (producer.control.inspect(destination=[host]).active() or {}).get(host)
            return list(found or [])

        wait_until(lambda: bool(active()), timeout=20)
        [task] = active()
        assert task["id"] == running.id
        assert task["stamps"] == {"mystamp": "I am a stamp!"}
        assert task["stamped_headers"] == ["mystamp"]
        reply = producer.control.revoke_by_stamped_headers(
            {"mystamp": "I am a stamp!"}, terminate=True, reply=True, destination=[host]
        )
        assert reply and "not terminated" not in str(reply), reply
        with pytest.raises(Exception, match=r"(?i)revoked|terminated"):
            running.get(timeout=20)
        assert not active()
