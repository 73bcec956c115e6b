#!/usr/bin/env python3
"""Two celeriac trees side by side in one run: did a change make the worker slower?

Runs the SQLite benchmark (``sqlite_bench.py``) and the Redis workloads W1-W3
(``redis_bench.py --no-celery``) once per round for each tree, alternating
``before, after, before, after …`` so that a change in the machine's load hits both, and
prints the median of each figure with the ratio after / before.

    git archive <commit> src | tar -x -C /tmp/before && echo <commit> > /tmp/before/src/.commit
    python benchmarks/compare_trees.py --before /tmp/before/src --after src --rounds 3

Each tree is put first on ``PYTHONPATH`` of the benchmark process (which passes it on to
its workers and producers). ``--tasks`` sets the drain size of both benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Metric:
    """One figure of one benchmark, and which way is better."""

    bench: str
    key: str
    label: str
    unit: str
    higher_is_better: bool


METRICS = (
    Metric("sqlite", "publish_rate", "SQLite publish", "/s", True),
    Metric("sqlite", "drain_prefork_rate", "SQLite drain, `def`, prefork -c 2", "/s", True),
    Metric("sqlite", "drain_async_rate", "SQLite drain, `async def`, prefork -c 2", "/s", True),
    Metric("sqlite", "latency_p50_ms", "SQLite round trip p50", "ms", False),
    Metric("sqlite", "latency_p99_ms", "SQLite round trip p99", "ms", False),
    Metric("sqlite", "worker_pss_mb", "SQLite worker peak PSS", "MB", False),
    Metric("redis", "w1_publish_rate", "Redis W1 publish", "/s", True),
    Metric("redis", "w2_sync_rate", "Redis W2 drain, `def`, prefork -c 2", "/s", True),
    Metric("redis", "w2_async_rate", "Redis W2 drain, `async def`, prefork -c 2", "/s", True),
    Metric("redis", "w3_p50_ms", "Redis W3 round trip p50", "ms", False),
    Metric("redis", "w3_p99_ms", "Redis W3 round trip p99", "ms", False),
    Metric("redis", "w5_pss_mb", "Redis worker peak PSS", "MB", False),
)


def run_bench(bench: str, src: Path, tasks: int, calls: int) -> dict[str, float]:
    """One run of one benchmark with ``src`` first on the path; its figures."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="compare-trees-") as tmp:
        out = Path(tmp) / "figures.json"
        if bench == "sqlite":
            command = [sys.executable, str(HERE / "sqlite_bench.py"), "--runs", "1"]
        else:
            command = [sys.executable, str(HERE / "redis_bench.py"), "--runs", "1"]
            command += ["--no-celery", "--only", "W1,W2,W3,W5", "--celeriac-src", str(src)]
        command += ["--tasks", str(tasks), "--latency-calls", str(calls), "--json", str(out)]
        # The exit status says whether a target was met; the figures are what we compare.
        subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
        if not out.exists():
            raise RuntimeError(f"{bench} benchmark wrote no figures for {src}")
        payload = json.loads(out.read_text())
    if bench == "sqlite":
        return {k: float(v) for k, v in (payload.get("celeriac") or {}).items()}
    runs = payload["runs"]["celeriac"]
    return {k: float(v) for k, v in runs[0].items()}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}{unit}" if unit == "/s" else f"{value:,.2f} {unit}"


def table(figures: dict[str, dict[str, list[float]]], names: tuple[str, str]) -> str:
    before, after = names
    lines = [
        f"| measure | {before} | {after} | after / before | better is |",
        "| --- | ---: | ---: | ---: | :---: |",
    ]
    for metric in METRICS:
        values = [figures[name].get(f"{metric.bench}.{metric.key}", []) for name in names]
        if not all(values):
            continue
        medians = [statistics.median(v) for v in values]
        ratio = medians[1] / medians[0] if medians[0] else float("nan")
        lines.append(
            f"| {metric.label} | {fmt(medians[0], metric.unit)} | {fmt(medians[1], metric.unit)}"
            f" | {ratio:.2f} | {'higher' if metric.higher_is_better else 'lower'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the src/ of the old tree")
    parser.add_argument("--after", type=Path, required=True, help="the src/ of the new tree")
    parser.add_argument("--rounds", type=int, default=3, help="runs per tree; medians reported")
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per drain")
    parser.add_argument("--latency-calls", type=int, default=1000, help="round trips")
    parser.add_argument("--only", default="sqlite,redis", help="benchmarks to run")
    parser.add_argument("--json", dest="json_path", type=Path, help="also write every figure")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    benches = [b.strip() for b in args.only.split(",") if b.strip()]
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    for round_index in range(args.rounds):
        for bench in benches:
            for name, src in trees.items():
                print(
                    f"round {round_index + 1}/{args.rounds}: {bench}, {name} ({src}) …",
                    file=sys.stderr,
                    flush=True,
                )
                got = run_bench(bench, src, args.tasks, args.latency_calls)
                for key, value in got.items():
                    figures[name].setdefault(f"{bench}.{key}", []).append(value)
    commits = {name: _commit(src) for name, src in trees.items()}
    print(
        f"\n{args.tasks:,} tasks per drain, {args.latency_calls:,} round trips, median of "
        f"{args.rounds} alternating round(s); before = {commits['before']}, "
        f"after = {commits['after']}; load average {os.getloadavg()[0]:.1f}\n"
    )
    print(table(figures, ("before", "after")))
    if args.json_path:
        args.json_path.write_text(
            json.dumps({"trees": commits, "figures": figures}, indent=2) + "\n"
        )
    return 0


def _commit(src: Path) -> str:
    marker = src / ".commit"
    if marker.exists():
        return marker.read_text().strip()
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True
    )
    return done.stdout.strip() or str(src)


if __name__ == "__main__":
    sys.exit(main())
