"""The CPU cost of the task events path alone: µs per task, no broker I/O.

Runs ``TaskEvents.received`` + ``started`` + ``finished`` (SUCCESS) for N jobs on a
dispatcher bound to the loop, as a worker's consumer has it; its transport encodes each
``task.multi`` batch into kombu's Redis envelope exactly as the Redis transport does and
sends nothing. Reports CPU time (``time.process_time``), which a loaded machine moves
less than wall time.

Usage::

    python benchmarks/events_micro.py [--tasks 30000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from celeriac import Celery
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.protocol.envelope import dumps_envelope
from celeriac.protocol.message import Message
from celeriac.protocol.task_message import decode
from celeriac.worker.job import Job, request_for
from celeriac.worker.task_events import TaskEvents


class EncodingBroadcast:
    """A Broadcast transport that encodes what it is given and sends nothing."""

    def __init__(self) -> None:
        self.messages = 0
        self.nbytes = 0

    async def apublish_fanout(self, message: Message, exchange: str, routing_key: str = "") -> None:
        properties = dict(message.properties)
        properties["delivery_info"] = {"exchange": exchange, "routing_key": routing_key}
        raw = dumps_envelope(
            Message(
                message.body,
                message.content_type,
                message.content_encoding,
                message.headers,
                properties,
            )
        )
        self.messages += 1
        self.nbytes += len(raw)

    def publish_fanout(self, *args: Any) -> None:
        pass

    async def subscribe_fanout(self, *args: Any, **kwargs: Any) -> None:
        pass

    def bind_queue(self, *args: Any) -> None:
        pass

    def publish_routed(self, *args: Any) -> int:
        return 0

    async def apublish_routed(self, *args: Any) -> int:
        return 0

    def pop_message(self, *args: Any) -> None:
        return None

    def delete_queue(self, *args: Any) -> None:
        pass


async def _jobs(app: Celery, count: int) -> list[Job]:
    sent = [app.send_task("noop") for _ in range(count)]
    transport = app.transport
    await transport.open()
    deliveries: list[Any] = []
    while len(deliveries) < len(sent):
        deliveries += await transport.fetch(["celery"], 500, 1.0)
    jobs = []
    for delivery in deliveries:
        call = decode(delivery.message)
        jobs.append(Job(delivery, call, app.tasks["noop"], request_for(call, delivery, "w@h")))
    return jobs


async def one_run(tasks: int) -> tuple[float, int, float]:
    """(µs of CPU per task, messages, bytes per task) of one run."""
    app = Celery("micro", broker=f"memory://events-micro-{time.monotonic_ns()}")

    @app.task(name="noop")
    def noop() -> None:
        return None

    app.finalize()
    broadcast = EncodingBroadcast()
    app.new_transport = lambda: broadcast  # type: ignore[assignment,method-assign,return-value]
    events = TaskEvents(app, enabled=True)
    events.opened("w@h")
    jobs = await _jobs(app, min(tasks, 2000))
    outcome = Outcome(OutcomeKind.SUCCESS, retval=None, runtime=0.0001)
    rounds = max(1, tasks // len(jobs))
    start = time.process_time()
    for _ in range(rounds):
        for job in jobs:
            events.received(job)
            events.started(job)
            events.finished(job, outcome)
        await asyncio.sleep(0)  # a loop turn: batches leave
    await events.closing("w@h")
    spent = time.process_time() - start
    done = rounds * len(jobs)
    return spent / done * 1e6, broadcast.messages, broadcast.nbytes / done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    costs = []
    for _ in range(args.repeat):
        cost, messages, per_task = asyncio.run(one_run(args.tasks))
        costs.append(cost)
        print(f"{cost:6.1f} us CPU/task, {messages} messages, {per_task:.0f} bytes/task")
    print(f"median {statistics.median(costs):.1f} us CPU per task (3 events)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
