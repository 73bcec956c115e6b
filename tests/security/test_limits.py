"""Limits on what a worker accepts: size, argument count, canvas depth, held bytes.

A message over a limit is dead-lettered with the reason and not run; the rest run.
"""

from __future__ import annotations

from celeriac.protocol.message import Message
from celeriac.security.limits import MessageLimits, canvas_depth
from celeriac.transports.base import Delivery
from celeriac.worker.held_budget import HeldBudget
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory


def _nested(depth: int) -> dict[str, object]:
    sig: dict[str, object] = {"task": "t.echo", "args": ["leaf"], "kwargs": {}, "options": {}}
    for _ in range(depth - 1):
        sig = {"task": "t.echo", "args": ["x"], "kwargs": {}, "options": {"link": [sig]}}
    return sig


def test_canvas_depth_counts_signature_nesting() -> None:
    assert canvas_depth(None, [], None) == 0
    assert canvas_depth([_nested(1), _nested(1)]) == 1
    assert canvas_depth([_nested(5)]) == 5
    assert canvas_depth({"task": "c", "options": {}, "kwargs": {"body": _nested(3)}}) == 4
    # deep but not recursive: no RecursionError
    deep: object = []
    for _ in range(100_000):
        deep = [deep]
    assert canvas_depth(deep) == 0


def test_size_limit_on_consume() -> None:
    limits = MessageLimits(max_size=10)
    assert limits.check_message(Message(body=b"x" * 10)) is None
    reason = limits.check_message(Message(body=b"x" * 11))
    assert reason == "message too large: 11 bytes, more than task_message_max_size (10 bytes)"


def test_worker_dead_letters_messages_over_limits(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app(task_message_max_size=2000, task_max_args=5, task_max_canvas_depth=8)
    producer = make_app(task_message_max_size=10_000_000)
    ran: list[object] = []

    @app.task(name="t.echo")
    def echo(*args: object, **kwargs: object) -> int:
        ran.append(args[0] if args else None)
        return len(args) + len(kwargs)

    ok = producer.send_task("t.echo", ("ok",))
    producer.send_task("t.echo", ("big", "x" * 5000))
    producer.send_task("t.echo", ("many", 1, 2, 3), {"a": 1, "b": 2})
    producer.send_task("t.echo", ("deep",), link=_nested(9))
    fine = producer.send_task("t.echo", ("fine-depth",), link=_nested(7))
    worker(app)
    assert ok.get(timeout=10) == 1
    assert fine.get(timeout=10) == 1
    letters = wait_until(
        lambda: (found := app.transport.dead_letters()) and len(found) >= 3 and found,
        timeout=10,
        message="three dead letters",
    )
    reasons = sorted(letter.reason for letter in letters)
    assert len(reasons) == 3
    assert reasons[0] == "canvas nested too deeply: 9 levels, more than task_max_canvas_depth (8)"
    assert reasons[1].startswith("message too large: ")
    assert reasons[2] == "too many arguments: 6, more than task_max_args (5)"
    assert {"ok", "fine-depth"} <= set(ran)
    assert not {"big", "many", "deep"} & set(ran)


def _delivery(tag: str, size: int) -> Delivery:
    return Delivery(Message(body=b"x" * size), "q", tag)


def test_held_budget_wakes_the_fetch_loop() -> None:
    woke: list[bool] = []
    budget = HeldBudget(100, on_room=lambda: woke.append(True))
    a, b = _delivery("a", 60), _delivery("b", 60)
    budget.add(a)
    assert not budget.full
    budget.add(b)
    assert budget.full and budget.bytes == 120
    budget.remove(a)
    assert not budget.full and budget.bytes == 60 and woke == [True]
    budget.clear()
    assert budget.bytes == 0 and not budget.full


def test_worker_with_a_small_held_budget_still_drains(
    make_app: AppFactory, worker: WorkerFactory
) -> None:
    app = make_app(worker_max_held_bytes=1500)

    @app.task(name="t.echo")
    def echo(text: str) -> str:
        return text

    results = [app.send_task("t.echo", ("y" * 400,)) for _ in range(20)]
    worker(app, concurrency=4)
    assert [r.get(timeout=20) for r in results] == ["y" * 400] * 20
