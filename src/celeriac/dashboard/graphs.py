"""The graphs page's data: throughput per task name, runtime percentiles, failures and
queue lengths over a time window, in fixed-width buckets."""

from __future__ import annotations

import math
from collections import defaultdict

from celeriac.dashboard.store import TaskStore

__all__ = ["graph_data", "percentile"]


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of sorted ``values`` (nearest rank); 0.0 when empty."""
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, math.ceil(fraction * len(values)) - 1))
    return values[index]


def graph_data(
    store: TaskStore, since: float, until: float, buckets: int = 60
) -> dict[str, object]:
    """Series for the window ``[since, until]`` split into ``buckets`` buckets.

    Returns ``{"since", "until", "step", "throughput": {name: [count per bucket]},
    "failures": [count per bucket], "runtime": {name: {"p50", "p95", "count"}},
    "queues": {queue: [[at, length], ...]}}``.
    """
    buckets = max(1, min(buckets, 500))
    step = max((until - since) / buckets, 1e-6)
    throughput: dict[str, list[int]] = defaultdict(lambda: [0] * buckets)
    failures = [0] * buckets
    runtimes: dict[str, list[float]] = defaultdict(list)
    for name, state, at, runtime in store.finished_since(since, until):
        index = min(buckets - 1, int((at - since) / step))
        throughput[name][index] += 1
        if state == "FAILURE":
            failures[index] += 1
        else:
            runtimes[name].append(runtime)
    runtime_stats = {}
    for name, values in runtimes.items():
        values.sort()
        runtime_stats[name] = {
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
            "count": len(values),
        }
    queues: dict[str, list[list[float]]] = defaultdict(list)
    for at, queue, length in store.queue_samples(since):
        if at <= until:
            queues[queue].append([at, length])
    return {
        "since": since,
        "until": until,
        "step": step,
        "throughput": dict(throughput),
        "failures": failures,
        "runtime": runtime_stats,
        "queues": dict(queues),
    }
