"""Retries on a worker: ``self.retry`` (countdown, max_retries, exc) and ``autoretry_for``."""

from __future__ import annotations

import itertools
import time

import pytest

from celeriac.exceptions import MaxRetriesExceededError
from celeriac.protocol.task_message import TaskMessage, encode

pytestmark = pytest.mark.timeout(30)


class Flaky(Exception):
    pass


def test_retry_with_countdown_then_succeed(app, worker):
    attempts: list[tuple[int, float]] = []

    @app.task(bind=True)
    def flaky(self, n: int) -> int:
        attempts.append((self.request.retries, time.monotonic()))
        if self.request.retries < 2:
            raise self.retry(countdown=0.3)
        return n * 10

    worker(app)
    result = flaky.delay(4)
    assert result.get(timeout=5) == 40
    assert [retries for retries, _ in attempts] == [0, 1, 2]
    assert attempts[1][1] - attempts[0][1] >= 0.25
    assert result.id  # the retried runs kept the id: get() above saw the final run


def test_retry_changes_args(app, worker):
    @app.task(bind=True)
    def countdown(self, n: int) -> int:
        if n > 0:
            raise self.retry(args=(n - 1,), countdown=0, max_retries=5)
        return self.request.retries

    worker(app)
    assert countdown.delay(3).get(timeout=5) == 3


def test_retry_state_is_visible_between_attempts(app, worker):
    @app.task(bind=True, default_retry_delay=0.5)
    def slow_retry(self) -> str:
        if not self.request.retries:
            raise self.retry(exc=Flaky("first"))
        return "done"

    worker(app)
    result = slow_retry.delay()
    deadline = time.monotonic() + 3
    while result.state != "RETRY":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert isinstance(result.info, Flaky)
    assert result.get(timeout=5) == "done"


def test_max_retries_exceeded(app, worker):
    @app.task(bind=True, max_retries=2)
    def hopeless(self) -> None:
        raise self.retry(countdown=0)

    worker(app)
    result = hopeless.delay()
    with pytest.raises(MaxRetriesExceededError):
        result.get(timeout=5)
    assert result.state == "FAILURE"


def test_max_retries_exceeded_reraises_the_given_exc(app, worker):
    calls: list[int] = []

    @app.task(bind=True, max_retries=1)
    def hopeless(self) -> None:
        calls.append(self.request.retries)
        raise self.retry(exc=Flaky(f"try {self.request.retries}"), countdown=0)

    worker(app)
    with pytest.raises(Flaky, match="try 1"):
        hopeless.delay().get(timeout=5)
    assert calls == [0, 1]


def test_autoretry_for_with_retry_kwargs(app, worker):
    calls: list[int] = []

    @app.task(bind=True, autoretry_for=(Flaky,), retry_kwargs={"max_retries": 3, "countdown": 0})
    def sometimes(self) -> int:
        calls.append(self.request.retries)
        if self.request.retries < 2:
            raise Flaky("again")
        return self.request.retries

    worker(app)
    assert sometimes.delay().get(timeout=5) == 2
    assert calls == [0, 1, 2]


def test_autoretry_gives_up_with_the_original_exception(app, worker):
    calls: list[int] = []

    @app.task(bind=True, autoretry_for=(Flaky,), retry_kwargs={"max_retries": 2, "countdown": 0})
    def never(self) -> None:
        calls.append(self.request.retries)
        raise Flaky("still broken")

    @app.task(autoretry_for=(Flaky,), retry_kwargs={"countdown": 0})
    def other_error() -> None:
        raise KeyError("not retried")

    worker(app)
    with pytest.raises(Flaky, match="still broken"):
        never.delay().get(timeout=5)
    assert calls == [0, 1, 2]
    with pytest.raises(KeyError):
        other_error.delay().get(timeout=5)


def test_autoretry_backoff_and_jitter(app, worker):
    times: list[float] = []

    @app.task(
        bind=True, autoretry_for=(Flaky,), retry_backoff=0.2, retry_jitter=False, max_retries=2
    )
    def backing_off(self) -> int:
        times.append(time.monotonic())
        if self.request.retries < 2:
            raise Flaky()
        return len(times)

    worker(app)
    assert backing_off.delay().get(timeout=5) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38  # 0.2 x 2**0, then 0.2 x 2**1


def test_retry_backoff_delays(app):
    @app.task(retry_backoff=True, retry_backoff_max=5, retry_jitter=False)
    def exact() -> None: ...

    @app.task(retry_backoff=2, retry_jitter=True)
    def jittered() -> None: ...

    assert [exact.retry_delay_for(n) for n in range(5)] == [1, 2, 4, 5, 5]
    delays = [jittered.retry_delay_for(3) for _ in range(50)]
    assert all(0 <= d <= 16 for d in delays) and len(set(delays)) > 1


def test_retry_keeps_headers_parent_and_root(app, worker):
    @app.task(bind=True)
    def leaf(self) -> list:
        if not self.request.retries:
            raise self.retry(countdown=0)
        r = self.request
        return [r.headers.get("tenant"), r.parent_id, r.root_id, r.retries]

    @app.task(bind=True)
    def top(self) -> str:
        return leaf.apply_async(headers={"tenant": "acme"}).id

    worker(app)
    parent = top.delay()
    leaf_id = parent.get(timeout=5)
    assert app.AsyncResult(leaf_id).get(timeout=5) == ["acme", parent.id, parent.id, 1]


def test_a_retry_is_a_copy_of_the_message(app, worker):
    """Every field of the message survives a retry (it is a copy with retries + 1):
    stamps, the sender's reply_to, custom headers, origin, a sender's own argsrepr."""
    seen: list[tuple] = []

    @app.task(bind=True, max_retries=1)
    def once_more(self, x: int) -> int:
        r = self.request
        seen.append(
            (
                r.retries,
                r.stamps,
                r.stamped_headers,
                r.replaced_task_nesting,
                r.reply_to,
                r.headers.get("x-keep"),
                r.origin,
                r.argsrepr,
                r.shadow,
            )
        )
        if not r.retries:
            raise self.retry(countdown=0)
        return x

    message = TaskMessage(
        id="copy-1",
        name=once_more.name,
        args=[5],
        stamps={"s": "v"},
        stamped_headers=["s"],
        replaced_task_nesting=1,
        reply_to="the-sender",
        headers={"x-keep": "yes"},
        origin="gen1@elsewhere",
        argsrepr="<hidden>",
        shadow="alias",
    )
    app.transport.publish(encode(message), "celery")
    worker(app)
    assert app.AsyncResult("copy-1").get(timeout=10) == 5
    first, second = seen
    assert (first[0], second[0]) == (0, 1)
    assert (
        first[1:]
        == second[1:]
        == (
            {"s": "v"},
            ["s"],
            1,
            "the-sender",
            "yes",
            "gen1@elsewhere",
            "<hidden>",
            "alias",
        )
    )


def test_retry_options_override_the_call(app, worker):
    @app.task(bind=True)
    def move(self) -> list:
        if not self.request.retries:
            raise self.retry(countdown=0, queue="second", priority=7, headers={"why": "moved"})
        r = self.request
        return [r.delivery_info["routing_key"], r.headers.get("why"), r.priority]

    worker(app, queues=["celery", "second"])
    assert move.delay().get(timeout=5) == ["second", "moved", 7]


def test_async_task_retries(app, worker):
    @app.task(bind=True, autoretry_for=(KeyError,), retry_kwargs={"countdown": 0})
    async def auto(self) -> int:
        if self.request.retries < 2:
            raise KeyError("again")
        return self.request.retries

    @app.task(bind=True)
    async def manual(self) -> str:
        if not self.request.retries:
            raise self.retry(countdown=0)
        return "ok"

    worker(app)
    assert auto.delay().get(timeout=5) == 2
    assert manual.delay().get(timeout=5) == "ok"


def test_retry_state_is_stored_before_the_next_run_starts(app, worker):
    # Written later, a RETRY could land after (and hide) the next run's final FAILURE.
    @app.task(bind=True, max_retries=1)
    def hopeless(self) -> None:
        seen.append(app.backend.get(self.request.id))
        raise self.retry(countdown=0)

    seen: list = []
    worker(app, concurrency=4)
    result = hopeless.delay()
    with pytest.raises(MaxRetriesExceededError):
        result.get(timeout=5)
    assert seen[0] is None and seen[1]["status"] == "RETRY"
    assert app.AsyncResult(result.id).state == "FAILURE"


def test_retry_keeps_the_callers_ignore_result(app, worker):
    # as Celery 5.7: the caller's ignore_result wins over the task's, for every retry too;
    # an ignored task's RETRY state is not stored either
    runs: list[str] = []

    @app.task(bind=True, ignore_result=True)
    def quiet(self) -> int:
        runs.append(self.request.id)
        if not self.request.retries:
            raise self.retry(countdown=0)
        return self.request.retries

    @app.task(bind=True, ignore_result=False)
    def loud(self) -> int:
        runs.append(self.request.id)
        if not self.request.retries:
            raise self.retry(countdown=0)
        return self.request.retries

    worker(app)
    stored = quiet.apply_async(ignore_result=False)
    assert stored.get(timeout=10) == 1
    ignored = loud.apply_async(ignore_result=True)
    deadline = time.monotonic() + 10
    while runs.count(ignored.id) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert runs.count(ignored.id) == 2
    assert app.backend.get(ignored.id) is None  # neither RETRY nor SUCCESS


def test_a_task_sent_by_name_leaves_ignore_result_to_the_task(app):
    message, _, _ = app.prepare_task_message("unknown.task", (), {})
    assert message.headers["ignore_result"] is None
    given, _, _ = app.prepare_task_message("unknown.task", (), {}, ignore_result=False)
    assert given.headers["ignore_result"] is False
