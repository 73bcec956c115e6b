"""Ways to reach Redis: URL forms, options, a unix socket, TLS and Sentinel (own servers)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis_support import OwnRedis

from celeriac.backends.base import BackendOptions
from celeriac.backends.redis import RedisBackend
from celeriac.backends.registry import backend_class
from celeriac.exceptions import BrokerError, ImproperlyConfigured
from celeriac.protocol.message import Message
from celeriac.transports.base import TransportOptions
from celeriac.transports.redis import RedisTransport
from celeriac.transports.registry import transport_class
from celeriac.utils.redis_url import connection_kwargs, parse_redis_url, redacted_url
from helpers.services import free_port


def message(n: int) -> Message:
    return Message(
        body=b"[[], {}, {}]",
        headers={"task": "tasks.x", "id": f"task-{n}"},
        properties={"correlation_id": f"task-{n}"},
    )


# -- URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["redis", "rediss", "redis+socket", "sentinel"])
def test_schemes_are_registered(scheme: str) -> None:
    url = f"{scheme}://localhost/0"
    assert transport_class(url) is RedisTransport
    assert backend_class(url) is RedisBackend


def test_parse_tcp_url() -> None:
    target = parse_redis_url("redis://user:p%40ss@example.com:6380/3?socket_timeout=2")
    assert (target.kind, target.host, target.port, target.db) == ("tcp", "example.com", 6380, 3)
    assert (target.username, target.password, target.ssl) == ("user", "p@ss", False)
    assert target.query == {"socket_timeout": "2"}
    assert parse_redis_url("redis://").host == "localhost"
    assert parse_redis_url("redis://:secret@h").password == "secret"


def test_parse_socket_url() -> None:
    target = parse_redis_url("redis+socket:///run/redis.sock?virtual_host=4")
    assert (target.kind, target.path, target.db) == ("unix", "/run/redis.sock", 4)
    assert parse_redis_url("socket:///tmp/r.sock?db=2").db == 2


def test_parse_sentinel_url() -> None:
    target = parse_redis_url("sentinel://:pw@s1:26379/2;sentinel://s2;sentinel://s3:26380")
    assert target.kind == "sentinel"
    assert target.sentinels == (("s1", 26379), ("s2", 26379), ("s3", 26380))
    assert (target.db, target.password) == (2, "pw")


def test_bad_urls() -> None:
    with pytest.raises(ImproperlyConfigured, match="database"):
        parse_redis_url("redis://localhost/notanumber")
    with pytest.raises(ImproperlyConfigured, match="not a Redis URL"):
        parse_redis_url("amqp://localhost")
    with pytest.raises(ImproperlyConfigured, match="rediss"):
        connection_kwargs(parse_redis_url("redis://h/0?ssl_cert_reqs=required"), {}, use_ssl=None)


def test_redacted_url() -> None:
    assert redacted_url("redis://:secret@h:1/0") == "redis://:**@h:1/0"
    assert "secret" not in redacted_url("sentinel://:secret@a;sentinel://:secret@b")


def test_ssl_options() -> None:
    kwargs = connection_kwargs(
        parse_redis_url("rediss://h/0?ssl_cert_reqs=CERT_OPTIONAL"),
        {},
        use_ssl={"ssl_ca_certs": "/ca.pem", "cert_reqs": ssl.CERT_REQUIRED},
    )
    assert kwargs["connection_type"] == "ssl"
    assert kwargs["ssl_cert_reqs"] == "optional"  # the URL wins
    assert kwargs["ssl_ca_certs"] == "/ca.pem"
    with pytest.raises(ImproperlyConfigured, match="ssl_cert_reqs"):
        connection_kwargs(parse_redis_url("rediss://h/0?ssl_cert_reqs=maybe"), {}, use_ssl=None)


def test_transport_options_are_read() -> None:
    transport = RedisTransport(
        "redis://localhost/0?global_keyprefix=q_",
        TransportOptions(
            visibility_timeout=30,
            extra={
                "global_keyprefix": "ignored_",
                "priority_steps": [0, 5],
                "sep": ":",
                "queue_order_strategy": "sorted",
                "socket_timeout": 3,
                "max_connections": 20,
                "health_check_interval": 10,
            },
        ),
    )
    assert transport.prefix == "q_"  # the URL's query wins over the options
    assert transport.list_key("jobs", 7) == "q_jobs:5"
    assert transport.list_key("jobs", 4) == "q_jobs"
    assert transport.visibility_timeout == 30
    assert transport._conn_kwargs["socket_timeout"] == 3.0
    assert transport._conn_kwargs["health_check_interval"] == 10.0
    with pytest.raises(ImproperlyConfigured, match="queue_order_strategy"):
        RedisTransport(
            "redis://localhost/0", TransportOptions(extra={"queue_order_strategy": "random"})
        )
    with pytest.raises(ImproperlyConfigured, match="master_name"):
        RedisTransport("sentinel://localhost:26379").publish(message(1), "celery")


async def test_open_gives_up_after_max_retries() -> None:
    transport = RedisTransport(
        f"redis://127.0.0.1:{free_port()}/0",
        TransportOptions(extra={"broker_connection_max_retries": 1}),
    )
    with pytest.raises(BrokerError, match="cannot connect"):
        await transport.open()
    with pytest.raises(BrokerError):
        transport.publish(message(1), "celery")


# -- other ways to connect --------------------------------------------------------------------
async def _round_trip(broker: str, backend_url: str, **options: object) -> None:
    transport = RedisTransport(broker, TransportOptions(extra=dict(options)))
    await transport.open()
    transport.publish(message(1), "celery")
    [delivery] = await transport.fetch(["celery"], 10, 2.0)
    assert delivery.message is not None and delivery.message.headers["id"] == "task-1"
    await transport.ack([delivery])
    await transport.aclose()
    transport.close()
    backend = RedisBackend(backend_url, BackendOptions(extra=dict(options)))
    backend.store("t1", {"status": "SUCCESS", "result": 1, "task_id": "t1"})
    assert backend.wait_for("t1", timeout=5)["result"] == 1
    assert (await backend.await_for("t1", timeout=5))["result"] == 1
    backend.close()


async def test_unix_socket(own_servers: Callable[..., OwnRedis], tmp_path: Path) -> None:
    path = tmp_path / "redis.sock"
    own_servers(extra=("--unixsocket", str(path), "--unixsocketperm", "700"))
    url = f"redis+socket://{path}?virtual_host=3"
    await _round_trip(url, url)
    assert redis.Redis(unix_socket_path=str(path), db=3).exists("celery-task-meta-t1") == 1


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")
    )
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for argv in (
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "1",
            "-subj",
            "/CN=celeriac-test-ca",
        ],
        [
            "openssl",
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "1",
            "-extfile",
            ext,
        ],
    ):
        subprocess.run([str(a) for a in argv], check=True, capture_output=True)
    return ca, cert, key


async def test_tls(own_servers: Callable[..., OwnRedis], tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    port = free_port()
    own_servers(
        port=0,
        extra=(
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(ca),
            "--tls-auth-clients",
            "no",
        ),
    )
    probe = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(ca))
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    await _round_trip(url, url)
    # broker_use_ssl-style settings work too, and a wrong CA is refused.
    plain = f"rediss://127.0.0.1:{port}/0"
    await _round_trip(
        plain,
        plain,
        broker_use_ssl={"ssl_ca_certs": str(ca)},
        redis_backend_use_ssl={"ssl_ca_certs": str(ca)},
    )
    (tmp_path / "other").mkdir()
    other_ca, _, _ = _certificates(tmp_path / "other")
    refused = RedisTransport(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={other_ca}")
    with pytest.raises(BrokerError):
        refused.publish(message(1), "celery")


async def test_sentinel(own_servers: Callable[..., OwnRedis], tmp_path: Path) -> None:
    master = own_servers()
    sentinels = []
    for n in range(2):
        config = tmp_path / f"sentinel-{n}.conf"
        config.write_text(
            f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
            "sentinel down-after-milliseconds mymaster 60000\n"
        )
        sentinels.append(own_servers(extra=(str(config),), sentinel=True))
    url = ";".join(f"sentinel://127.0.0.1:{s.port}/2" for s in sentinels)
    await _round_trip(url, url, master_name="mymaster")
    assert redis.Redis(port=master.port, db=2).exists("celery-task-meta-t1") == 1
