"""Where one celeriac round trip on RabbitMQ goes, stage by stage inside the worker.

``amqp_round_trip.py`` splits ``delay().get()`` in three (publish, to start, back). This
benchmark opens up the worker: it starts a celeriac worker whose functions on the path of
a message are wrapped to note the time (``time.monotonic()``, one clock for every process
on this machine), and a client that runs ``stamp.delay().get()`` sequentially, so each
stage below is the median over all round trips of the time between two notes:

* **publish**: ``delay()`` called → returned (client);
* **broker**: ``delay()`` returned → the worker's socket is readable (RabbitMQ routes the
  message and writes it to the consumer; the worker's process wakes up);
* **aiormq**: the socket is readable → the delivery reaches celeriac's consumer callback
  (aiormq reads three frames, pamqp decodes them, two tasks hand them on);
* **fetch**: the callback → intake (the waiting fetch wakes, the batch is gathered);
* **intake**: decoding the task message, the request, the checks;
* **to body**: intake → the task's body starts (scheduling, the executor);
* **after body**: the body starts → its result is queued for the settler;
* **settler**: queued → the settler starts writing (one loop hop);
* **store**: the result's ``EVALSHA`` (encode, write, Redis, reply), stored and published;
* **client**: stored → ``get()`` returned (the PUBLISH read by the client, decoded).

"broker" ends at the last socket read before the delivery in the process that received
it; for a worker idle between round trips that is the delivery's own. The wrappers cost a few
microseconds per stage, so the total is a little above ``amqp_round_trip.py``'s.

Usage::

    python benchmarks/amqp_worker_stages.py [--calls 1000] [--pool "-P prefork -c 2"]
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import json
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import Worker, machine, recreate_vhost, run_role

VHOST = os.environ.get("AMQP_STAGES_VHOST", "celeriac-stages")
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"
REDIS_DB = int(os.environ.get("AMQP_STAGES_REDIS_DB", "12"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
WARMUP = 50

APP_SOURCE = '''
"""Stages benchmark: RabbitMQ broker, Redis results; the task returns when its body began."""
import time

from celeriac import Celery

app = Celery("stagesapp", broker="{broker}", backend="{backend}")


@app.task
def stamp():
    return time.monotonic()
'''

#: (stage, first note, second note), in the order a round trip passes them
STAGES = [
    ("publish", "called", "returned"),
    ("broker", "returned", "socket"),
    ("aiormq", "socket", "arrived"),
    ("fetch", "arrived", "intake"),
    ("intake", "intake", "admitted"),
    ("to body", "admitted", "body"),
    ("after body", "body", "queued"),
    ("settler", "queued", "writing"),
    ("store", "writing", "stored"),
    ("client", "stored", "done"),
    ("total", "called", "done"),
]


# -- the worker: celeriac's own CLI, with notes on the path of a message ----------------------
class Notes:
    """Times noted in one process, appended to ``directory/notes-PID.jsonl`` in batches.

    Prefork children leave with ``os._exit`` (no ``atexit``), so a child's last few notes
    are lost; the round trips they belong to are left out of the medians.
    """

    BATCH = 64

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows: list[tuple[str, str | None, float]] = []
        atexit.register(self.dump)

    def note(self, what: str, task_id: str | None) -> None:
        self.rows.append((what, task_id, time.monotonic()))
        if len(self.rows) >= self.BATCH:
            self.dump()

    def dump(self) -> None:
        rows, self.rows = self.rows, []
        if rows:
            with open(self.directory / f"notes-{os.getpid()}.jsonl", "a") as out:
                out.write("".join(json.dumps(row) + "\n" for row in rows))


def install_notes(notes: Notes) -> None:
    """Wrap the functions a message passes through in the worker (this process and forks)."""
    import asyncio.selector_events

    from celeriac.backends.redis.store import RedisResultStore
    from celeriac.transports.amqp import consume
    from celeriac.worker import intake, settler

    read_ready = asyncio.selector_events._SelectorSocketTransport._read_ready  # type: ignore[attr-defined]

    def noted_read_ready(self: Any) -> None:
        notes.note("socket", None)
        read_ready(self)

    asyncio.selector_events._SelectorSocketTransport._read_ready = noted_read_ready  # type: ignore[attr-defined]

    callback = consume.Consume._callback

    def noted_callback(self: Any, queue: str) -> Any:
        on_message = callback(self, queue)

        def noted(message: Any) -> None:
            notes.note("arrived", (message.header.properties.headers or {}).get("id"))
            on_message(message)

        return noted

    consume.Consume._callback = noted_callback  # type: ignore[method-assign]

    take = intake.Intake.take

    def noted_take(self: Any, delivery: Any) -> Any:
        task_id = delivery.message.headers.get("id") if delivery.message else None
        notes.note("intake", task_id)
        job = take(self, delivery)
        notes.note("admitted", task_id)
        return job

    intake.Intake.take = noted_take  # type: ignore[method-assign]

    add = settler.Settler.add

    def noted_add(self: Any, delivery: Any, meta: Any = None, action: str = "ack") -> None:
        if meta is not None:
            notes.note("queued", meta[0])
        add(self, delivery, meta, action)

    settler.Settler.add = noted_add  # type: ignore[method-assign]

    write_batch = settler.Settler._write_batch

    async def noted_write_batch(self: Any, batch: list[Any]) -> None:
        for item in batch:
            if item.meta is not None:
                notes.note("writing", item.meta[0])
        await write_batch(self, batch)

    settler.Settler._write_batch = noted_write_batch  # type: ignore[method-assign]

    store_many = RedisResultStore.astore_many

    async def noted_store_many(self: Any, items: Any) -> None:
        await store_many(self, items)
        for task_id, _ in items:
            notes.note("stored", task_id)

    RedisResultStore.astore_many = noted_store_many  # type: ignore[method-assign]


def role_worker(pool: list[str]) -> None:
    # The worker runs on uvloop when it is installed; the socket note needs asyncio's loop.
    sys.modules["uvloop"] = None  # type: ignore[assignment]
    install_notes(Notes(Path.cwd()))
    from celeriac.cli.main import main

    sys.argv = ["celeriac", "-A", "stagesapp", "worker", *pool, "-l", "WARNING"]
    main()


# -- the client -------------------------------------------------------------------------------
def role_client(calls: int) -> dict[str, Any]:
    import stagesapp  # type: ignore[import-not-found]

    stagesapp.stamp.delay().get(timeout=120)
    rows = []
    for _ in range(WARMUP + calls):
        called = time.monotonic()
        result = stagesapp.stamp.delay()
        returned = time.monotonic()
        body = float(result.get(timeout=30))
        done = time.monotonic()
        rows.append(
            {"id": result.id, "called": called, "returned": returned, "body": body, "done": done}
        )
    return {"rows": rows[WARMUP:]}


# -- putting the notes together ---------------------------------------------------------------
def stages(directory: Path, rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each stage's spans (ms) over the round trips with every note.

    The socket read that "broker" ends at is the last one before the delivery in the
    process that received it (a prefork child; the parent has its own loop and sockets).
    """
    by_task: dict[str, dict[str, float]] = defaultdict(dict)
    sockets: dict[str, list[float]] = defaultdict(list)
    process_of: dict[str, str] = {}
    for path in directory.glob("notes-*.jsonl"):
        for line in path.read_text().splitlines():
            what, task_id, at = json.loads(line)
            if what == "socket":
                sockets[path.name].append(at)
            elif task_id is not None:
                by_task[task_id].setdefault(what, at)
                if what == "arrived":
                    process_of[task_id] = path.name
    for found in sockets.values():
        found.sort()
    spans: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        seen = {**by_task.get(row["id"], {}), **{k: v for k, v in row.items() if k != "id"}}
        if "arrived" not in seen or "stored" not in seen:
            continue
        reads = sockets.get(process_of[row["id"]], [])
        before = bisect.bisect_right(reads, seen["arrived"]) - 1
        if before < 0:
            continue
        seen["socket"] = reads[before]
        for stage, first, second in STAGES:
            spans[stage].append((seen[second] - seen[first]) * 1e3)
    return spans


def run(calls: int, pool: list[str]) -> dict[str, list[float]]:
    recreate_vhost(VHOST)
    import redis

    redis.Redis(db=REDIS_DB).flushdb()
    directory = Path(tempfile.mkdtemp(prefix="amqpstages-"))
    source = APP_SOURCE.format(broker=AMQP_URL, backend=REDIS_URL)
    (directory / "stagesapp.py").write_text(textwrap.dedent(source))
    worker = Worker(
        [sys.executable, str(Path(__file__).resolve()), "--role", "worker", *pool], directory
    )
    try:
        rows = run_role(__file__, directory, "client", "--calls", str(calls))["rows"]
    finally:
        worker.stop()
    try:
        spans = stages(directory, rows)
        if not spans:  # say why before the directory goes
            log = (directory / "worker.log").read_text(errors="replace")
            print("no round trip has every note; the worker's log ends:", file=sys.stderr)
            print(log[-2000:], file=sys.stderr)
        return spans
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--pool", default="-P prefork -c 2", help="worker pool options")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.role == "worker":
        role_worker(rest)
        return 0
    if args.role == "client":
        print(json.dumps(role_client(args.calls)))
        return 0
    spans = run(args.calls, args.pool.split())
    used = len(spans.get("total", ()))
    if not used:
        return 1
    print(f"\n{machine()}; {used} of {args.calls} round trips, pool {args.pool!r}, medians\n")
    print("| stage | p50 |\n| --- | ---: |")
    for stage, _, _ in STAGES:
        print(f"| {stage} | {statistics.median(spans[stage]):.3f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
