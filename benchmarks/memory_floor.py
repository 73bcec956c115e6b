"""W5's floor: the PSS of a parent and two forked children doing what any asyncio + redis-py
worker must, with or without celeriac's modules loaded.

    python benchmarks/memory_floor.py bare       # asyncio and redis.asyncio only
    python benchmarks/memory_floor.py celeriac   # plus celeriac's worker, CLI and Redis modules

Each child opens an asyncio loop and a redis-py asyncio connection (PING), then idles;
``gc.freeze()`` runs before the fork, as celeriac's prefork pool does. Prints the PSS
summed over the three processes and each one's USS, in MB. Needs Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time

import psutil


async def _child() -> None:
    import redis.asyncio

    client = redis.asyncio.Redis(db=14)
    await client.ping()
    await asyncio.sleep(3)
    await client.aclose()


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "bare"
    import redis.asyncio  # noqa: F401

    if mode == "celeriac":
        import celeriac.backends.redis
        import celeriac.cli.main
        import celeriac.transports.redis
        import celeriac.worker.worker  # noqa: F401
    gc.freeze()
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            asyncio.run(_child())
            os._exit(0)
        pids.append(pid)
    time.sleep(2)
    procs = [psutil.Process(), *(psutil.Process(pid) for pid in pids)]
    infos = [proc.memory_full_info() for proc in procs]
    pss = sum(info.pss for info in infos) / 2**20
    uss = ", ".join(f"{info.uss / 2**20:.1f}" for info in infos)
    print(f"{mode}: PSS sum {pss:.1f} MB; USS parent, children: {uss} MB")
    for pid in pids:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
