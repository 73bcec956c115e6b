"""The scheduler in one process: firing, persistence across restarts, missed runs,
dynamic entries, the leader lock and its fence, and Celery's configuration shapes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.beat.lock import LeaderLock
from celeriac.beat.scheduler import LostLeadership, PersistentScheduler, Scheduler
from celeriac.beat.service import Beat, scheduler_class
from celeriac.beat.stores import BrokerStore, EntryState, FileStore, MemoryStore
from celeriac.protocol.envelope import loads_envelope
from celeriac.schedules import crontab, schedule

T0 = datetime(2024, 5, 15, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def app() -> Iterator[Celery]:
    url = f"memory://beat-{uuid.uuid4().hex}"
    app = Celery("beat_tests", broker=url, backend="memory://", set_as_current=False)

    @app.task(name="tasks.tick")
    def tick(x: int = 0) -> int:
        return x

    yield app
    app.close()


def sent(app: Celery, queue: str = "celery") -> int:
    return app.transport.queue_length(queue)


def messages(app: Celery, queue: str = "celery") -> list[dict[str, object]]:
    broker = app.transport._broker  # type: ignore[attr-defined]
    heap = broker.ready.get(queue, [])
    return [loads_envelope(entry.payload).headers for _, _, entry in sorted(heap)]


def test_interval_entry_fires_each_period(app: Celery) -> None:
    app.conf.beat_schedule = {"every-10": {"task": "tasks.tick", "schedule": 10.0, "args": (1,)}}
    sched = Scheduler(app, stores=[MemoryStore()], max_interval=60)
    sched.setup_schedule()
    assert sched.tick(T0) == 10.0  # first run one interval after start, as in Celery
    assert sent(app) == 0
    assert sched.tick(T0 + timedelta(seconds=10)) == 0  # sent one: call again at once
    assert sent(app) == 1
    assert sched.tick(T0 + timedelta(seconds=10)) == 10.0
    for n in range(1, 60):
        sched.tick(T0 + timedelta(seconds=10 + 10 * n))
    assert sent(app) == 60
    assert sched.schedule["every-10"].total_run_count == 60


def test_added_entry_keeps_its_last_run_and_task_id(app: Celery) -> None:
    # Celery's add(**entry fields): the last run given counts, the task_id option is used
    sched = Scheduler(app, lazy=True)
    entry = sched.add(
        name="e",
        task="tasks.tick",
        schedule=timedelta(minutes=5),
        last_run_at=T0 - timedelta(minutes=4),
        options={"task_id": "run-1"},
    )
    assert sched.tick(T0) == 60.0
    assert sched.tick(T0 + timedelta(minutes=1)) == 0
    (headers,) = messages(app)
    assert headers["id"] == "run-1"
    assert sched.schedule["e"].total_run_count == 1
    assert sched.schedule["e"].last_run_at == T0 + timedelta(minutes=1)
    sched.schedule[entry.name].options["task_id"] = "run-2"  # type: ignore[index]
    sched.tick(T0 + timedelta(minutes=6))
    assert [h["id"] for h in messages(app)] == ["run-1", "run-2"]


def test_tick_sleeps_at_most_max_interval(app: Celery) -> None:
    app.conf.beat_schedule = {"daily": {"task": "tasks.tick", "schedule": crontab(0, 0)}}
    sched = Scheduler(app, stores=[MemoryStore()], max_interval=5)
    sched.setup_schedule()
    assert sched.tick(T0) == 5


def test_options_reach_the_message(app: Celery) -> None:
    app.conf.beat_schedule = {
        "routed": {
            "task": "tasks.tick",
            "schedule": timedelta(seconds=1),
            "kwargs": {"x": 3},
            "options": {"queue": "main_worker", "priority": 7, "headers": {"h": "v"}},
        }
    }
    sched = Scheduler(app, stores=[MemoryStore()])
    sched.setup_schedule()
    sched.tick(T0)
    sched.tick(T0 + timedelta(seconds=1))
    assert sent(app, "main_worker") == 1 and sent(app) == 0
    (headers,) = messages(app, "main_worker")
    assert headers["task"] == "tasks.tick" and headers.get("h") == "v"


def test_restart_does_not_repeat_a_run(app: Celery, tmp_path: Path) -> None:
    path = str(tmp_path / "celerybeat-schedule")
    app.conf.beat_schedule = {"m": {"task": "tasks.tick", "schedule": crontab(minute="*")}}
    first = PersistentScheduler(app, stores=[FileStore(path)])
    first.setup_schedule()
    first.tick(T0 + timedelta(seconds=5))
    first.tick(T0 + timedelta(seconds=60))  # 10:01 fires
    assert sent(app) == 1
    first.close()
    second = PersistentScheduler(app, stores=[FileStore(path)])
    second.setup_schedule()
    assert second.tick(T0 + timedelta(seconds=61)) == pytest.approx(59)
    assert sent(app) == 1  # 10:01 is not sent again
    second.tick(T0 + timedelta(seconds=120))
    assert sent(app) == 2
    assert second.schedule["m"].total_run_count == 2
    second.close()


@pytest.mark.parametrize(("policy", "expected"), [("run_once", 1), ("skip", 0)])
def test_missed_runs(app: Celery, tmp_path: Path, policy: str, expected: int) -> None:
    path = str(tmp_path / "schedule")
    app.conf.beat_schedule = {"m": {"task": "tasks.tick", "schedule": crontab(minute="*")}}
    first = PersistentScheduler(app, stores=[FileStore(path)])
    first.setup_schedule()
    first.tick(T0)
    first.close()
    # beat was down for an hour: 60 runs were missed
    later = PersistentScheduler(app, stores=[FileStore(path)], missed_run_policy=policy)
    later.setup_schedule()
    later.tick(T0 + timedelta(hours=1, seconds=30))
    assert sent(app) == expected  # never 60
    later.tick(T0 + timedelta(hours=1, seconds=60))
    assert sent(app) == expected + 1


def test_cron_starting_deadline_skips_stale_runs(app: Celery) -> None:
    app.conf.beat_cron_starting_deadline = 120
    store = MemoryStore()
    store.states["daily"] = EntryState(T0 - timedelta(days=1))
    app.conf.beat_schedule = {"daily": {"task": "tasks.tick", "schedule": crontab(0, 9)}}
    sched = Scheduler(app, stores=[store])
    sched.setup_schedule()
    sched.tick(T0)  # 09:00 today was missed an hour ago: outside the deadline
    assert sent(app) == 0
    store.states["daily"] = EntryState(T0 - timedelta(days=1))
    again = Scheduler(app, stores=[store])
    again.setup_schedule()
    again.tick(T0.replace(hour=9, minute=1))  # a minute late: within the deadline
    assert sent(app) == 1


def test_pending_run_is_logged_not_resent(app: Celery, caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    store.states["m"] = EntryState(T0, 4, pending="abc")  # died between record and publish
    app.conf.beat_schedule = {"m": {"task": "tasks.tick", "schedule": 60}}
    sched = Scheduler(app, stores=[store])
    sched.setup_schedule()
    with caplog.at_level(logging.WARNING):
        sched.tick(T0 + timedelta(seconds=1))
    assert sent(app) == 0
    assert "may not have been sent" in caplog.text and "abc" in caplog.text
    assert store.states["m"].pending is None


def test_dynamic_add_update_remove(app: Celery) -> None:
    sched = Scheduler(app, stores=[MemoryStore()], max_interval=300)
    sched.setup_schedule()
    assert sched.tick(T0) == 300
    sched.add("new", "tasks.tick", 5.0, args=(2,))
    assert sched.changed.is_set()
    assert sched.tick(T0 + timedelta(seconds=1)) == 5  # counted from the tick that saw it
    sched.tick(T0 + timedelta(seconds=6))
    assert sent(app) == 1
    sched.update("new", schedule=schedule(timedelta(seconds=20)))
    sched.tick(T0 + timedelta(seconds=11))
    assert sent(app) == 1  # the old 5 s slot is gone
    sched.tick(T0 + timedelta(seconds=26))  # 20 s after the last run
    assert sent(app) == 2
    assert sched.remove("new") and not sched.remove("new")
    sched.tick(T0 + timedelta(hours=1))
    assert sent(app) == 2
    with pytest.raises(KeyError):
        sched.update("missing", args=(1,))


def test_add_periodic_task_and_app_signals(app: Celery) -> None:
    calls: list[str] = []

    @app.on_after_configure.connect
    def setup(sender: Celery, **kwargs: object) -> None:
        calls.append("configure")
        sender.add_periodic_task(10.0, app.tasks["tasks.tick"].s(1), name="add every 10")
        sender.add_periodic_task(
            crontab(hour=7, minute=30, day_of_week=1),
            app.tasks["tasks.tick"].s(2),
            expires=30,
        )

    @app.on_after_finalize.connect
    def finalized(sender: Celery, **kwargs: object) -> None:
        calls.append("finalize")

    app.finalize()
    assert calls == ["configure", "finalize"]
    sched = Scheduler(app, stores=[MemoryStore()])
    sched.setup_schedule()
    entries = sched.schedule
    assert entries["add every 10"].args == (1,)
    other = next(e for name, e in entries.items() if name != "add every 10")
    assert other.options["expires"] == 30 and other.args == (2,)


def test_bad_entries_are_named(app: Celery) -> None:
    app.conf.beat_schedule = {"broken": {"task": "tasks.tick"}}
    with pytest.raises(ValueError, match=r"broken.*'task' and 'schedule'"):
        Scheduler(app, stores=[]).setup_schedule()
    app.conf.beat_schedule = {"typo": {"task": "t", "schedule": 1, "kwarg": {}}}
    with pytest.raises(ValueError, match="unknown keys"):
        Scheduler(app, stores=[]).setup_schedule()
    app.conf.beat_schedule = {"bad": {"task": "t", "schedule": "often"}}
    with pytest.raises(TypeError, match="a schedule must be"):
        Scheduler(app, stores=[]).setup_schedule()


def test_scheduler_class_names() -> None:
    assert scheduler_class("celery.beat:PersistentScheduler") is PersistentScheduler
    assert scheduler_class("celery.beat.PersistentScheduler") is PersistentScheduler
    assert scheduler_class(None) is PersistentScheduler
    assert scheduler_class("celeriac.beat.scheduler:Scheduler") is Scheduler
    assert scheduler_class("celeriac.beat.scheduler.Scheduler") is Scheduler
    with pytest.raises(TypeError, match="not a celeriac"):
        scheduler_class("celeriac.beat.stores:FileStore")


def test_celery_shelve_file_is_refused(app: Celery, tmp_path: Path) -> None:
    path = tmp_path / "celerybeat-schedule"
    path.write_bytes(b"\x00\x06\x15\x61" + b"not sqlite" * 100)
    from celeriac.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="Celery's shelve"):
        FileStore(str(path)).load()


# -- the leader lock -----------------------------------------------------------------------


def _sqlite_app(tmp_path: Path, name: str) -> Celery:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    app = Celery(name, broker=url, backend=url, set_as_current=False)
    app.conf.beat_schedule = {"s": {"task": "tasks.tick", "schedule": 1.0}}
    return app


def test_only_the_leader_fires_and_the_fence_stops_a_stale_leader(tmp_path: Path) -> None:
    a_app, b_app = _sqlite_app(tmp_path, "a"), _sqlite_app(tmp_path, "b")
    a = Beat(a_app, schedule_filename=str(tmp_path / "a.sched"), lock_timeout=2)
    b = Beat(b_app, schedule_filename=str(tmp_path / "b.sched"), lock_timeout=2)
    assert a.lock is not None and b.lock is not None
    for beat in (a, b):
        beat.scheduler.setup_schedule()
    assert a.lock.acquire() and not b.lock.acquire()
    a.scheduler.load_state(T0)
    a.scheduler.tick(T0 + timedelta(seconds=1))
    assert a_app.transport.queue_length("celery") == 1
    # a stalls; b takes the expired lock; a's next record is refused, so it sends nothing
    a_app.transport.release_lock(a.lock.name, a.lock.owner)
    assert b.lock.acquire()
    b.scheduler.load_state(T0 + timedelta(seconds=1, milliseconds=500))
    assert b.scheduler.schedule["s"].total_run_count == 1  # b sees a's run
    with pytest.raises(LostLeadership):
        a.scheduler.tick(T0 + timedelta(seconds=2))
    assert not a.lock.held
    b.scheduler.tick(T0 + timedelta(seconds=2))
    assert a_app.transport.queue_length("celery") == 2  # one run per period in total
    for beat, app in ((a, a_app), (b, b_app)):
        beat.scheduler.close()
        app.close()


def _lock_transports(kind: str, tmp_path: Path) -> Iterator[object]:
    if kind == "memory":
        from celeriac.transports.memory import MemoryTransport

        yield MemoryTransport(f"memory://lock-{uuid.uuid4().hex}")
    elif kind == "sqlite":
        from celeriac.transports.sqlite import SQLiteTransport

        transport = SQLiteTransport(f"sqlite:///{tmp_path / 'locks.db'}")
        yield transport
        transport.close()
    elif kind == "amqp":
        from celeriac.transports.amqp import AMQPTransport
        from celeriac.transports.base import TransportOptions
        from helpers.services import rabbitmq_url

        prefix = f"lock-{uuid.uuid4().hex[:8]}."
        transport = AMQPTransport(
            rabbitmq_url(), TransportOptions(extra={"celeriac_prefix": prefix})
        )
        yield transport
        from helpers.services import rabbitmq_delete_queues

        rabbitmq_delete_queues(rabbitmq_url(), [f"{prefix}celeriac.lock.l"])
        transport.close()
    else:
        from celeriac.transports.base import TransportOptions
        from celeriac.transports.redis import RedisTransport
        from helpers.services import redis_keyspace

        with redis_keyspace("beat") as space:
            transport = RedisTransport(
                space.url, TransportOptions(extra={"global_keyprefix": space.prefix})
            )
            yield transport
            keys = list(space.client.scan_iter(match=f"{space.prefix}*"))
            assert keys, "the lock lives under global_keyprefix"
            transport.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis", "amqp"])
def test_lock_contract(kind: str, tmp_path: Path) -> None:
    import time

    for transport in _lock_transports(kind, tmp_path):
        assert transport.acquire_lock("l", "a", 0.3)  # type: ignore[attr-defined]
        assert transport.acquire_lock("l", "a", 0.3)  # type: ignore[attr-defined]  # renew
        assert not transport.acquire_lock("l", "b", 0.3)  # type: ignore[attr-defined]
        assert transport.write_lock_state("l", "a", 0.3, {"k": "1"})  # type: ignore[attr-defined]
        assert not transport.write_lock_state("l", "b", 0.3, {"k": "2"})  # type: ignore[attr-defined]
        assert transport.read_lock_state("l") == {"k": "1"}  # type: ignore[attr-defined]
        time.sleep(0.4)  # expired: b may take it, and a may no longer write
        assert transport.acquire_lock("l", "b", 5)  # type: ignore[attr-defined]
        assert not transport.write_lock_state("l", "a", 5, {"k": "3"})  # type: ignore[attr-defined]
        transport.release_lock("l", "a")  # type: ignore[attr-defined]  # not a's: no effect
        assert not transport.acquire_lock("l", "a", 5)  # type: ignore[attr-defined]
        transport.release_lock("l", "b")  # type: ignore[attr-defined]
        assert transport.acquire_lock("l", "a", 5)  # type: ignore[attr-defined]


def test_broker_store_round_trip(app: Celery) -> None:
    lock = LeaderLock(app.transport, timeout=5)
    store = BrokerStore(lock)
    assert not store.save({"x": EntryState(T0, 1)})  # not the leader: refused
    assert lock.acquire()
    assert store.save({"x": EntryState(T0, 1, pending="id")})
    assert store.load() == {"x": EntryState(T0, 1, pending="id")}


def test_a_send_the_broker_refuses_is_retried(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    from celeriac.exceptions import BrokerError

    store = MemoryStore()
    app.conf.beat_schedule = {"m": {"task": "tasks.tick", "schedule": 10}}
    sched = Scheduler(app, stores=[store])
    sched.setup_schedule()
    sched.tick(T0)
    real_send = app.send_task

    def refuse(*args: object, **kwargs: object) -> None:
        raise BrokerError("broker down")

    monkeypatch.setattr(app, "send_task", refuse)
    with pytest.raises(BrokerError):
        sched.tick(T0 + timedelta(seconds=10))
    assert store.states["m"] == EntryState(T0, 0)  # the record was taken back
    monkeypatch.setattr(app, "send_task", real_send)
    sched.tick(T0 + timedelta(seconds=11))  # due again at the next tick
    assert sent(app) == 1
    assert sched.schedule["m"].total_run_count == 1


def test_entries_due_together_are_recorded_in_batches(app: Celery) -> None:
    from celeriac.beat.scheduler import FIRE_BATCH

    class CountingStore(MemoryStore):
        writes = 0

        def save(self, states: object) -> bool:  # type: ignore[override]
            CountingStore.writes += 1
            return super().save(states)  # type: ignore[arg-type]

    count = FIRE_BATCH * 2 + 500
    app.conf.beat_schedule = {
        f"e{n}": {"task": "tasks.tick", "schedule": crontab(minute="*")} for n in range(count)
    }
    store = CountingStore()
    sched = Scheduler(app, stores=[store])
    sched.setup_schedule()
    sched.tick(T0 + timedelta(seconds=5))
    CountingStore.writes = 0
    delays = [sched.tick(T0 + timedelta(seconds=60)) for _ in range(4)]
    assert sent(app) == count
    assert delays == [0.0, 0.0, 0.0, 60]  # a tick that sent asks for the next at once
    assert CountingStore.writes == 6  # per batch: one record and one confirmation
