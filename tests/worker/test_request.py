"""What a running task sees: ``self.request``, ``current_task`` and ``current_app``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from celeriac import Task, current_app, current_task, group

pytestmark = pytest.mark.timeout(30)


def test_bound_task_request_fields(app, worker):
    @app.task(bind=True)
    def inspect_request(self, x: int, *, y: int) -> dict:
        r = self.request
        return {
            "id": r.id,
            "task": r.task,
            "args": r.args,
            "kwargs": r.kwargs,
            "retries": r.retries,
            "hostname": r.hostname,
            "eager": r.is_eager,
            "queue": r.delivery_info.get("routing_key"),
            "root_id": r.root_id,
            "parent_id": r.parent_id,
            "group": r.group,
            "called_directly": r.called_directly,
        }

    controller = worker(app, hostname="node-a@%h")
    result = inspect_request.delay(1, y=2)
    seen = result.get(timeout=5)
    assert seen == {
        "id": result.id,
        "task": inspect_request.name,
        "args": [1],
        "kwargs": {"y": 2},
        "retries": 0,
        "hostname": controller.hostname,
        "eager": False,
        "queue": "celery",
        "root_id": result.id,
        "parent_id": None,
        "group": None,
        "called_directly": False,
    }
    assert controller.hostname.startswith("node-a@") and "%h" not in controller.hostname


def test_task_sent_from_a_task_records_root_and_parent(app, worker):
    @app.task(bind=True)
    def leaf(self) -> tuple:
        return self.request.root_id, self.request.parent_id

    @app.task(bind=True)
    def middle(self) -> str:
        return leaf.delay().id

    @app.task(bind=True)
    def top(self) -> str:
        return middle.delay().id

    worker(app, concurrency=3)
    root = top.delay()
    middle_id = root.get(timeout=5)
    leaf_id = app.AsyncResult(middle_id).get(timeout=5)
    assert tuple(app.AsyncResult(leaf_id).get(timeout=5)) == (root.id, middle_id)


def test_group_members_know_their_group(app, worker):
    @app.task(bind=True)
    def member(self, n: int) -> list:
        return [self.request.group, self.request.group_index, n]

    worker(app)
    result = group(member.s(n) for n in range(3))()
    assert result.get(timeout=5) == [[result.id, n, n] for n in range(3)]


def test_current_task_and_current_app_inside_a_task(app, worker):
    @app.task
    def who() -> list:
        return [current_task.name, current_task.request.id, current_app.main]

    worker(app)
    result = who.delay()
    assert result.get(timeout=5) == [who.name, result.id, app.main]


async def test_current_task_inside_an_async_task(app, worker):
    @app.task(bind=True)
    async def who(self) -> list:
        return [current_task.name, self.request.id, self.request.hostname]

    controller = worker(app)
    result = await who.adelay()
    assert await result.aget(timeout=5) == [who.name, result.id, controller.hostname]


def test_calling_a_task_directly_runs_it_here(app):
    @app.task(bind=True)
    def direct(self, x: int) -> list:
        return [x, self.request.called_directly, self.request.args]

    assert direct(3) == [3, True, [3]]


def test_task_called_directly_inside_a_task_gets_its_own_request(app, worker):
    @app.task(bind=True)
    def inner(self, x: int) -> list:
        sent = leaf.delay()
        return [self.request.args, self.request.id, self.request.called_directly, sent.id]

    @app.task(bind=True)
    def leaf(self) -> str | None:
        return self.request.parent_id

    @app.task
    def outer(y: int) -> list:
        return inner(5)

    worker(app)
    result = outer.delay(1)
    args, inner_id, directly, leaf_id = result.get(timeout=5)
    assert (args, inner_id, directly) == ([5], None, True)
    assert app.AsyncResult(leaf_id).get(timeout=5) == result.id  # the worker task is the parent


def test_overridden_call_runs_on_the_worker_with_the_request(app, worker):
    entered: list[str | None] = []

    class AroundEachTask(Task):  # type: ignore[type-arg]
        def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            entered.append(self.request.id)
            return super().__call__(*args, **kwargs)

    @app.task(base=AroundEachTask, bind=True)
    def sync_task(self, x: int) -> list:
        return [x, self.request.id, self.request.called_directly]

    @app.task(base=AroundEachTask, bind=True)
    async def async_task(self, x: int) -> list:
        return [x, self.request.id, self.request.called_directly]

    worker(app)
    first, second = sync_task.delay(3), async_task.delay(4)
    assert first.get(timeout=5) == [3, first.id, False]
    assert second.get(timeout=5) == [4, second.id, False]
    assert sorted(entered) == sorted([first.id, second.id])
    assert sync_task.apply((1,)).get()[0] == 1


def test_eta_expires_and_delivery_info_in_the_request(app, worker):
    @app.task(bind=True)
    def when(self) -> list:
        r = self.request
        return [r.eta.isoformat(), r.expires.isoformat(), r.delivery_info, r.priority]

    worker(app)
    eta = datetime.now(UTC) + timedelta(seconds=0.2)
    expires = datetime.now(UTC) + timedelta(seconds=60)
    seen = when.apply_async(eta=eta, expires=expires, priority=3).get(timeout=5)
    assert seen[:2] == [eta.isoformat(), expires.isoformat()]
    assert seen[2]["routing_key"] == "celery" and seen[2]["priority"] == 3
    assert seen[2]["redelivered"] is False
    assert seen[3] == 3
