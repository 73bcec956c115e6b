"""Sentinel failover: the master dies, Sentinel promotes the replica, nothing is lost.

Own servers only: a master, its replica and one Sentinel on free ports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis_support import OwnRedis

from celeriac.backends.base import BackendOptions
from celeriac.backends.redis import RedisBackend
from celeriac.protocol.message import Message
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def message(n: int) -> Message:
    return Message(
        body=b"[[], {}, {}]",
        headers={"task": "tasks.x", "id": f"task-{n}"},
        properties={"correlation_id": f"task-{n}"},
    )


def master_port(sentinel: OwnRedis) -> int:
    client = redis.Redis(port=sentinel.port)
    try:
        _host, port = client.execute_command("SENTINEL", "get-master-addr-by-name", "mymaster")
        return int(port)
    finally:
        client.close()


def wait_until_sentinel_knows(sentinel: OwnRedis, replica: OwnRedis, timeout: float = 30) -> None:
    """Sentinel learns a master's replicas from its INFO, every 10 s: a master stopped
    before Sentinel saw the replica can never be failed over."""
    client = redis.Redis(port=sentinel.port, decode_responses=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            replicas = client.execute_command("SENTINEL", "replicas", "mymaster")
            ports = set()
            for entry in replicas:
                fields = (
                    dict(zip(entry[::2], entry[1::2], strict=True))
                    if isinstance(entry, list)
                    else entry
                )
                if "disconnected" not in str(fields.get("flags", "")):
                    ports.add(int(fields["port"]))
            if replica.port in ports:
                return
            assert time.monotonic() < deadline, f"Sentinel never listed the replica: {replicas}"
            time.sleep(0.2)
    finally:
        client.close()


async def test_worker_side_and_producers_follow_a_failover(
    own_servers: Callable[..., OwnRedis], tmp_path: Path
) -> None:
    master = own_servers()
    replica = own_servers(extra=("--replicaof", "127.0.0.1", str(master.port)))
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds mymaster 500\n"
        "sentinel failover-timeout mymaster 3000\n"
    )
    sentinel = own_servers(extra=(str(config),), sentinel=True)
    url = f"sentinel://127.0.0.1:{sentinel.port}/0"
    options = {"master_name": "mymaster", "connection_retry_window": 30}
    transport = RedisTransport(url, TransportOptions(extra=options))
    backend = RedisBackend(
        url,
        BackendOptions(
            extra={
                **options,
                "retry_policy": {
                    "max_retries": 60,
                    "interval_start": 0.2,
                    "interval_step": 0.2,
                    "interval_max": 0.5,
                },
            }
        ),
    )
    await transport.open()
    for n in range(20):
        transport.publish(message(n), "celery")
    first = await transport.fetch(["celery"], 5, 2.0)
    assert len(first) == 5
    await transport.ack(first)
    backend.store("before", {"status": "SUCCESS", "result": 1, "task_id": "before"})
    # the replica has everything before the master goes
    writer = redis.Redis(port=master.port)
    assert writer.execute_command("WAIT", 1, 5000) == 1
    writer.close()
    wait_until_sentinel_knows(sentinel, replica)

    master.stop()
    deadline = time.monotonic() + 30
    while master_port(sentinel) != replica.port:
        assert time.monotonic() < deadline, "Sentinel did not promote the replica"
        time.sleep(0.2)

    # the same transport and backend objects reach the new master
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 15 and time.monotonic() < deadline:
        got += await transport.fetch(["celery"], 20, 1.0)
    assert sorted(d.message.headers["id"] for d in got if d.message) == sorted(
        f"task-{n}" for n in range(5, 20)
    )
    await transport.ack(got)
    transport.publish(message(99), "celery")
    [late] = await transport.fetch(["celery"], 5, 5.0)
    assert late.message is not None and late.message.headers["id"] == "task-99"
    await transport.ack([late])
    assert backend.get("before") is not None
    backend.store("after", {"status": "SUCCESS", "result": 2, "task_id": "after"})
    assert backend.wait_for("after", timeout=5)["result"] == 2
    assert redis.Redis(port=replica.port).exists("celery-task-meta-after") == 1
    await transport.aclose()
    transport.close()
    backend.close()
