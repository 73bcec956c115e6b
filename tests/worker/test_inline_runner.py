"""InlineRunner: which sync bodies run on the loop thread, and their leases meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from celeriac.pools.inline import InlineRunner


def test_a_name_runs_inline_after_five_short_threaded_runs_in_a_row() -> None:
    runner = InlineRunner(lambda leases: None, period=60)
    for _ in range(4):
        runner.record("t", 0.001, inline=False)
    assert not runner.allows("t")
    runner.record("t", 0.2, inline=False)  # one slow run starts the count again
    for _ in range(4):
        runner.record("t", 0.001, inline=False)
    assert not runner.allows("t")
    runner.record("t", 0.001, inline=False)
    assert runner.allows("t")
    assert not runner.allows("other")


def test_a_long_inline_run_sends_the_name_back_to_the_thread_for_good() -> None:
    runner = InlineRunner(lambda leases: None, period=60)
    for _ in range(5):
        runner.record("t", 0.001, inline=False)
    runner.record("t", 0.3, inline=True)
    assert not runner.allows("t")
    for _ in range(10):
        runner.record("t", 0.001, inline=False)
    assert not runner.allows("t")


async def test_inline_body_sees_no_running_loop_and_the_loop_comes_back() -> None:
    runner = InlineRunner(lambda leases: None, period=60)
    loop = asyncio.get_running_loop()

    async def inner() -> int:
        return 7

    # a sync body may call asyncio.run(), as it could on a task thread
    assert runner.run(lambda: asyncio.run(inner()), []) == 7
    assert asyncio.get_running_loop() is loop
    runner.close()


async def test_watchdog_renews_the_lease_of_a_body_that_runs_long() -> None:
    renewed: list[Sequence[Any]] = []
    runner = InlineRunner(renewed.append, period=0.2)
    lease = object()
    runner.run(lambda: time.sleep(0.7), [lease])
    assert len(renewed) >= 2 and all(leases == [lease] for leases in renewed)
    count = len(renewed)
    time.sleep(0.4)  # nothing runs: nothing is renewed
    assert len(renewed) == count
    runner.close()
