"""The chaos soak's moving parts: private servers, worker processes, and the controller.

Used by ``benchmarks/soak.py`` (see there). Redis runs as a private ``redis-server`` with
AOF on; RabbitMQ is the shared server, so a run gets a virtual host of its own and the
broker fault is a dropped connection (``rabbitmqctl close_connection`` of every
connection in that vhost), never a restart of the server.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

VISIBILITY_TIMEOUT = 8.0
QUEUE = "soak"
RABBITMQ = os.environ.get("CELERIAC_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server with AOF on, restartable on the same port and directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.directory), "--appendonly", "yes",
                "--appendfsync", "always", "--save", "", "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: redis fsyncs the AOF and exits
            self.proc.wait(10)
            self.proc = None


def rabbitmqctl(*args: str) -> str:
    """``rabbitmqctl -q ARGS`` (the default node, else ``rabbit@localhost``)."""
    for node in ([], ["-n", "rabbit@localhost"]):
        done = subprocess.run(
            ["rabbitmqctl", *node, "-q", *args], capture_output=True, text=True, timeout=120
        )
        if done.returncode == 0:
            return done.stdout
    raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")


class RabbitVhost:
    """A virtual host of the shared RabbitMQ for one run (deleted at the end)."""

    def __init__(self) -> None:
        self.name = f"celeriac-soak-{uuid.uuid4().hex[:8]}"
        base = RABBITMQ.rstrip("/")
        self.url = f"{base}/{self.name}"

    def create(self) -> None:
        rabbitmqctl("add_vhost", self.name)
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    def delete(self) -> None:
        rabbitmqctl("delete_vhost", self.name)

    def drop_connections(self) -> int:
        """Close every client connection of the vhost (as a broker failover would);
        returns how many there were."""
        listing = rabbitmqctl("--no-table-headers", "list_connections", "vhost")
        count = sum(1 for line in listing.splitlines() if line.strip() == self.name)
        rabbitmqctl("close_all_connections", "--vhost", self.name, "--limit", "1000", "soak")
        return count

    def push_raw(self, body: bytes) -> None:
        """Publish bytes that are no task message onto the soak queue."""
        import amqp

        conn = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest",
                               virtual_host=self.name)  # fmt: skip
        conn.connect()
        try:
            channel = conn.channel()
            channel.basic_publish(amqp.Message(body), exchange="", routing_key=QUEUE)
        finally:
            conn.close()


@dataclass
class WorkerSlot:
    """One worker process the controller may kill, pause and restart."""

    name: str
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = self.directory / f"{self.name}-{self.starts}.log"
        out = open(self.directory / f"{self.name}-{self.starts}.out", "wb")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(self.directory), os.environ.get("PYTHONPATH", "")]
        )}  # fmt: skip
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celeriac", "-A", "soak_tasks", "worker", "-P", "prefork",
                "-c", "2", "-Q", QUEUE, "-n", f"{self.name}@soak", "--loglevel", "INFO",
                "--logfile", str(log),
            ],
            cwd=self.directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def pids(self) -> list[int]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid, *(child.pid for child in parent.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def signal_group(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)


@dataclass
class Soak:
    """State of one run: what was published, what the controller did, to whom."""

    broker: str
    directory: Path
    url: str
    redis: RedisServer | None
    #: the run's RabbitMQ vhost (broker ``amqp``; results in ``redis``, never restarted)
    rabbit: RabbitVhost | None = None
    workers: list[WorkerSlot] = field(default_factory=list)
    published: dict[str, str] = field(default_factory=dict)  # task id -> kind
    publish_failures: int = 0
    garbage: int = 0
    garbage_ids: set[str] = field(default_factory=set)
    actions: Counter[str] = field(default_factory=Counter)
    #: pid -> "killed" / "paused": reruns of what these ran are explained
    disturbed: dict[int, str] = field(default_factory=dict)
    #: (start, end, action): a pause or broker restart; leases may expire around it
    windows: list[tuple[float, float, str]] = field(default_factory=list)
    started: float = 0.0
    timeline: list[str] = field(default_factory=list)
    #: the chaos actions to pick from (empty: all)
    only: tuple[str, ...] = ()


def inject_garbage(soak: Soak, app: Any, rng: random.Random) -> None:
    """Raw bytes that are no envelope, and envelopes that are no task."""
    from celeriac.protocol.message import Message

    soak.garbage += 2
    garbage_id = f"garbage-{uuid.uuid4()}"
    soak.garbage_ids.add(garbage_id)
    body = rng.choice([b"\x00\xff not json", b"[1, 2", b'{"no": "task"}', b"[[], {}, 7]"])
    app.transport.publish(Message(body=body, headers={"id": garbage_id, "task": "soak.add"}), QUEUE)
    if soak.rabbit is not None:
        soak.rabbit.push_raw(os.urandom(rng.randint(1, 64)))
    elif soak.redis is not None:
        import redis

        client = redis.Redis.from_url(soak.url)
        try:
            client.lpush(QUEUE, os.urandom(rng.randint(1, 64)))
        finally:
            client.close()
    else:
        soak.garbage -= 1  # SQLite rows are written through the transport only


def chaos(soak: Soak, app: Any, rng: random.Random) -> str:
    """One controller action; returns its name."""
    choices = ["kill_worker", "kill_child", "pause_worker", "garbage"]
    if soak.rabbit is not None:
        choices.append("drop_connections")
    elif soak.redis is not None:
        choices.append("restart_broker")
    if soak.only:
        choices = [c for c in choices if c in soak.only] or choices
    action = rng.choice(choices)
    slot = rng.choice(soak.workers)
    if action == "kill_worker":
        for pid in slot.pids():
            soak.disturbed[pid] = "killed"
        slot.kill()
        slot.start()
    elif action == "kill_child":
        children = slot.pids()[1:]
        if not children:
            return "kill_child (none)"
        pid = rng.choice(children)
        soak.disturbed[pid] = "killed"
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    elif action == "pause_worker":
        for pid in slot.pids():
            soak.disturbed.setdefault(pid, "paused")
        begin = time.time()
        slot.signal_group(signal.SIGSTOP)
        time.sleep(VISIBILITY_TIMEOUT + 4)
        slot.signal_group(signal.SIGCONT)
        soak.windows.append((begin, time.time(), "pause"))
    elif action == "drop_connections":
        assert soak.rabbit is not None
        begin = time.time()
        action = f"drop_connections ({soak.rabbit.drop_connections()})"
        soak.windows.append((begin, time.time(), "dropped connection"))
        soak.actions["drop_connections"] += 1
        return action
    elif action == "restart_broker":
        assert soak.redis is not None
        begin = time.time()
        soak.redis.stop()
        time.sleep(rng.uniform(0.5, 2.0))
        soak.redis.start()
        soak.windows.append((begin, time.time(), "broker restart"))
    else:
        inject_garbage(soak, app, rng)
    soak.actions[action] += 1
    return action
