"""App settings reach the Redis transport and backend (``redis_*``, ``broker_*``, expiry)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
import redis
from redis_support import OwnRedis

from celeriac import Celery, states
from celeriac.exceptions import BrokerError
from celeriac.protocol.results import build_meta as result_meta
from helpers.services import free_port, redis_url


def test_redis_password_setting_is_used_when_the_url_has_none(
    own_servers: Callable[..., OwnRedis],
) -> None:
    server = own_servers()
    admin = redis.Redis(port=server.port)
    admin.config_set("requirepass", "s3cret")
    admin.close()
    url = f"redis://127.0.0.1:{server.port}/0"
    app = Celery("t", broker="memory://", backend=url, redis_password="s3cret")
    try:
        app.backend.store_many([("t-1", result_meta("t-1", states.SUCCESS, 4))])
        assert app.AsyncResult("t-1").get(timeout=5) == 4
    finally:
        app.close()
    wrong = Celery(
        "t",
        broker="memory://",
        backend=url,
        redis_password="nope",
        result_backend_transport_options={"retry_policy": {"max_retries": 0}},
    )
    try:
        with pytest.raises(Exception, match=r"(?i)password|auth"):
            wrong.backend.get("t-1")
    finally:
        wrong.close()


def test_result_failure_expires_gives_failures_their_own_ttl(
    rclient: redis.Redis, prefix: str
) -> None:
    app = Celery(
        "t",
        broker="memory://",
        backend=redis_url(),
        result_expires=1000,
        result_failure_expires=30,
        result_backend_transport_options={"global_keyprefix": prefix},
    )
    try:
        ok, bad = uuid.uuid4().hex, uuid.uuid4().hex
        app.backend.store_many(
            [
                (ok, result_meta(ok, states.SUCCESS, 1)),
                (
                    bad,
                    result_meta(
                        bad,
                        states.FAILURE,
                        {"exc_type": "ValueError", "exc_message": ["x"], "exc_module": "builtins"},
                    ),
                ),
            ]
        )
        assert 990 < rclient.ttl(f"{prefix}celery-task-meta-{ok}") <= 1000
        assert 20 < rclient.ttl(f"{prefix}celery-task-meta-{bad}") <= 30
    finally:
        app.close()


def test_redis_socket_settings_reach_the_backend_connection() -> None:
    app = Celery(
        "t",
        broker="memory://",
        backend=redis_url(),
        redis_socket_timeout=7.5,
        redis_socket_connect_timeout=2.5,
        redis_backend_health_check_interval=11,
        redis_retry_on_timeout=True,
        result_backend_transport_options={"socket_timeout": 9.0},
    )
    try:
        kwargs = app.backend._conn_kwargs  # type: ignore[attr-defined]
        # transport options win over the redis_* settings, as in Celery
        assert kwargs["socket_timeout"] == 9.0
        assert kwargs["socket_connect_timeout"] == 2.5
        assert kwargs["health_check_interval"] == 11.0
        assert kwargs["retry_on_timeout"] is True
    finally:
        app.close()


async def test_redis_socket_timeout_none_means_no_timeout(prefix: str) -> None:
    # Celery passes the setting to redis-py as it is; None there means "never time out".
    app = Celery(
        "t",
        broker="memory://",
        backend=redis_url(),
        redis_socket_timeout=None,
        result_backend_transport_options={"global_keyprefix": prefix},
    )
    try:
        assert "socket_timeout" not in app.backend._conn_kwargs  # type: ignore[attr-defined]
        sync_id, async_id = uuid.uuid4().hex, uuid.uuid4().hex
        app.backend.store_many([(sync_id, result_meta(sync_id, states.SUCCESS, 1))])
        await app.backend.astore_many([(async_id, result_meta(async_id, states.SUCCESS, 2))])
        assert await app.AsyncResult(sync_id).aget(timeout=5) == 1
        assert await app.AsyncResult(async_id).aget(timeout=5) == 2
    finally:
        app.close()


async def test_broker_connection_retry_on_startup_off_fails_at_once() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = Celery("t", broker=url, backend="memory://", broker_connection_retry_on_startup=False)
    transport = app.new_transport()
    started = time.monotonic()
    with pytest.raises(BrokerError, match="cannot connect"):
        await transport.open()
    assert time.monotonic() - started < 2
    transport.close()
    app.close()


async def test_broker_connection_max_retries_bounds_startup_retries() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = Celery("t", broker=url, backend="memory://", broker_connection_max_retries=2)
    transport = app.new_transport()
    with pytest.raises(BrokerError, match="cannot connect"):
        await transport.open()
    transport.close()
    app.close()
