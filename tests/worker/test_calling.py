"""apply_async options as a worker sees them: eta, expires, priority, routing, headers, ids."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from celeriac.exceptions import BrokerError, MessageTooLarge, TaskRevokedError
from helpers.services import transports_except

pytestmark = pytest.mark.timeout(30)


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_eta_runs_no_sooner(app, worker):
    @app.task
    def when() -> float:
        return time.time()

    worker(app)
    eta = datetime.now(UTC) + timedelta(seconds=1)
    result = when.apply_async(eta=eta)
    assert result.get(timeout=5) >= eta.timestamp()


def test_expired_task_is_revoked_not_run(app, worker):
    ran = threading.Event()

    @app.task
    def never() -> None:
        ran.set()

    result = never.apply_async(expires=0.1)
    past = never.apply_async(expires=datetime.now(UTC) - timedelta(seconds=1))
    time.sleep(0.2)
    worker(app)
    for handle in (result, past):
        with pytest.raises(TaskRevokedError):
            handle.get(timeout=5)
        assert handle.state == "REVOKED"
    assert not ran.is_set()


def test_expires_in_the_future_runs(app, worker):
    @app.task
    def fine() -> str:
        return "ok"

    worker(app)
    assert fine.apply_async(expires=60).get(timeout=5) == "ok"


@transports_except(
    "redis",
    reason="on Redis a lower number runs first, in kombu's priority steps 0, 3, 6, 9 "
    "(Celery's Redis layout, shared with Celery workers): docs/compatibility.md, "
    "'Priorities', and the strict xfails in tests/transports/test_contract.py",
)
def test_priority_orders_waiting_tasks_on_one_thread(app, worker):
    order: list[int] = []

    @app.task
    def mark(n: int) -> None:
        order.append(n)

    priorities = [0, 9, 3, 6, 1]
    results = [mark.apply_async((p,), priority=p) for p in priorities]
    worker(app, pool="solo", prefetch_multiplier=1)
    for result in results:
        result.get(timeout=5)
    assert order == sorted(priorities, reverse=True)


def test_task_routes_send_to_a_queue_only_its_worker_consumes(make_app, worker):
    app = make_app(task_routes={"*.report": {"queue": "reports"}, "*.mail": "mail"})

    @app.task(bind=True)
    def report(self) -> str:
        return self.request.delivery_info["routing_key"]

    @app.task(bind=True)
    def mail(self) -> str:
        return self.request.delivery_info["routing_key"]

    @app.task(bind=True)
    def plain(self) -> str:
        return self.request.delivery_info["routing_key"]

    worker(app, queues=["reports", "celery"])  # like `worker -Q reports,celery`
    assert report.delay().get(timeout=5) == "reports"
    assert plain.delay().get(timeout=5) == "celery"
    waiting = mail.delay()
    time.sleep(0.3)
    assert waiting.state == "PENDING"
    assert app.transport.queue_length("mail") == 1
    worker(app, queues=["mail"])
    assert waiting.get(timeout=5) == "mail"


def test_queue_option_and_task_queue(app, worker):
    @app.task(queue="high")
    def routed() -> str:
        return "high"

    @app.task(bind=True)
    def anywhere(self) -> str:
        return self.request.delivery_info["routing_key"]

    worker(app, queues=["high", "low"])
    assert routed.delay().get(timeout=5) == "high"
    assert anywhere.apply_async(queue="low").get(timeout=5) == "low"


def test_headers_task_id_and_shadow(app, worker):
    @app.task(bind=True)
    def echo(self) -> dict:
        return {
            "id": self.request.id,
            "tenant": self.request.headers.get("tenant"),
            "shadow": self.request.shadow,
        }

    worker(app)
    result = echo.apply_async(headers={"tenant": "acme"}, task_id="my-id-1", shadow="nice")
    assert result.id == "my-id-1"
    assert result.get(timeout=5) == {"id": "my-id-1", "tenant": "acme", "shadow": "nice"}


def test_ignore_result_stores_nothing(app, worker):
    done: list[str] = []

    @app.task
    def quiet() -> int:
        done.append("quiet")
        return 1

    @app.task(ignore_result=True)
    def always_quiet() -> int:
        done.append("always_quiet")
        return 1

    worker(app)
    results = [quiet.apply_async(ignore_result=True), always_quiet.delay()]
    wait_for(lambda: len(done) == 2)
    time.sleep(0.2)
    for result in results:
        assert result.state == "PENDING"
        assert app.backend.get(result.id) is None
        # as in Celery, the caller's result knows: get() returns None without waiting
        assert result.ignored
        assert result.get(timeout=0.01) is None
    assert not quiet.delay().ignored


def test_pickle_is_refused_unless_accepted(app, worker):
    ran = threading.Event()

    @app.task
    def stamp(value: object) -> None:
        ran.set()

    worker(app)
    result = stamp.apply_async((datetime(2024, 1, 1),), serializer="pickle")

    def parked() -> bool:
        return any(d.task_id == result.id for d in app.transport.dead_letters())

    wait_for(parked)
    (letter,) = [d for d in app.transport.dead_letters() if d.task_id == result.id]
    assert "not accepted" in letter.reason
    assert "application/x-python-serialize" in letter.reason
    assert not ran.is_set()
    assert result.state == "PENDING"


def test_pickle_runs_when_accepted(make_app, worker):
    app = make_app(accept_content=["json", "pickle"])

    @app.task
    def year(value: datetime) -> int:
        return value.year

    worker(app)
    assert year.apply_async((datetime(2024, 1, 1),), serializer="pickle").get(timeout=5) == 2024


def test_a_10_mb_argument_runs(app, worker):
    @app.task
    def size(text: str) -> int:
        return len(text)

    worker(app)
    assert size.delay("x" * 10_000_000).get(timeout=10) == 10_000_000


def test_message_above_the_maximum_size_is_refused_at_call_time(make_app):
    app = make_app(task_message_max_size=1000)

    @app.task
    def size(text: str) -> int:
        return len(text)

    with pytest.raises(MessageTooLarge, match=r"task_message_max_size \(1,000 bytes\)"):
        size.delay("x" * 2000)
    assert app.transport.queue_length("celery") == 0


def test_expires_before_the_countdown_is_due(app, worker):
    @app.task
    def late() -> int:
        return 1

    worker(app)
    with pytest.raises(TaskRevokedError):
        late.apply_async(countdown=0.4, expires=0.1).get(timeout=5)


def test_router_function_and_excluded_queues(make_app, worker):
    def router(name, args, kwargs, options, task=None, **kw):  # type: ignore[no-untyped-def]
        return {"queue": "special"} if name.endswith("special") else None

    app = make_app(task_routes=[router])

    @app.task(bind=True)
    def special(self) -> str:
        return self.request.delivery_info["routing_key"]

    @app.task(bind=True)
    def other(self) -> str:
        return self.request.delivery_info["routing_key"]

    worker(app, queues=["celery", "special", "skipped"], exclude_queues=["skipped"])
    assert special.delay().get(timeout=5) == "special"
    assert other.delay().get(timeout=5) == "celery"
    waiting = other.apply_async(queue="skipped")
    time.sleep(0.2)
    assert waiting.state == "PENDING"
    assert app.transport.queue_length("skipped") == 1


def test_immutable_callback_ignores_the_parent_result(app, worker):
    @app.task
    def collect(*args: int) -> list:
        return list(args)

    worker(app)
    result = collect.apply_async((1,), link=collect.si(9))
    assert result.get(timeout=5) == [1]
    assert result.children[0].get(timeout=5) == [9]


def _fail_once(transport, method: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Make ``transport.<method>`` raise BrokerError on its first call; returns the log."""
    original = getattr(transport, method)
    calls: list[str] = []

    def flaky(message, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(message.headers["id"])
        if len(calls) == 1:
            raise BrokerError("broker hiccup")
        return original(message, *args, **kwargs)

    setattr(transport, method, flaky)
    return calls


@pytest.mark.parametrize("transport_kind", ["memory"], indirect=True)
async def test_async_send_retries_publishing_on_a_broker_error(app, worker):
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    calls = _fail_once(app.transport, "apublish")
    result = await add.adelay(2, 3)
    assert calls == [result.id, result.id]  # failed once, sent again
    assert await result.aget(timeout=10) == 5
    calls.clear()
    with pytest.raises(BrokerError):  # retry=False: the first failure is final
        await app.asend_task(add.name, (1, 1), retry=False)
    assert len(calls) == 1


@pytest.mark.parametrize("transport_kind", ["memory"], indirect=True)
def test_sync_send_retries_publishing_on_a_broker_error(app, worker):
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    calls = _fail_once(app.transport, "publish")
    result = add.delay(2, 3)
    assert calls == [result.id, result.id]
    assert result.get(timeout=10) == 5
    calls.clear()
    with pytest.raises(BrokerError):
        app.send_task(add.name, (1, 1), retry_policy={"max_retries": 0})
    assert len(calls) == 1


def test_message_properties_given_to_apply_async_reach_the_request(app, worker):
    # Celery hands options it does not know to kombu's publish as message properties
    @app.task(bind=True)
    def properties(self) -> dict[str, object]:
        return dict(self.request.properties)

    worker(app)
    seen = properties.apply_async(app_id="1234").get(timeout=10)
    assert seen["app_id"] == "1234"


def test_soft_limit_above_the_hard_one_is_refused_at_call_time(app):
    # as Celery's apply_async: nothing is sent
    @app.task(soft_time_limit=2, time_limit=1)
    def limited() -> None:
        return None

    with pytest.raises(ValueError, match="soft_time_limit must be less than or equal"):
        limited.delay()
    assert app.transport.queue_length("celery") == 0
