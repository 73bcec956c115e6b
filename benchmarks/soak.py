"""Chaos soak: mixed traffic while workers, children and the broker are killed, paused, fed garbage.

::

    python benchmarks/soak.py --broker redis --minutes 4
    python benchmarks/soak.py --broker sqlite --minutes 4 --json benchmarks/results/soak-sqlite.json
    python benchmarks/soak.py --broker amqp --minutes 5 --actions kill_child,drop_connections

The script writes a tasks module into a temporary directory and starts two real
``celeriac -A soak_tasks worker -P prefork -c 2`` processes on it. Redis runs as a private
``redis-server --appendonly yes --appendfsync always`` on a free loopback port; SQLite is a
file (broker and results in one); RabbitMQ is the shared server, in a virtual host of the
run's own, with results in a private Redis. While a producer publishes plain tasks,
retrying tasks, countdowns, chains, chords and ``async def`` tasks, a controller picks one
action every few seconds: SIGKILL a worker (its whole process group), SIGKILL one prefork
child, restart the broker (Redis) or drop every connection of the vhost (RabbitMQ),
SIGSTOP a worker for longer than the visibility timeout then SIGCONT it, or push garbage
onto the queue. ``--actions`` limits the controller to some of them.

Every task body appends ``task_id retries pid`` to a log of its own process before it runs,
so the report can count executions. At the end the workers drain and every published task
id must have exactly one SUCCESS result or a dead-letter entry with its reason. A second
execution of the same (task id, retry) is *explained* when the process that ran it first
was killed or paused (at-least-once delivery, as late acks promise) and *duplicated*
otherwise; a task with neither a SUCCESS nor a dead letter is *lost*.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from soak_chaos import (
    QUEUE,
    VISIBILITY_TIMEOUT,
    RabbitVhost,
    RedisServer,
    Soak,
    WorkerSlot,
    chaos,
)

TASKS = '''
"""The soak's tasks (written by benchmarks/soak.py)."""
import asyncio
import os
import time

from celeriac import Celery

RUNS = {runs!r}
app = Celery("soak_tasks", broker={url!r}, backend={backend!r})
app.conf.update(
    task_default_queue={queue!r},
    result_extended=True,
    broker_transport_options={{"visibility_timeout": {vt!r}}},
    result_expires=None,
    worker_prefetch_multiplier=2,
    broker_connection_retry_on_startup=True,
)


def _ran(request):
    with open(os.path.join(RUNS, f"{{os.getpid()}}.log"), "a") as log:
        log.write(f"{{request.id}} {{request.retries}} {{os.getpid()}} {{time.time()}}\\n")


@app.task(name="soak.add", bind=True)
def add(self, x, y):
    _ran(self.request)
    time.sleep(0.02)
    return x + y


@app.task(name="soak.slow", bind=True)
def slow(self, x):
    _ran(self.request)
    time.sleep(1.5)
    return x


@app.task(name="soak.flaky", bind=True, max_retries=5)
def flaky(self, x):
    _ran(self.request)
    if self.request.retries < 2:
        raise self.retry(countdown=0.5)
    return x


@app.task(name="soak.anap", bind=True)
async def anap(self, x):
    _ran(self.request)
    await asyncio.sleep(0.05)
    return x


@app.task(name="soak.tsum", bind=True)
def tsum(self, values):
    _ran(self.request)
    return sum(values)
'''


def _ids_of(result: Any) -> list[str]:
    """The task ids of a chain's or chord's nodes (the result, its parents, a chord's
    header members; a group's own id is not a task)."""
    ids: list[str] = []
    node = result
    while node is not None:
        members = getattr(node, "results", None)
        if members is None:
            ids.append(node.id)
        for member in members or []:
            ids.append(member.id)
        node = getattr(node, "parent", None)
    return ids


def publish_one(soak: Soak, tasks: Any, rng: random.Random) -> None:
    from celeriac import chain, chord

    kind = rng.choices(
        ["plain", "retry", "countdown", "chain", "chord", "async", "slow"],
        weights=[30, 12, 12, 10, 10, 18, 8],
    )[0]
    value = rng.randint(0, 1000)
    if kind == "plain":
        results = [tasks.add.delay(value, 1)]
    elif kind == "retry":
        results = [tasks.flaky.delay(value)]
    elif kind == "countdown":
        results = [tasks.add.apply_async((value, 2), countdown=rng.uniform(0.5, 4))]
    elif kind == "async":
        results = [tasks.anap.delay(value)]
    elif kind == "slow":
        results = [tasks.slow.delay(value)]
    elif kind == "chain":
        results = [chain(tasks.add.s(value, 1), tasks.add.s(2), tasks.add.s(3)).apply_async()]
    else:
        results = [chord([tasks.add.s(value, i) for i in range(3)], tasks.tsum.s()).apply_async()]
    for result in results:
        for task_id in _ids_of(result):
            soak.published[task_id] = kind


def read_runs(directory: Path) -> dict[tuple[str, int], list[tuple[float, int]]]:
    """(task id, retries) -> [(start time, pid)] of every execution, in start order."""
    runs: dict[tuple[str, int], list[tuple[float, int]]] = defaultdict(list)
    for path in (directory / "runs").glob("*.log"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                runs[(parts[0], int(parts[1]))].append((float(parts[3]), int(parts[2])))
    for starts in runs.values():
        starts.sort()
    return runs


def _why_again(soak: Soak, earlier: list[tuple[float, int]]) -> str | None:
    """Why a (task id, retry) ran again: its earlier process was killed or paused, or it
    started around a pause or broker restart (its lease could expire); None: unexplained."""
    for _, pid in earlier:
        if pid in soak.disturbed:
            return f"{soak.disturbed[pid]} process"
    for started, _ in earlier:
        for begin, end, what in soak.windows:
            if begin - VISIBILITY_TIMEOUT <= started <= end:
                return f"lease expired during a {what}"
    return None


def settle(soak: Soak, app: Any, timeout: float) -> dict[str, str]:
    """Wait until every published id is SUCCESS or dead-lettered; return id -> final state."""
    deadline = time.time() + timeout
    final: dict[str, str] = {}
    while True:
        letters = {
            letter.task_id: letter.reason
            for letter in app.transport.dead_letters(limit=1_000_000)
            if letter.task_id
        }
        for task_id in soak.published:
            if task_id in final and final[task_id] == "SUCCESS":
                continue
            if task_id in letters:
                final[task_id] = "DEAD: " + letters[task_id]
                continue
            try:
                state = app.AsyncResult(task_id).state
            except Exception as exc:  # the broker may just have come back
                state = f"ERROR {exc!r}"
            final[task_id] = state
        pending = [i for i, s in final.items() if s != "SUCCESS" and not s.startswith("DEAD")]
        if not pending or time.time() > deadline:
            return final
        time.sleep(1.0)


def _failure(app: Any, task_id: str) -> str:
    """The stored exception of a FAILURE, with the last traceback line."""
    result = app.AsyncResult(task_id)
    meta = result.backend.get(task_id) or {}
    trace = (meta.get("traceback") or "").strip().splitlines()
    return f"{meta.get('name') or ''} {result.result!r} | {trace[-1] if trace else ''}"


def report(soak: Soak, final: dict[str, str], app: Any, seconds: float) -> dict[str, Any]:
    runs = read_runs(soak.directory)
    executions = sum(len(starts) for starts in runs.values())
    retried = {task_id for task_id, retries in runs if retries > 0}
    explained: Counter[str] = Counter()
    duplicated: list[dict[str, Any]] = []
    rerun = {task_id for (task_id, _), starts in runs.items() if len(starts) > 1}
    for (task_id, retries), starts in runs.items():
        for index in range(1, len(starts)):
            why = _why_again(soak, starts[:index])
            earlier_reruns = any(len(runs.get((task_id, r), ())) > 1 for r in range(retries))
            if why is None and task_id in rerun and earlier_reruns:
                # an earlier attempt ran twice and each run published its own retry
                why = "an earlier attempt of it ran again, and each run asked for a retry"
            if why:
                explained[f"rerun: {why}"] += 1
            else:
                duplicated.append({
                    "task_id": task_id,
                    "kind": soak.published.get(task_id),
                    "retries": retries,
                    "runs": [(round(t - soak.started, 3), pid) for t, pid in starts],
                })  # fmt: skip
    dead = {i: s[6:] for i, s in final.items() if s.startswith("DEAD: ")}
    failed = {i: _failure(app, i) for i, s in final.items() if s == "FAILURE"}
    lost = {
        i: s
        for i, s in final.items()
        if s not in ("SUCCESS", "FAILURE") and not s.startswith("DEAD")
    }
    letters = app.transport.dead_letters(limit=1_000_000)
    garbage_dead = sum(1 for letter in letters if letter.task_id not in soak.published)
    # an envelope whose body is a dict reads as a protocol-1/hybrid task with no arguments:
    # it runs (Celery does the same) and stores a FAILURE instead of being dead-lettered
    garbage_ran = sum(
        1
        for garbage_id in soak.garbage_ids
        if garbage_id not in {letter.task_id for letter in letters}
        and app.AsyncResult(garbage_id).state == "FAILURE"
    )
    return {
        "broker": soak.broker,
        "seconds": round(seconds, 1),
        "published": len(soak.published),
        "published_by_kind": dict(Counter(soak.published.values())),
        "publish_failures": soak.publish_failures,
        "succeeded": sum(1 for s in final.values() if s == "SUCCESS"),
        "retried": len(retried & set(soak.published)),
        "dead_lettered": len(dead),
        "dead_letter_reasons": dict(Counter(r.split(":")[0] for r in dead.values())),
        "executions": executions,
        "reruns_explained": dict(explained),
        "duplicated": len(duplicated),
        "duplicates": duplicated[:20],
        "failed": len(failed),
        "failures": dict(list(failed.items())[:20]),
        "lost": len(lost),
        "lost_ids": dict(list(lost.items())[:20]),
        "garbage_injected": soak.garbage,
        "garbage_dead_lettered": garbage_dead,
        "garbage_run_as_failed_task": garbage_ran,
        "chaos": dict(soak.actions),
        "timeline": soak.timeline,
        "worker_pids": {slot.name: slot.pids() for slot in soak.workers},
        "windows": [
            (round(b - soak.started, 1), round(e - soak.started, 1), w) for b, e, w in soak.windows
        ],
        "worker_restarts": sum(slot.starts - 1 for slot in soak.workers),
    }


def run(
    broker: str, minutes: float, rate: float, seed: int, keep: bool, only: tuple[str, ...] = ()
) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix=f"soak-{broker}-"))
    (directory / "runs").mkdir()
    rng = random.Random(seed)
    redis_server = rabbit = None
    if broker in ("redis", "amqp"):
        redis_server = RedisServer(directory)
        redis_server.start()
        url = backend = redis_server.url
    else:
        url = backend = f"sqlite:///{directory / 'soak.sqlite3'}"
    if broker == "amqp":
        rabbit = RabbitVhost()
        rabbit.create()
        url = rabbit.url
    module = TASKS.format(
        runs=str(directory / "runs"), url=url, backend=backend, queue=QUEUE, vt=VISIBILITY_TIMEOUT
    )
    (directory / "soak_tasks.py").write_text(textwrap.dedent(module))
    sys.path.insert(0, str(directory))
    import soak_tasks  # type: ignore[import-not-found]

    app = soak_tasks.app
    soak = Soak(broker, directory, url, redis_server, rabbit, only=only)
    soak.workers = [WorkerSlot(f"w{i}", directory) for i in (1, 2)]
    for slot in soak.workers:
        slot.start()
    started = soak.started = time.time()
    end = started + minutes * 60
    next_chaos = started + rng.uniform(4, 8)
    try:
        while time.time() < end:
            try:
                publish_one(soak, soak_tasks, rng)
            except Exception as exc:
                soak.publish_failures += 1
                print(f"publish failed: {exc!r}", file=sys.stderr)
                time.sleep(0.5)
            if time.time() >= next_chaos:
                try:
                    action = chaos(soak, app, rng)
                except Exception as exc:
                    action = f"failed: {exc!r}"
                line = f"[{time.time() - started:6.1f}s] chaos: {action}"
                soak.timeline.append(line)
                print(line, file=sys.stderr)
                next_chaos = time.time() + rng.uniform(5, 12)
            time.sleep(rng.expovariate(rate))
        for slot in soak.workers:
            slot.signal_group(signal.SIGCONT)
            if slot.proc is None or slot.proc.poll() is not None:
                slot.start()
        final = settle(soak, app, timeout=180 + 3 * VISIBILITY_TIMEOUT)
        result = report(soak, final, app, time.time() - started)
    finally:
        for slot in soak.workers:
            slot.kill()
        app.close()
        if redis_server is not None:
            redis_server.stop()
        if rabbit is not None:
            rabbit.delete()
        sys.path.remove(str(directory))
        sys.modules.pop("soak_tasks", None)
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    result["directory"] = str(directory) if keep else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", choices=["redis", "sqlite", "amqp", "both"], default="both")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=15.0, help="publishes per second")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--json", type=Path, help="write the report(s) here")
    parser.add_argument(
        "--actions", default="", help="comma-separated chaos actions to pick from (default: all)"
    )
    args = parser.parse_args()
    brokers = ["redis", "sqlite"] if args.broker == "both" else [args.broker]
    only = tuple(a for a in args.actions.split(",") if a)
    reports = [run(b, args.minutes, args.rate, args.seed, args.keep, only) for b in brokers]
    text = json.dumps(reports if len(reports) > 1 else reports[0], indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    bad = any(r["lost"] or r["duplicated"] or r["failed"] for r in reports)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
