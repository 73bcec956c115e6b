"""The services the tests talk to (Redis, RabbitMQ, PostgreSQL, MariaDB): where they are, the rule
when one is down, and a namespace of its own for every test.

The rule (DESIGN.md, "Conventions"): a test that needs a service that is not there is
skipped, or fails when ``CI`` is set, so a CI run never passes by skipping. Every conftest
takes its services from here:

- Redis: one database per xdist worker (``1 + n`` for ``gw<n>``, 1 without xdist) and
  one ``global_keyprefix`` per test (:func:`redis_keyspace`), whose keys are deleted when
  the test ends; parallel runs never share a key.
- RabbitMQ, PostgreSQL and MariaDB/MySQL: :func:`rabbitmq_url`, :func:`postgres_url` and
  :func:`mysql_url` probe the server with the first bytes of its own protocol (no client
  library needed) and return its URL, or apply the rule; :func:`mysql_database` makes a
  MariaDB database of the test's own (the test user of ``scripts/services.sh`` may create
  the databases named ``celeriac_*`` and ``test_celeriac_*``).
- :data:`TRANSPORTS` and :func:`fresh_store`: the broker kinds the app/worker suites run
  on, and one fresh broker and result store of a kind for one test.

Addresses come from ``CELERIAC_TEST_REDIS`` (``host:port``), ``CELERIAC_TEST_AMQP`` and
``CELERIAC_TEST_POSTGRES``, ``CELERIAC_TEST_MYSQL`` (URLs), defaulting to the local servers.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    import redis

    from celeriac import Celery
    from celeriac.contrib.testing import TestWorkController

__all__ = [
    "MYSQL_URL",
    "POSTGRES_URL",
    "RABBITMQ_URL",
    "REDIS_HOST",
    "TRANSPORTS",
    "WITH_AMQP",
    "amqp_session_vhost",
    "AppFactory",
    "RedisKeyspace",
    "Store",
    "WorkerFactory",
    "free_port",
    "fresh_store",
    "new_prefix",
    "create_mysql_database",
    "drop_mysql_database",
    "mysql_admin",
    "mysql_database",
    "mysql_url",
    "postgres_url",
    "prefix_settings",
    "rabbitmq_url",
    "rabbitmqctl",
    "rabbitmq_vhost",
    "rabbitmq_delete_queues",
    "redis_cleanup",
    "redis_client",
    "redis_db",
    "redis_keyspace",
    "redis_url",
    "require_executable",
    "transports_except",
    "unavailable",
]

#: The broker kinds the app/worker suites (``tests/conftest.py``) run on, in test-id order.
TRANSPORTS: tuple[str, ...] = ("memory", "sqlite", "redis")
#: The same plus RabbitMQ (results in Redis): for suites that also run on AMQP (they
#: override the ``transport_kind`` fixture with these params); their queue and control
#: exchange are named after the test, not ``celery``.
WITH_AMQP: tuple[str, ...] = (*TRANSPORTS, "amqp")

REDIS_HOST = os.environ.get("CELERIAC_TEST_REDIS", "127.0.0.1:6379")
RABBITMQ_URL = os.environ.get("CELERIAC_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get("CELERIAC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
#: MariaDB (or MySQL): the test user and database that ``scripts/services.sh`` makes.
MYSQL_URL = os.environ.get(
    "CELERIAC_TEST_MYSQL", "mysql://celeriac:celeriac@127.0.0.1:3306/celeriac_test"
)

#: Seconds a probe waits for a server to answer.
PROBE_TIMEOUT = 2.0


# -- the rule --------------------------------------------------------------------------
def unavailable(reason: str) -> NoReturn:
    """Skip the test because a service is missing, or fail it when ``CI`` is set."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a missing service fails the run)")
    pytest.skip(reason)


def require_executable(name: str) -> str:
    """The path of the program ``name`` (``redis-server`` …), or :func:`unavailable`."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_prefix(tag: str) -> str:
    """A key (or queue name) prefix no other test uses: ``<tag><10 hex digits>_``."""
    return f"{tag}{uuid.uuid4().hex[:10]}_"


# -- Redis -----------------------------------------------------------------------------
def redis_db() -> int:
    """The test database of this process: ``1 + n`` for xdist worker ``gw<n>``, else 1."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") else 1


def redis_url(db: int | None = None) -> str:
    """The test Redis as a URL (kombu, Celery and celeriac read it alike)."""
    return f"redis://{REDIS_HOST}/{redis_db() if db is None else db}"


def _redis_module() -> Any:
    try:
        import redis
    except ImportError:
        unavailable("redis-py is not installed")
    return redis


def redis_client() -> redis.Redis:
    """A client of the test database (the caller closes it), or :func:`unavailable`."""
    redis_py = _redis_module()
    host, _, port = REDIS_HOST.partition(":")
    client: redis.Redis = redis_py.Redis(host=host, port=int(port or 6379), db=redis_db())
    try:
        client.ping()
    except redis_py.exceptions.ConnectionError as exc:
        client.close()
        unavailable(f"Redis at {REDIS_HOST} is not reachable: {exc}")
    return client


def redis_cleanup(client: redis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix`` (SCAN, then DEL in batches)."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def prefix_settings(prefix: str) -> dict[str, Any]:
    """App settings that keep broker and result keys (and pidbox channels) under ``prefix``."""
    return {
        "broker_transport_options": {"global_keyprefix": prefix},
        "result_backend_transport_options": {"global_keyprefix": prefix},
    }


@dataclass(frozen=True)
class RedisKeyspace:
    """One test's part of the test database: a client of it and a key prefix of its own."""

    client: redis.Redis
    prefix: str
    url: str = field(default_factory=redis_url)

    @property
    def url_with_prefix(self) -> str:
        """The URL with the prefix as a query option (``create_transport``, ``create_backend``)."""
        return f"{self.url}?global_keyprefix={self.prefix}"

    @property
    def settings(self) -> dict[str, Any]:
        """App settings that put an app's broker and result keys under the prefix."""
        return prefix_settings(self.prefix)

    def key(self, name: str) -> str:
        """The key ``name`` under the prefix."""
        return self.prefix + name


@contextmanager
def redis_keyspace(tag: str) -> Iterator[RedisKeyspace]:
    """A fresh :class:`RedisKeyspace`; at the end its keys are deleted and the client closed.

    Redis down: :func:`unavailable` (the test skips, or fails under ``CI``).
    """
    client = redis_client()
    space = RedisKeyspace(client, new_prefix(tag))
    try:
        yield space
    finally:
        try:
            redis_cleanup(client, space.prefix)
        finally:
            client.close()


# -- RabbitMQ and PostgreSQL -------------------------------------------------------------
def _probe(url: str, default_port: int, hello: bytes, answer_size: int) -> bytes:
    """Send ``hello`` to the server of ``url``; return its first ``answer_size`` bytes."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or default_port)
    with socket.create_connection(address, timeout=PROBE_TIMEOUT) as sock:
        sock.sendall(hello)
        data = b""
        while len(data) < answer_size:
            chunk = sock.recv(answer_size - len(data))
            if not chunk:
                break
            data += chunk
    return data


def rabbitmq_url() -> str:
    """The test RabbitMQ's URL once it answers the AMQP 0-9-1 header, or :func:`unavailable`.

    A broker that speaks AMQP 0-9-1 answers the protocol header with a
    ``connection.start`` method frame on channel 0 (frame type 1).
    """
    try:
        answer = _probe(RABBITMQ_URL, 5672, b"AMQP\x00\x00\x09\x01", 7)
    except OSError as exc:
        unavailable(f"RabbitMQ at {RABBITMQ_URL} is not reachable: {exc}")
    if answer[:3] != b"\x01\x00\x00":
        unavailable(f"RabbitMQ at {RABBITMQ_URL} does not speak AMQP 0-9-1 (got {answer!r})")
    return RABBITMQ_URL


_CTL: list[list[str]] = []


def rabbitmqctl(*args: str, check: bool = True) -> str:
    """Run ``rabbitmqctl -q ARGS`` against the test server; its output.

    The node is the default one, else ``rabbit@localhost`` (how ``scripts/services.sh``
    starts it); a ``rabbitmqctl`` that reaches neither makes the caller :func:`unavailable`.
    """
    import subprocess

    if not _CTL:
        path = require_executable("rabbitmqctl")
        for command in ([path], [path, "-n", "rabbit@localhost"]):
            probe = subprocess.run(
                [*command, "-q", "list_vhosts"], capture_output=True, text=True, timeout=60
            )
            if probe.returncode == 0:
                _CTL.append(command)
                break
        else:
            unavailable(f"rabbitmqctl cannot reach the test RabbitMQ: {probe.stderr.strip()}")
    done = subprocess.run(
        [*_CTL[0], "-q", *args], capture_output=True, text=True, timeout=120, check=check
    )
    return done.stdout


def _rabbitmqctl(*args: str) -> None:
    rabbitmqctl(*args)


@contextmanager
def rabbitmq_vhost(tag: str) -> Iterator[str]:
    """A virtual host of the test RabbitMQ that only the caller uses; its URL.

    Made with ``rabbitmqctl`` (about a second), so suites take one per session or module
    and delete their queues between tests (:func:`rabbitmq_delete_queues`).
    """
    base = rabbitmq_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    vhost = f"celeriac-{tag}-{worker}-{os.getpid()}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        parts = urlsplit(base)
        yield f"{parts.scheme}://{parts.netloc}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def rabbitmq_empty_vhost(url: str) -> None:
    """Delete every queue and exchange of the vhost of ``url`` but RabbitMQ's own (between
    the tests sharing a vhost: only one runs at a time in a process)."""
    vhost = urlsplit(url).path[1:] or "/"
    queues, exchanges = (
        rabbitmqctl("--no-table-headers", what, "-p", vhost, "name").split()
        for what in ("list_queues", "list_exchanges")
    )
    rabbitmq_delete_queues(url, queues, [e for e in exchanges if e and not e.startswith("amq.")])


def rabbitmq_delete_queues(url: str, names: Iterable[str], exchanges: Iterable[str] = ()) -> None:
    """Delete the queues ``names`` of the vhost of ``url`` (missing ones are fine)."""
    import amqp

    parts = urlsplit(url)
    conn = amqp.Connection(
        host=f"{parts.hostname}:{parts.port or 5672}",
        userid=parts.username or "guest",
        password=parts.password or "guest",
        virtual_host=parts.path[1:] or "/",
    )
    conn.connect()
    try:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
        for name in exchanges:
            channel.exchange_delete(name)
    finally:
        conn.close()


def postgres_url() -> str:
    """The test PostgreSQL's URL once it answers an SSLRequest, or :func:`unavailable`.

    PostgreSQL answers the SSLRequest packet (length 8, code 80877103) with one byte,
    ``S`` or ``N``, before any authentication.
    """
    try:
        answer = _probe(POSTGRES_URL, 5432, struct.pack("!ii", 8, 80877103), 1)
    except OSError as exc:
        unavailable(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
    if answer not in (b"S", b"N"):
        unavailable(f"PostgreSQL at {POSTGRES_URL} does not answer like PostgreSQL ({answer!r})")
    return POSTGRES_URL


def mysql_url() -> str:
    """The test MariaDB/MySQL's URL once it greets like one, or :func:`unavailable`.

    The server speaks first: a handshake packet (3-byte length, sequence 0) whose first
    byte is the protocol version, 10; a server that refuses the host sends an error packet.
    """
    try:
        answer = _probe(MYSQL_URL, 3306, b"", 5)
    except OSError as exc:
        unavailable(f"MariaDB at {MYSQL_URL} is not reachable: {exc}")
    if len(answer) < 5 or answer[3] != 0 or answer[4] != 10:
        unavailable(f"MariaDB at {MYSQL_URL} does not greet like MySQL ({answer!r})")
    return MYSQL_URL


def _pymysql_connect(url: str, database: str | None = None) -> Any:
    try:
        import pymysql
    except ImportError:
        unavailable("PyMySQL is not installed (pip install 'celeriac[mysql]')")
    parts = urlsplit(url)
    try:
        return pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            database=database,
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:
        unavailable(f"MariaDB at {url} refuses the test user (run scripts/services.sh): {exc}")


def mysql_admin(statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``statement`` (``CREATE DATABASE …``, ``KILL %s``) on the test MariaDB, as the
    test user, in a session of its own; the rows it returned."""
    conn = _pymysql_connect(mysql_url().rsplit("/", 1)[0])
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, params or None)
            return list(cursor.fetchall())
    finally:
        conn.close()


def create_mysql_database(tag: str) -> str:
    """A new MariaDB database ``celeriac_<tag>_<hex>`` (utf8mb4); its URL
    (``mysql://user:password@host:port/name``). :func:`drop_mysql_database` drops it."""
    base = mysql_url().rsplit("/", 1)[0]
    name = f"celeriac_{tag}_{uuid.uuid4().hex[:10]}"
    mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return f"{base}/{name}"


def drop_mysql_database(url: str) -> None:
    """Drop the database of ``url`` if it exists."""
    mysql_admin(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")


@contextmanager
def mysql_database(tag: str) -> Iterator[str]:
    """A MariaDB database of the caller's own (:func:`create_mysql_database`), dropped at
    the end."""
    url = create_mysql_database(tag)
    try:
        yield url
    finally:
        drop_mysql_database(url)


# -- one fresh broker and result store per test ---------------------------------------------
#: ``make_app(main="tests", **settings)``: apps on the test's store (``tests/conftest.py``).
AppFactory = Callable[..., "Celery"]
#: ``worker(app, pool="threads", concurrency=2, **options)``: an in-process worker.
WorkerFactory = Callable[..., "TestWorkController"]


@dataclass(frozen=True)
class Store:
    """A broker and result store of one kind that only one test uses.

    ``url`` serves as both broker and result backend; ``settings`` are the app settings
    that keep the test apart on a shared server (the Redis key prefix); ``prefix`` is that
    prefix (``None`` off Redis).
    """

    kind: str
    url: str
    settings: dict[str, Any] = field(default_factory=dict)
    prefix: str | None = None
    #: the result backend's URL when it is not ``url`` (RabbitMQ keeps no results: Redis)
    backend: str | None = None

    @property
    def backend_url(self) -> str:
        """Where results go: ``backend``, else ``url``."""
        return self.backend or self.url

    def app_settings(self, **settings: Any) -> dict[str, Any]:
        """The store's settings with ``settings`` on top; option dicts are merged, not replaced
        (a test's ``broker_transport_options`` keep the store's key prefix)."""
        merged = {**self.settings, **settings}
        for name, base in self.settings.items():
            given = settings.get(name)
            if isinstance(base, dict) and isinstance(given, dict):
                merged[name] = {**base, **given}
        return merged


def transports_except(
    excluded: str,
    *,
    reason: str,
    fixture: str = "transport_kind",
    kinds: Sequence[str] = TRANSPORTS,
) -> pytest.MarkDecorator:
    """Run a test on every transport of ``kinds`` but ``excluded``.

    ``fixture`` is the transport-parametrized fixture the test uses (``transport_kind`` of
    ``tests/conftest.py`` by default; ``project`` with ``helpers.processes.PROCESS_TRANSPORTS``
    for the worker-process tests). Only for behaviour documented as different on that
    transport: ``reason`` says what differs and where it is documented (it stays at the
    test, for the reader and for grep). A failure that is a bug keeps its parametrization,
    as a strict ``xfail`` naming the bug.
    """
    if excluded not in kinds or not reason.strip():
        raise ValueError(f"transports_except({excluded!r}) needs a kind of {kinds} and a reason")
    return pytest.mark.parametrize(fixture, [k for k in kinds if k != excluded], indirect=True)


_AMQP_VHOST: list[str] = []


def amqp_session_vhost() -> str:
    """This process's RabbitMQ vhost for app tests (made once, deleted at exit)."""
    if not _AMQP_VHOST:
        import atexit

        manager = rabbitmq_vhost("apps")
        _AMQP_VHOST.append(manager.__enter__())
        atexit.register(manager.__exit__, None, None, None)
    return _AMQP_VHOST[0]


def amqp_store(tag: str, space: RedisKeyspace) -> Store:
    """A RabbitMQ broker with Redis results: names of its own in a shared vhost.

    The default queue, the control exchange and celeriac's own queues (dead letters,
    locks, rate limits) carry the test's prefix; queues go when RabbitMQ's
    ``x-expires`` or the session's vhost does.
    """
    name = space.prefix.rstrip("_")
    settings = {
        **space.settings,
        "task_default_queue": name,
        "control_exchange": name,
        "broker_transport_options": {"celeriac_prefix": space.prefix},
    }
    return Store("amqp", amqp_session_vhost(), settings, space.prefix, backend=space.url)


@contextmanager
def fresh_store(kind: str, tmp_path: Path, tag: str = "t") -> Iterator[Store]:
    """A :class:`Store` of ``kind`` (one of :data:`TRANSPORTS`); Redis keys go at the end.

    ``tag`` names the memory broker, the SQLite file and the Redis key prefix, so a
    leftover says which suite left it.
    """
    if kind == "memory":  # a named memory broker: tests in one process never share queues
        yield Store(kind, f"memory://{tag}-{uuid.uuid4().hex}")
    elif kind == "sqlite":
        yield Store(kind, f"sqlite:///{tmp_path / f'{tag}.db'}")
    elif kind == "redis":
        with redis_keyspace(tag) as space:
            yield Store(kind, space.url, space.settings, space.prefix)
    elif kind == "amqp":
        with redis_keyspace(tag) as space:
            store = amqp_store(tag, space)
            try:
                yield store
            finally:
                rabbitmq_empty_vhost(store.url)
    else:
        raise AssertionError(f"unknown transport kind {kind!r} (known: {WITH_AMQP})")
