"""How soon a new task is visible on the celeriac dashboard's live stream (for
``dashboard_bench.py``): a client of ``/api/v1/stream`` notes when each task id first
arrives; the marker tasks' publish times (kept in Redis by the publisher) give the delay.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import httpx
import redis

__all__ = ["summary", "watch_stream"]


def watch_stream(base: str, broker: str, markers: str, stopping: Any, results: Any) -> None:
    """Read the server-sent events until told to stop; put ``("stream", (delays, missed,
    resyncs))``: for each marker task, seconds from its ``task-received`` being published
    to its first appearance in a ``tasks`` update."""
    first_seen: dict[str, float] = {}
    resyncs = 0
    timeout = httpx.Timeout(10.0, read=1.0)
    with httpx.Client(base_url=base, timeout=timeout) as client:
        while not stopping.is_set():
            with (
                contextlib.suppress(httpx.HTTPError),
                client.stream("GET", "/api/v1/stream") as response,
            ):
                for line in response.iter_lines():
                    if stopping.is_set():
                        break
                    if not line.startswith("data: "):
                        continue
                    now = time.time()
                    update = json.loads(line[6:])
                    if update.get("type") == "resync":
                        resyncs += 1
                    for task in update.get("tasks") or ():
                        first_seen.setdefault(task["uuid"], now)
    sent = {
        raw.decode(): float(at) for raw, at in redis.Redis.from_url(broker).hgetall(markers).items()
    }
    delays = [first_seen[tid] - at for tid, at in sent.items() if tid in first_seen]
    results.put(("stream", (delays, len(sent) - len(delays), resyncs)))


def summary(values: list[float], prefix: str) -> dict[str, float]:
    """``<prefix>_p50_s``, ``_p95_s`` and ``_max_s`` of ``values`` (NaN when empty)."""
    ordered = sorted(values)

    def pct(fraction: float) -> float:
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.5) - 1))]

    return {
        f"{prefix}_p50_s": pct(0.5),
        f"{prefix}_p95_s": pct(0.95),
        f"{prefix}_max_s": ordered[-1] if ordered else float("nan"),
    }
