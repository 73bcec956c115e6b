"""Process-level reliability: real worker subprocesses on a SQLite file and on Redis, no mocks."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.processes import (
    PROCESS_TRANSPORTS,
    Project,
    WorkerProcess,
    pids_of,
    project_on,
    wait_until,
)
from helpers.services import transports_except

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=PROCESS_TRANSPORTS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """An empty project; tests write their tasks with ``project.write_module``."""
    with project_on(request.param, tmp_path) as proj:
        yield proj


SLEEPY = """
@app.task(acks_late=True)
def sleepy(seconds):
    mark("sleepy.marker", "start")
    time.sleep(seconds)
    mark("sleepy.done", "done")
    return "slept"


@app.task(acks_late=True, reject_on_worker_lost=False)
def sleepy_no_reject(seconds):
    mark("sleepy.marker", "start")
    time.sleep(seconds)
    return "slept"


@app.task
def add(x, y):
    return x + y
"""


# -- 1. a killed worker's acks_late task runs again ----------------------------------------
@pytest.mark.slow
@transports_except(
    "redis",
    fixture="project",
    kinds=PROCESS_TRANSPORTS,
    reason="on Redis the leases of a whole dead worker come back after visibility_timeout "
    "(an hour by default), not within a second as on SQLite: docs/compatibility.md, 'Leases "
    "are renewed'; tests/redis_worker's test_sigkilled_workers_acks_late_tasks_run_again_on_"
    "a_new_worker is this test on Redis, with a short visibility_timeout",
)
def test_sigkill_whole_prefork_worker_reruns_acks_late_task_on_new_worker(project: Project) -> None:
    project.write_module(SLEEPY)
    first = project.start_worker()
    app = project.producer()
    result = app.send_task("tasks.sleepy", (2,))
    wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    first.kill()  # parent and children, no chance to give anything back

    assert project.read_lines("sleepy.done") == []
    second = project.start_worker(name="w2")
    assert result.get(timeout=15) == "slept"
    markers = project.read_lines("sleepy.marker")
    assert len(markers) == 2, second.describe()
    assert len(project.read_lines("sleepy.done")) == 1
    assert pids_of(markers)[1] in second.child_pids()


@pytest.mark.slow
def test_sigkill_child_is_replaced_and_task_runs_again(project: Project) -> None:
    project.write_module(SLEEPY)
    worker = project.start_worker()
    app = project.producer()
    result = app.send_task("tasks.sleepy", (1,))
    lines = wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    victim = pids_of(lines)[0]
    assert victim in worker.child_pids()
    os.kill(victim, signal.SIGKILL)
    assert result.get(timeout=15) == "slept"
    pids = pids_of(project.read_lines("sleepy.marker"))
    assert len(pids) == 2 and pids[1] != victim
    assert worker.proc.poll() is None
    worker.wait_for(r"will run again: worker process lost")
    assert app.send_task("tasks.add", (2, 2)).get(timeout=10) == 4


@pytest.mark.slow
def test_sigkill_child_without_reject_on_worker_lost_fails_with_worker_lost_error(
    project: Project,
) -> None:
    from celeriac.exceptions import WorkerLostError

    project.write_module(SLEEPY)
    worker = project.start_worker()
    app = project.producer()
    result = app.send_task("tasks.sleepy_no_reject", (2,))
    lines = wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    os.kill(pids_of(lines)[0], signal.SIGKILL)
    with pytest.raises(WorkerLostError):
        result.get(timeout=10)
    assert result.state == "FAILURE"
    assert app.send_task("tasks.add", (1, 2)).get(timeout=10) == 3  # replaced child works
    time.sleep(1.5)  # longer than the dead-owner recovery interval: no rerun
    assert len(project.read_lines("sleepy.marker")) == 1, worker.describe()


# -- 3. a message that keeps killing its worker is dead-lettered -----------------------------
POISON = """
@app.task
def poison():
    mark("poison.marker")
    os.kill(os.getpid(), signal.SIGKILL)


@app.task
def good(x):
    mark("good.marker", str(x))
    return x
"""


@pytest.mark.slow
def test_task_that_kills_its_worker_is_dead_lettered_after_max_deliveries(project: Project) -> None:
    project.write_module(POISON)
    worker = project.start_worker()
    app = project.producer()
    bad = app.send_task("tasks.poison")
    good = app.send_task("tasks.good", (7,))

    assert good.get(timeout=20) == 7, worker.describe()
    assert len(project.read_lines("poison.marker")) == 5
    letters = app.transport.dead_letters()
    assert [letter.task_id for letter in letters] == [bad.id]
    assert "task_max_deliveries=5" in letters[0].reason
    assert "delivered 5 times" in letters[0].reason
    assert worker.proc.poll() is None
    assert len(worker.child_pids()) == 1
    assert app.send_task("tasks.good", (8,)).get(timeout=10) == 8


# -- 2. two workers and two producers on one file: each task runs exactly once ------------------
RECORD = """
@app.task(ignore_result=True)
def record(i):
    mark(f"done-{os.getpid()}.txt", str(i))
"""

PRODUCER = """
import sys

from tasks import app  # the project's app: its broker, and on Redis the test's key prefix

for i in range(int(sys.argv[1]), int(sys.argv[2])):
    app.send_task("tasks.record", (i,), ignore_result=True)
print("sent", flush=True)
"""


def _done_ids(project: Project) -> list[int]:
    ids: list[int] = []
    for path in project.root.glob("done-*.txt"):
        ids.extend(int(line.split()[1]) for line in path.read_text().splitlines())
    return ids


@pytest.mark.slow
def test_two_workers_two_producers_run_10000_tasks_exactly_once(project: Project) -> None:
    total = 10_000
    project.write_module(RECORD)
    workers = [
        project.start_worker(pool="prefork", concurrency=2, wait=False),
        project.start_worker(pool="threads", concurrency=2, wait=False),
    ]
    producers = [
        project.spawn_python(PRODUCER, str(start), str(stop))
        for start, stop in ((0, total // 2), (total // 2, total))
    ]
    for producer in producers:
        out, _ = producer.communicate(timeout=60)
        assert producer.returncode == 0, out.decode()
    started = time.monotonic()
    wait_until(
        lambda: len(_done_ids(project)) >= total,
        timeout=40,
        interval=0.2,
        message=lambda: (
            f"{total} tasks, {len(_done_ids(project))} done\n"
            f"{workers[0].describe()}\n{workers[1].describe()}"
        ),
    )
    elapsed = time.monotonic() - started
    for worker in workers:
        assert worker.stop() == 0, worker.describe()
    ids = _done_ids(project)
    assert len(ids) == total, f"{len(ids) - len(set(ids))} duplicates"
    assert sorted(ids) == list(range(total))
    per_process = {
        path.name: len(path.read_text().splitlines()) for path in project.root.glob("done-*.txt")
    }
    assert len(per_process) >= 2, per_process  # both workers took part
    app = project.producer()
    assert app.transport.queue_length("celery") == 0
    assert app.transport.dead_letters() == []
    print(f"drained {total} tasks after publishing in {elapsed:.1f}s: {per_process}")


# -- 5. shutdown, child replacement, time limits, banner and flags -----------------------------
LIFECYCLE = """
from celeriac.exceptions import SoftTimeLimitExceeded


@app.task(acks_late=True)
def sleepy(seconds):
    mark("sleepy.marker", "start")
    time.sleep(seconds)
    mark("sleepy.done", "done")
    return "slept"


@app.task
def add(x, y):
    return x + y


@app.task
def getpid():
    return os.getpid()


@app.task(bind=True)
def whoami(self):
    return [self.request.hostname, self.request.delivery_info.get("routing_key")]


@app.task
def soft(seconds, step):
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(step)
    except SoftTimeLimitExceeded:
        return "soft limit caught"
    return "no limit"
"""


@pytest.mark.slow
@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_warm_shutdown_finishes_running_task_and_gives_back_prefetched(
    project: Project, pool: str
) -> None:
    project.write_module(LIFECYCLE)
    worker = project.start_worker(pool=pool, concurrency=1)
    app = project.producer()
    running = app.send_task("tasks.sleepy", (1.5,))
    waiting = [app.send_task("tasks.add", (i, i)) for i in range(6)]  # 3 prefetched, 3 not
    wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    worker.send(signal.SIGTERM)

    assert worker.wait() == 0, worker.describe()
    assert running.get(timeout=5) == "slept"
    assert app.transport.queue_length("celery") == len(waiting), worker.describe()
    assert all(result.state == "PENDING" for result in waiting)
    assert "Warm shutdown (SIGTERM)" in worker.log()
    assert not any(f"tasks.add[{result.id}] received" in worker.log() for result in waiting[3:])

    again = project.start_worker(pool=pool, name="again")  # nothing was lost
    assert [result.get(timeout=10) for result in waiting] == [i + i for i in range(6)]
    assert len(project.read_lines("sleepy.marker")) == 1
    assert again.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "signals",
    [(signal.SIGTERM, signal.SIGTERM), (signal.SIGQUIT,)],
    ids=["second-sigterm", "sigquit"],
)
def test_cold_shutdown_gives_the_running_task_back_at_once(
    project: Project, signals: tuple[int, ...]
) -> None:
    project.write_module(LIFECYCLE)
    worker = project.start_worker()
    app = project.producer()
    result = app.send_task("tasks.sleepy", (30,))
    wait_until(lambda: project.read_lines("sleepy.marker"), message="the task to start")
    for signum in signals:
        worker.send(signum)
        worker.wait_for("shutdown")
    started = time.monotonic()
    worker.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert "Cold shutdown" in worker.log(), worker.describe()
    assert result.state == "PENDING"
    assert app.transport.queue_length("celery") == 1  # acks_late: it will run again
    assert worker.child_pids() == []


@pytest.mark.slow
def test_max_tasks_per_child_replaces_children(project: Project) -> None:
    project.write_module(LIFECYCLE)
    worker = project.start_worker("--max-tasks-per-child", "5")
    app = project.producer()
    results = [app.send_task("tasks.getpid") for _ in range(12)]
    pids = [result.get(timeout=15) for result in results]
    assert len(set(pids)) == 3, pids
    assert pids[:5] == [pids[0]] * 5 and pids[5:10] == [pids[5]] * 5
    assert worker.lines("Reached max_tasks_per_child")
    assert worker.stop() == 0


@pytest.mark.slow
def test_hard_time_limit_kills_and_replaces_the_child(project: Project) -> None:
    from celeriac.exceptions import TimeLimitExceeded

    project.write_module(LIFECYCLE)
    worker = project.start_worker("--time-limit", "1")
    app = project.producer()
    before = worker.child_pids()
    result = app.send_task("tasks.sleepy", (10,))
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=10)
    assert time.monotonic() - started < 5
    assert result.state == "FAILURE"
    pid = app.send_task("tasks.getpid").get(timeout=10)
    assert pid not in before and worker.child_pids() == [pid]
    assert project.read_lines("sleepy.done") == []
    assert len(project.read_lines("sleepy.marker")) == 1
    assert app.transport.queue_length("celery") == 0
    assert worker.lines(r"Hard time limit \(1.0s\) exceeded for tasks.sleepy")


@pytest.mark.slow
def test_soft_time_limit_raises_in_the_task(project: Project) -> None:
    project.write_module(LIFECYCLE)
    worker = project.start_worker("--soft-time-limit", "0.5")
    app = project.producer()
    started = time.monotonic()
    assert app.send_task("tasks.soft", (5, 0.01)).get(timeout=10) == "soft limit caught"
    assert time.monotonic() - started < 2
    assert worker.lines(r"Soft time limit \(0.5s\) exceeded for tasks.soft\[")


@pytest.mark.xfail(
    strict=True,
    reason="sync tasks run on a thread that is not the main thread, so the soft limit is "
    "raised between bytecodes and cannot interrupt one long blocking call (Celery's "
    "SIGUSR1 does); the hard limit still ends it",
)
def test_soft_time_limit_interrupts_a_long_blocking_call(project: Project) -> None:
    project.write_module(LIFECYCLE)
    project.start_worker("--soft-time-limit", "0.5")
    app = project.producer()
    started = time.monotonic()
    assert app.send_task("tasks.soft", (2.5, 2.5)).get(timeout=10) == "soft limit caught"
    assert time.monotonic() - started < 2


def test_banner_log_lines_hostname_pidfile_and_queue_flags(project: Project) -> None:
    import socket

    project.write_module(LIFECYCLE)
    pidfile = project.path("worker.pid")
    worker = project.start_worker(
        "-n", "foo@%h", "--pidfile", str(pidfile), "-Q", "a,b,c", "-X", "c", concurrency=2
    )
    host = socket.gethostname()
    banner = worker.output()
    assert f"foo@{host} v" in banner
    assert f".> transport:   {project.broker_url}" in banner
    assert f".> results:     {project.broker_url}" in banner
    assert ".> concurrency: 2 (prefork)" in banner
    assert "exchange=a(direct) key=a" in banner and "exchange=b(direct) key=b" in banner
    assert "exchange=c(" not in banner
    for name in ("tasks.add", "tasks.getpid", "tasks.sleepy", "tasks.soft", "tasks.whoami"):
        assert f"  . {name}\n" in banner
    assert pidfile.read_text().strip() == str(worker.pid)

    app = project.producer()
    on_a = app.send_task("tasks.add", (2, 2), queue="a")
    on_b = app.send_task("tasks.whoami", queue="b")
    on_c = app.send_task("tasks.add", (3, 3), queue="c")
    assert on_a.get(timeout=10) == 4
    assert on_b.get(timeout=10) == [f"foo@{host}", "b"]
    worker.wait_for(rf"Task tasks.add\[{on_a.id}\] succeeded in [\d.e-]+s: 4")
    assert worker.lines(rf"INFO/ForkPoolWorker-\d\] Task tasks.add\[{on_a.id}\] received$")
    assert on_c.state == "PENDING" and app.transport.queue_length("c") == 1
    assert worker.stop() == 0
    assert not pidfile.exists()


# -- 6. an idle worker costs almost nothing and picks up new work at once --------------------
STAMP = """
@app.task
def stamp():
    return time.time()
"""


def _idle_cpu(worker: WorkerProcess, seconds: float = 5.0) -> float:
    """Share of one core the worker's processes used over ``seconds`` of idleness."""
    processes = worker.processes()
    before = sum(sum(p.cpu_times()[:2]) for p in processes)
    time.sleep(seconds)
    after = sum(sum(p.cpu_times()[:2]) for p in processes)
    return (after - before) / seconds


@pytest.mark.slow
def test_idle_worker_cpu_and_pickup_latency(project: Project) -> None:
    project.write_module(STAMP)
    worker = project.start_worker(concurrency=2)
    app = project.producer()
    assert isinstance(app.send_task("tasks.stamp").get(timeout=10), float)  # warm
    time.sleep(0.5)
    cpu = _idle_cpu(worker)
    assert cpu < 0.02, f"idle worker used {cpu:.1%} of a core"

    latencies = []
    for _ in range(20):
        time.sleep(0.25)  # idle again: the poll has backed off
        sent = time.time()
        latencies.append(app.send_task("tasks.stamp").get(timeout=10) - sent)
    latencies.sort()
    p50, worst = latencies[len(latencies) // 2], latencies[-1]
    print(
        f"idle CPU {cpu:.2%} of a core; pick-up latency p50 {p50 * 1000:.1f} ms, "
        f"p90 {latencies[17] * 1000:.1f} ms, max {worst * 1000:.1f} ms"
    )
    assert p50 < 0.05 and latencies[17] < 0.05, latencies


@pytest.mark.slow
def test_children_stop_when_the_supervisor_is_sigkilled(project: Project) -> None:
    """A SIGKILLed parent leaves no children consuming on their own (PR_SET_PDEATHSIG)."""
    project.write_module(SLEEPY)
    worker = project.start_worker(concurrency=2)
    app = project.producer()
    assert app.send_task("tasks.add", (1, 2)).get(timeout=15) == 3
    children = worker.child_pids()
    assert len(children) == 2
    os.kill(worker.pid, signal.SIGKILL)
    worker.proc.wait(10)

    def gone() -> bool:
        for pid in children:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            with open(f"/proc/{pid}/stat") as stat:  # a zombie child of init is gone too
                if stat.read().split(")")[-1].split()[0] != "Z":
                    return False
        return True

    wait_until(gone, timeout=15, message=lambda: f"children {children} to stop")


HARD_LIMITED = """
from celeriac.signals import task_failure


@task_failure.connect
def failed(sender=None, task_id=None, exception=None, **kwargs):
    mark("failure", f"{task_id} {type(exception).__name__}")


@app.task(time_limit=1)
def stuck(seconds):
    time.sleep(seconds)
"""


@pytest.mark.slow
def test_hard_time_limit_in_prefork_sends_task_failure(project: Project) -> None:
    """On the task thread the child gives up on the body; inline on the loop thread (the
    task proved short first) the supervisor kills the child: task_failure either way."""
    project.write_module(HARD_LIMITED)
    worker = project.start_worker(concurrency=1)
    app = project.producer()
    for _ in range(6):  # short runs: the child then runs the task on its loop thread
        app.send_task("tasks.stuck", (0,)).get(timeout=15)
    inline = app.send_task("tasks.stuck", (30,))
    wait_until(lambda: project.read_lines("failure"), timeout=20, message="task_failure")
    assert worker.lines(r"killed|time limit"), worker.describe()
    wait_until(lambda: len(worker.child_pids()) == 1, timeout=10, message="a new child")
    threaded = app.send_task("tasks.stuck", (30,))  # the new child has not learnt it yet
    wait_until(lambda: len(project.read_lines("failure")) == 2, timeout=20, message="second")
    reports = [line.split() for line in project.read_lines("failure")]
    assert [(task_id, name) for _, task_id, name in reports] == [
        (inline.id, "TimeLimitExceeded"),
        (threaded.id, "TimeLimitExceeded"),
    ]
    assert int(reports[0][0]) == worker.pid  # the supervisor reported the killed child's
    # the settler writes results in batches: a loaded machine may store the state a moment
    # after task_failure was sent
    wait_until(lambda: inline.ready() and threaded.ready(), timeout=10, message="the results")
    assert inline.state == threaded.state == "FAILURE"
