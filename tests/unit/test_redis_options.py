"""Redis connection options as connection_kwargs reads them (no server needed)."""

from __future__ import annotations

import pytest

from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.redis_url import connection_kwargs, parse_redis_url

TARGET = parse_redis_url("redis://localhost/1")


def test_timeouts_are_seconds_given_as_numbers_or_strings():
    kwargs = connection_kwargs(
        TARGET,
        {"socket_timeout": "2.5", "socket_connect_timeout": "", "health_check_interval": 10},
        use_ssl=None,
    )
    assert kwargs["socket_timeout"] == 2.5
    assert kwargs["socket_connect_timeout"] is None  # unset
    assert kwargs["health_check_interval"] == 10.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("socket_timeout", "soon"), ("socket_connect_timeout", [1]), ("health_check_interval", "")],
)
def test_a_timeout_that_is_not_seconds_names_the_option(name, value):
    with pytest.raises(ImproperlyConfigured, match=f"Redis option '{name}' expects seconds"):
        connection_kwargs(TARGET, {name: value}, use_ssl=None)
