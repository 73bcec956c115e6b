"""celeriac's small helper modules give Celery's answers (compared with the real ``celery``)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from celeriac import Celery, exceptions, states
from celeriac.utils import nodenames
from celeriac.utils import time as ctime

celery_time = pytest.importorskip("celery.utils.time")
pytestmark = pytest.mark.interop

NOW = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("secs", [0, 0.5, 1, 59, 61, 3600, 7200, 90000, 3 * 86400])
def test_humanize_seconds(secs: float) -> None:
    for prefix in ("", "in "):
        assert ctime.humanize_seconds(secs, prefix) == celery_time.humanize_seconds(secs, prefix)


@pytest.mark.parametrize(
    "fields",
    [{"hour": 3, "weekday": 0}, {"minute": 5}, {"weeks": 1, "hour": 0}, {"day": 1, "days": 2}],
)
def test_ffwd(fields: dict[str, int]) -> None:
    assert NOW + ctime.ffwd(**fields) == NOW + celery_time.ffwd(**fields)


def test_time_functions() -> None:
    kyiv = ZoneInfo("Europe/Kyiv")
    naive = datetime(2024, 1, 1, 12)
    for name in ("mon", "Friday", "sun"):
        assert ctime.weekday(name) == celery_time.weekday(name)
    for r in ("10/s", "100/m", "1000/h", 5, None):
        assert ctime.rate(r) == celery_time.rate(r)  # type: ignore[arg-type]
    for delta in (timedelta(days=2), timedelta(hours=2), timedelta(minutes=5), timedelta(1)):
        assert ctime.delta_resolution(NOW, delta) == celery_time.delta_resolution(NOW, delta)
    later = NOW + timedelta(minutes=10)
    got = ctime.remaining(NOW, timedelta(hours=1), now=later)
    assert got == celery_time.remaining(NOW, timedelta(hours=1), now=later)
    assert ctime.maybe_make_aware(naive) == celery_time.maybe_make_aware(naive)
    assert ctime.maybe_make_aware(naive, kyiv) == celery_time.maybe_make_aware(naive, kyiv)
    assert ctime.to_utc(naive) == celery_time.to_utc(naive)
    assert ctime.localize(NOW, kyiv) == celery_time.localize(NOW, kyiv)
    assert ctime.is_naive(naive) and not ctime.is_naive(NOW)
    assert ctime.maybe_iso8601("2024-01-01T12:00:00") == naive
    assert ctime.maybe_timedelta(3) == timedelta(seconds=3)
    assert ctime.subtract_datetimes(NOW + timedelta(hours=1), NOW) == timedelta(hours=1)
    assert ctime.add_seconds_to_datetime(NOW, 60) == NOW + timedelta(minutes=1)
    for args in ((1, 3, 100), (2, 10, 100)):
        assert ctime.get_exponential_backoff_interval(
            *args
        ) == celery_time.get_exponential_backoff_interval(*args)
    assert 0 <= ctime.get_exponential_backoff_interval(1, 5, 10, full_jitter=True) <= 10
    assert ctime.utcoffset() == celery_time.utcoffset()
    assert ctime.timezone.get_timezone("UTC") == ZoneInfo("UTC")


def test_nodenames() -> None:
    celery_nodenames = pytest.importorskip("celery.utils.nodenames")
    for value in ("w1@example.com", "example.com"):
        assert tuple(nodenames.nodesplit(value)) == tuple(celery_nodenames.nodesplit(value))
    assert nodenames.nodename("w1", "h") == "w1@h"
    assert nodenames.default_nodename("w1") == celery_nodenames.default_nodename("w1")
    assert nodenames.worker_direct("w1@h") == "w1@h.dq2"
    for template in ("/var/log/%n.log", "/run/%h.pid", "%n-%d.log", "100%%"):
        assert nodenames.node_format(template, "w1@box.example.com") == (
            celery_nodenames.node_format(template, "w1@box.example.com")
        )
    assert nodenames.anon_nodename("h").endswith("@h")


def test_states_compare_by_precedence() -> None:
    celery_states = pytest.importorskip("celery.states")
    names = [states.PENDING, states.STARTED, states.SUCCESS, states.FAILURE, "PROGRESS"]
    for a in names:
        for b in names:
            assert (states.state(a) < states.state(b)) == (
                celery_states.state(a) < celery_states.state(b)
            ), (a, b)


def test_exception_hierarchy_is_celerys() -> None:
    celery_exc = pytest.importorskip("celery.exceptions")
    for name in ("Retry", "Ignore", "Reject"):
        assert issubclass(getattr(exceptions, name), exceptions.TaskPredicate)
    pairs = {
        "AlreadyRegistered": "TaskError",
        "IncompleteStream": "TaskError",
        "SecurityError": "CeleryError",
        "BackendGetMetaError": "BackendError",
        "BackendStoreError": "BackendError",
        "DuplicateNodenameWarning": "CeleryWarning",
        "SecurityWarning": "CeleryWarning",
    }
    for name, base in pairs.items():
        assert issubclass(getattr(exceptions, name), getattr(exceptions, base)), name
        assert issubclass(getattr(celery_exc, name), getattr(celery_exc, base)), name
    assert issubclass(exceptions.CeleryWarning, UserWarning)
    err = exceptions.BackendStoreError("no", state="SUCCESS", task_id="t1")
    assert repr(err).endswith("state:SUCCESS task_id:t1")
    assert exceptions.CeleryCommandException("bad", 3).exit_code == 3
    with pytest.raises(KeyError):
        exceptions.reraise(KeyError, KeyError("x"))
    assert "exit_code" in inspect.signature(exceptions.CeleryCommandException).parameters


def test_state_module_and_finalize_callbacks() -> None:
    from celeriac import _state

    seen: list[Celery] = []
    _state.connect_on_app_finalize(seen.append)
    app = Celery("fin", broker="memory://", set_as_current=False)
    app.finalize()
    assert app in seen
    assert _state.get_current_worker_task() is None
    _state.set_default_app(app)
    assert _state.get_current_app() is app


def test_app_helpers() -> None:
    app = Celery("proj", broker="memory://", set_as_current=False, timezone="Europe/Kyiv")
    assert app.timezone == ZoneInfo("Europe/Kyiv") and not app.uses_utc_timezone()
    assert app.gen_task_name("add", "__main__") == "proj.add"
    sig = app.signature("proj.add", (1, 2))
    assert sig.task == "proj.add" and list(sig.args) == [1, 2]
    assert app.oid == app.oid and app.thread_oid == app.thread_oid
    worker = app.Worker(hostname="w9@%h", pool="threads", concurrency=2, loglevel="info")
    assert worker.options.pool == "threads" and worker.options.concurrency == 2
    assert worker.hostname.startswith("w9@")
    assert set(app.steps) == {"worker", "consumer"} and "worker" in app.user_options


def test_sysinfo() -> None:
    celery_sysinfo = pytest.importorskip("celery.utils.sysinfo")
    from celeriac.utils import sysinfo

    assert tuple(sysinfo.cpu_budget()) == tuple(celery_sysinfo.cpu_budget())
    assert sysinfo.available_cpu_count() == celery_sysinfo.available_cpu_count()
    assert sysinfo.cgroup_cpu_quota() == celery_sysinfo.cgroup_cpu_quota()
    assert sysinfo.is_auto_concurrency(" Auto ") and not sysinfo.is_auto_concurrency(4)
    assert sysinfo.df("/").capacity == celery_sysinfo.df("/").capacity
    assert len(sysinfo.load_average()) == 3


def test_app_amqp_queues() -> None:
    app = Celery("q", broker="memory://", set_as_current=False, task_default_queue="jobs")
    assert set(app.amqp.queues) == {"jobs"}


def test_inert_settings_are_named_at_startup() -> None:
    from celeriac.worker.checks import startup_warnings

    app = Celery("inert", broker="memory://", backend="memory://", set_as_current=False)

    @app.task
    def noop() -> None:
        return None

    assert startup_warnings(app, ["celery"]) == []
    app.conf.task_remote_tracebacks = True
    app.conf.task_protocol = 1
    (line,) = startup_warnings(app, ["celery"])
    assert "no effect in celeriac: task_remote_tracebacks, task_protocol" in line


def test_ensure_chords_allowed() -> None:
    from celeriac.exceptions import ImproperlyConfigured

    Celery("c", broker="memory://", backend="memory://").backend.ensure_chords_allowed()
    disabled = Celery("d", broker="memory://", backend="disabled://", set_as_current=False)
    with pytest.raises(ImproperlyConfigured, match="chord counters"):
        disabled.backend.ensure_chords_allowed()
