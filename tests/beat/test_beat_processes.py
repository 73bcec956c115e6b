"""End to end: ``celeriac beat`` processes and real workers on SQLite and Redis.

Timing assertions are lower bounds or generous ranges: the machine is shared.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from helpers.beat import run_times, start
from helpers.processes import Project, wait_until

BeatProject = Callable[..., Project]

pytestmark = pytest.mark.slow

BODY = """
from celeriac.schedules import crontab


@app.task(name="tasks.beat_mark")
def beat_mark(tag):
    mark(f"runs-{tag}.txt", f"{time.time():.3f}")


app.conf.beat_schedule = {SCHEDULE}
"""


def body(schedule: str) -> str:
    return BODY.replace("{SCHEDULE}", schedule)


EVERY_SECOND = '{"fast": {"task": "tasks.beat_mark", "schedule": 1.0, "args": ("fast",)}}'


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_one_second_entry_runs_about_ten_times_in_ten_seconds(beat_project: BeatProject) -> None:
    project = beat_project(body(EVERY_SECOND))
    project.start_worker(pool="threads", concurrency=2)
    beat = start(project, "beat")
    wait_until(lambda: run_times(project, "fast"), 15, 0.05, beat.log)
    first = run_times(project, "fast")[0]
    time.sleep(max(0.0, first + 10.5 - time.time()))
    window = [t for t in run_times(project, "fast") if t <= first + 10.0]
    assert 8 <= len(window) <= 12, (window, beat.log())
    assert min(gaps(window)) > 0.25  # worker-side times: allow for a busy machine


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_worker_dash_b_runs_beat_inside_the_worker(beat_project: BeatProject, pool: str) -> None:
    project = beat_project(body(EVERY_SECOND))
    worker = project.start_worker("-B", "-s", str(project.path("embedded-schedule")), pool=pool)
    wait_until(lambda: len(run_times(project, "fast")) >= 3, 20, 0.05, worker.describe)
    worker.stop()
    assert "Sending due task fast" in worker.log()


def test_crontab_entry_is_routed_to_its_queue(beat_project: BeatProject) -> None:
    schedule = (
        '{"routed": {"task": "tasks.beat_mark", "schedule": crontab(minute="*"),'
        ' "args": ("routed",), "options": {"queue": "main_worker"}}}'
    )
    project = beat_project(body(schedule))
    default_worker = project.start_worker(pool="threads", name="default")
    routed_worker = project.start_worker("-Q", "main_worker", pool="threads", name="main")
    beat = start(project, "beat")
    runs = wait_until(lambda: project.read_lines("runs-routed.txt"), 75, 0.1, beat.log)
    assert int(runs[0].split()[0]) == routed_worker.pid  # threads pool: the worker's own pid
    assert int(time.time()) % 60 < 30 or len(runs) == 1
    assert default_worker.proc.poll() is None


def test_killed_and_restarted_beat_neither_repeats_nor_loses_runs(
    beat_project: BeatProject,
) -> None:
    every3 = '{"slow": {"task": "tasks.beat_mark", "schedule": 3.0, "args": ("slow",)}}'
    # A killed beat does not release the leader lock: its successor waits for it to
    # expire (beat_lock_timeout), so keep that short here.
    project = beat_project(body(every3), beat_lock_timeout=2.0)
    project.start_worker(pool="threads")
    beat = start(project, "beat")
    wait_until(lambda: run_times(project, "slow"), 15, 0.02, beat.log)
    beat.kill()  # right after a run: a restart must not run it again at once
    beat = start(project, "beat")
    wait_until(lambda: len(run_times(project, "slow")) >= 2, 15, 0.02, beat.log)
    assert min(gaps(run_times(project, "slow"))) >= 2.5, run_times(project, "slow")
    # Down across a due run: the missed run is sent once on restart (run_once), then on
    # the 3 s period again.
    beat.kill()
    killed_at = time.time()
    before = len(run_times(project, "slow"))
    time.sleep(4.5)
    assert len(run_times(project, "slow")) == before
    beat = start(project, "beat")
    restarted = time.time()
    wait_until(lambda: len(run_times(project, "slow")) > before, 10, 0.02, beat.log)
    catch_up = run_times(project, "slow")[before]
    assert catch_up - restarted < 3.0, "the missed run is sent at once on restart"
    assert catch_up - killed_at > 4.0
    time.sleep(max(0.0, catch_up + 4.5 - time.time()))  # the next run is 3 s after it
    times = run_times(project, "slow")
    assert len(times) == before + 2, times  # the catch-up and one regular run: no repeats
    assert min(gaps(times)) >= 2.5


def test_two_beats_for_thirty_seconds_fire_each_entry_once_per_period(
    beat_project: BeatProject,
) -> None:
    schedule = (
        '{"fast": {"task": "tasks.beat_mark", "schedule": 1.0, "args": ("fast",)},'
        ' "three": {"task": "tasks.beat_mark", "schedule": 3.0, "args": ("three",)}}'
    )
    project = beat_project(body(schedule), beat_lock_timeout=5.0)
    project.start_worker(pool="threads", concurrency=2)
    beats = [start(project, "beat-a"), start(project, "beat-b")]
    wait_until(lambda: run_times(project, "fast"), 15, 0.05, lambda: beats[0].log())
    first = run_times(project, "fast")[0]
    time.sleep(max(0.0, first + 30.5 - time.time()))
    fast = [t for t in run_times(project, "fast") if t <= first + 30.0]
    three = [t for t in run_times(project, "three") if t <= first + 30.0]
    assert 26 <= len(fast) <= 32, fast  # two beats both firing would give about 60
    assert 8 <= len(three) <= 12, three
    assert min(gaps(fast)) > 0.25 and min(gaps(three)) > 1.5
    assert sum(beat.is_leader() for beat in beats) == 1
    assert sum(1 for beat in beats if beat.sent()) == 1  # the follower sent nothing


def test_leader_failover_within_the_lock_timeout(beat_project: BeatProject) -> None:
    project = beat_project(body(EVERY_SECOND), beat_lock_timeout=4.0)
    project.start_worker(pool="threads", concurrency=2)
    beats = [start(project, "beat-a"), start(project, "beat-b")]
    wait_until(lambda: any(b.is_leader() for b in beats), 15, 0.05, lambda: beats[0].log())
    leader = next(b for b in beats if b.is_leader())
    follower = next(b for b in beats if b is not leader)
    wait_until(lambda: len(run_times(project, "fast")) >= 2, 15, 0.05, leader.log)
    leader.kill()
    killed_at = time.time()
    last_before = run_times(project, "fast")[-1]
    wait_until(follower.is_leader, 10, 0.05, follower.log)
    took_over = time.time() - killed_at
    assert took_over <= 4.0 + 1.0, took_over  # within beat_lock_timeout (+ polling slack)
    wait_until(lambda: run_times(project, "fast")[-1] > killed_at, 10, 0.05, follower.log)
    times = run_times(project, "fast")
    after = [t for t in times if t > last_before]
    assert after[0] - last_before >= 0.75  # the new leader did not repeat the last run
    assert min(gaps(times)) > 0.25


def test_shared_entries_change_a_running_beat(beat_project: BeatProject) -> None:
    from celeriac.beat import SharedSchedule

    project = beat_project(body("{}"))
    project.start_worker(pool="threads")
    beat = start(project, "beat")
    shared = SharedSchedule(project.producer())
    shared.add("dyn", "tasks.beat_mark", 1.0, args=("dyn",))
    wait_until(lambda: len(run_times(project, "dyn")) >= 2, 15, 0.05, beat.log)
    shared.remove("dyn")
    wait_until(lambda: "removed dyn" in beat.log(), 10, 0.05, beat.log)
    time.sleep(0.5)  # a send already in flight lands
    count = len(run_times(project, "dyn"))
    time.sleep(2.5)
    assert len(run_times(project, "dyn")) == count
