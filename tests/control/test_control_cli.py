"""``celeriac control``'s positional arguments, parsed as Celery's CLI parses them."""

from __future__ import annotations

import click
import pytest

from celeriac.cli.control import _arguments


def test_arguments_of_each_command() -> None:
    assert _arguments("revoke", ("a", "b")) == {
        "task_id": ["a", "b"],
        "terminate": False,
        "signal": "SIGTERM",
    }
    assert _arguments("terminate", ("SIGKILL", "a")) == {
        "signal": "SIGKILL",
        "task_id": ["a"],
        "terminate": True,
    }
    assert _arguments("rate_limit", ("tasks.add", "10/m")) == {
        "task_name": "tasks.add",
        "rate_limit": "10/m",
    }
    assert _arguments("time_limit", ("tasks.add", "60", "120")) == {
        "task_name": "tasks.add",
        "soft": 60.0,
        "hard": 120.0,
    }
    assert _arguments("add_consumer", ("q",)) == {
        "queue": "q",
        "exchange": None,
        "exchange_type": "direct",
        "routing_key": None,
    }
    assert _arguments("pool_grow", ()) == {"n": 1}
    assert _arguments("autoscale", ("4", "2")) == {"max": 4, "min": 2}
    assert _arguments("shutdown", ()) == {}


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("revoke", ()),
        ("terminate", ("SIGKILL",)),
        ("rate_limit", ("tasks.add",)),
        ("autoscale", ("x", "1")),
        ("cancel_consumer", ()),
        ("shutdown", ("now",)),
    ],
)
def test_bad_arguments_are_usage_errors(method: str, args: tuple[str, ...]) -> None:
    with pytest.raises(click.UsageError):
        _arguments(method, args)
