"""``inspect ping`` as a liveness check on RabbitMQ: the mailbox shares the consumer's link.

The worker connects as a user of its own; the test takes that user's permissions away
and closes its connections, so the worker cannot consume. A worker whose mailbox had a
connection of its own could answer ``ping`` then; this one must not, and must answer
again (and run tasks) once it consumes again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from celeriac import Celery
from helpers.processes import wait_until
from helpers.services import AppFactory, WorkerFactory, amqp_session_vhost, rabbitmqctl

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def transport_kind() -> str:
    """RabbitMQ only."""
    return "amqp"


@pytest.fixture
def worker_user() -> Iterator[tuple[str, str]]:
    """A RabbitMQ user allowed on the session's vhost: ``(name, vhost)``."""
    name = f"liveness-{uuid.uuid4().hex[:8]}"
    vhost = urlsplit(amqp_session_vhost()).path[1:]
    rabbitmqctl("add_user", name, "pw")
    try:
        rabbitmqctl("set_permissions", "-p", vhost, name, ".*", ".*", ".*")
        yield name, vhost
    finally:
        rabbitmqctl("delete_user", name, check=False)


def _connections_of(user: str) -> list[str]:
    lines = rabbitmqctl("--no-table-headers", "list_connections", "user", "pid").splitlines()
    return [parts[1] for parts in map(str.split, lines) if len(parts) == 2 and parts[0] == user]


def _close_connections_of(user: str) -> int:
    pids = _connections_of(user)
    for pid in pids:
        rabbitmqctl("close_connection", pid, "liveness test", check=False)
    return len(pids)


def _pings(app: Celery) -> dict[str, object]:
    return dict(app.control.inspect(timeout=1.0).ping() or {})


def test_ping_fails_while_the_worker_cannot_consume(
    make_app: AppFactory, worker: WorkerFactory, worker_user: tuple[str, str]
) -> None:
    user, vhost = worker_user
    client = make_app()
    served = make_app()
    parts = urlsplit(str(served.conf.broker_url))
    served.conf.broker_url = urlunsplit(parts._replace(netloc=f"{user}:pw@{parts.hostname}:5672"))

    @served.task(name="live.add")
    def add(x: int, y: int) -> int:
        return x + y

    running = worker(served)
    assert _pings(client) == {running.hostname: {"ok": "pong"}}

    rabbitmqctl("clear_permissions", "-p", vhost, user)
    assert _close_connections_of(user) >= 1
    time.sleep(1.0)
    for _ in range(3):  # the broker refuses it: no answer, however often asked
        assert _pings(client) == {}

    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    wait_until(lambda: _pings(client) == {running.hostname: {"ok": "pong"}}, timeout=90)
    assert client.send_task("live.add", (2, 3)).get(timeout=30) == 5
