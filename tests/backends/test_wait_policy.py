"""The one wait policy the Redis backend's ``get()`` and ``aget()`` share (no Redis needed)."""

from __future__ import annotations

import time

import pytest

from celeriac.backends.redis.wait import WaitPolicy
from celeriac.exceptions import TimeoutError


def test_no_timeout_waits_for_ever() -> None:
    policy = WaitPolicy("t1", None, (), lambda exc, delay: None)
    assert policy.remaining() is None


def test_remaining_counts_down_then_times_out() -> None:
    policy = WaitPolicy("t1", 0.05, (), lambda exc, delay: None)
    remaining = policy.remaining()
    assert remaining is not None and 0 < remaining <= 0.05
    time.sleep(0.06)
    with pytest.raises(TimeoutError, match="waiting for task t1"):
        policy.remaining()


def test_pauses_follow_the_retry_policy_then_one_second() -> None:
    lost: list[tuple[str, float]] = []
    policy = WaitPolicy("t1", None, (0.0, 0.5), lambda exc, delay: lost.append((str(exc), delay)))
    pauses = [policy.pause_after(ConnectionError(f"down {n}")) for n in range(3)]
    assert pauses == [0.0, 0.5, 1.0]
    assert lost == [("down 0", 0.0), ("down 1", 0.5), ("down 2", 1.0)]


def test_a_pause_never_outlasts_the_deadline() -> None:
    policy = WaitPolicy("t1", 0.2, (5.0,), lambda exc, delay: None)
    pause = policy.pause_after(ConnectionError("down"))
    assert 0 < pause <= 0.2


def test_an_error_past_the_deadline_times_out_from_it() -> None:
    policy = WaitPolicy("t1", 0.01, (), lambda exc, delay: None)
    time.sleep(0.02)
    error = ConnectionError("down")
    with pytest.raises(TimeoutError) as info:
        policy.pause_after(error)
    assert info.value.__cause__ is error
