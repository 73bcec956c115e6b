"""``celeriac multi``: start, stop and restart several detached workers (``celery.apps.multi``).

``multi start w1 w2 -A proj -l INFO`` runs one ``celeriac worker --detach`` per node,
named ``w1@<host>``, with ``--pidfile=%n.pid`` and ``--logfile=%n%I.log`` unless given;
``stop``/``stopwait``/``kill`` signal the pids in those files; ``stopwait`` waits until the
processes are gone. A number instead of names (``multi start 3``) means ``celery1`` …
``celery3``. An option can target some nodes: ``-c:w1 4``, ``-Q:1-2 q1``, ``--loglevel:w2=DEBUG``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from celeriac.platforms import Pidfile, pid_alive
from celeriac.utils.nodenames import gethostname, node_format, nodename, nodesplit

__all__ = ["Cluster", "MultiParser", "Node", "parse_multi_args"]

#: Options that go before the ``worker`` command (the CLI's global options).
GLOBAL_OPTIONS = {"-A", "--app", "-b", "--broker", "--result-backend", "--config", "--workdir",
                  "--loader"}  # fmt: skip
DEFAULT_PIDFILE = "%n.pid"
DEFAULT_LOGFILE = "%n%I.log"


class Node:
    """One worker of the cluster: its name and its command line.

    ``options`` are ``(option, value)`` pairs, or a mapping of them as Celery's ``Node``
    takes (``{'--logfile': '%n.log'}``).
    """

    def __init__(
        self,
        name: str,
        options: Iterable[tuple[str, str | None]] | Mapping[str, str | None] = (),
        executable: str = sys.executable,
    ) -> None:
        self.name = name
        pairs = options.items() if isinstance(options, Mapping) else options
        self.options: list[tuple[str, str | None]] = list(pairs)
        self.executable = executable

    def __repr__(self) -> str:
        return f"<Node {self.name}>"

    @property
    def pidfile(self) -> str:
        """The expanded pid file path."""
        return node_format(self._option("--pidfile") or DEFAULT_PIDFILE, self.name)

    @property
    def logfile(self) -> str:
        """The log file path (``%I`` left for the worker to expand per process)."""
        return node_format(self._option("--logfile", "-f") or DEFAULT_LOGFILE, self.name)

    def _option(self, *names: str) -> str | None:
        found = None
        for key, value in self.options:
            if key in names:
                found = value
        return found

    @property
    def argv(self) -> list[str]:
        """The command that starts this node (detached)."""
        front: list[str] = []
        back: list[str] = []
        for key, value in self.options:
            target = front if key in GLOBAL_OPTIONS else back
            if key in ("--pidfile", "--logfile", "-f", "-n", "--hostname"):
                continue
            target.append(key)
            if value is not None:
                target.append(node_format(value, self.name))
        return [self.executable, "-m", "celeriac", *front, "worker", "--detach",
                "-n", self.name, f"--pidfile={self.pidfile}", f"--logfile={self.logfile}",
                *back]  # fmt: skip

    def pid(self) -> int | None:
        """The pid in the node's pid file (``None`` when there is none or it is garbage)."""
        try:
            return Pidfile(self.pidfile).read_pid()
        except ValueError:
            return None

    def alive(self) -> bool:
        """Whether the process named by the pid file runs."""
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def send(self, signum: int) -> bool:
        """Signal the node's process; False when it is not running."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            Pidfile(self.pidfile).remove()
            return False
        return True

    def start(self, env: dict[str, str] | None = None) -> int:
        """Run the detaching command; its exit status (0: the daemon was forked)."""
        return subprocess.call(self.argv, env=env)


def _matches(selector: str, name: str, index: int) -> bool:
    short = nodesplit(name)[0] or name
    for part in selector.split(","):
        if part in (short, name):
            return True
        low, sep, high = part.partition("-")
        if low.isdigit() and (not sep and int(low) == index):
            return True
        if low.isdigit() and sep and high.isdigit() and int(low) <= index <= int(high):
            return True
    return False


@dataclass
class MultiParser:
    """Reads ``names... options...`` as ``celery multi`` does."""

    hostname: str = field(default_factory=gethostname)

    def parse(self, args: Sequence[str]) -> list[Node]:
        """The nodes named (or counted) by ``args``, each with its options."""
        names, options = parse_multi_args(args)
        if len(names) == 1 and names[0].isdigit():
            names = [f"celery{i}" for i in range(1, int(names[0]) + 1)]
        if not names:
            names = ["celery"]
        nodes: list[Node] = []
        for index, short in enumerate(names, 1):
            full = short if "@" in short else nodename(short, self.hostname)
            full = node_format(full, full) if "%" in full else full
            mine = [(key, value) for key, value, selector in options
                    if selector is None or _matches(selector, full, index)]  # fmt: skip
            nodes.append(Node(full, mine))
        return nodes


def parse_multi_args(
    args: Sequence[str],
) -> tuple[list[str], list[tuple[str, str | None, str | None]]]:
    """Split into node names and ``(option, value, node selector)`` triples."""
    names: list[str] = []
    options: list[tuple[str, str | None, str | None]] = []
    items = list(args)
    i = 0
    while i < len(items) and not items[i].startswith("-"):
        names.append(items[i])
        i += 1
    while i < len(items):
        arg = items[i]
        i += 1
        if not arg.startswith("-"):
            names.append(arg)  # a name after the options (allowed by Celery too)
            continue
        value: str | None = None
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        elif not arg.startswith("--") and i < len(items) and not items[i].startswith("-"):
            value = items[i]
            i += 1
        key, _, selector = arg.partition(":")
        options.append((key, value, selector or None))
    return names, options


class Cluster:
    """The nodes of one ``multi`` command and what can be done to them."""

    def __init__(self, nodes: Iterable[Node], out: Callable[[str], None] = print) -> None:
        self.nodes = list(nodes)
        self.out = out

    def start(self) -> int:
        """Start every node; the number that failed."""
        self.out("> Starting nodes...")
        failed = 0
        for node in self.nodes:
            code = node.start()
            ok = code == 0 and self._wait_pidfile(node)
            failed += not ok
            self.out(
                f"\t> {node.name}: {'OK' if ok else f'* Child terminated with exit code {code}'}"
            )
        return failed

    @staticmethod
    def _wait_pidfile(node: Node, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.alive():
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGTERM, wait: bool = False, timeout: float = 60.0) -> int:
        """Signal every running node (``wait``: until it is gone); the number still running."""
        self.out("> Stopping nodes...")
        sent: list[Node] = []
        for node in self.nodes:
            pid = node.pid()
            if pid is None or not node.send(sig):
                self.out(f"> {node.name}: DOWN")
                continue
            self.out(f"\t> {node.name}: {signal.Signals(sig).name} -> {pid}")
            sent.append(node)
        if not wait:
            return 0
        deadline = time.monotonic() + timeout
        waiting = list(sent)
        while waiting and time.monotonic() < deadline:
            for node in list(waiting):
                if not node.alive():
                    waiting.remove(node)
                    Pidfile(node.pidfile).remove_if_stale()
                    self.out(f"\t> {node.name}: OK")
            time.sleep(0.1)
        for node in waiting:
            self.out(f"\t> {node.name}: still running after {timeout:.0f}s")
        return len(waiting)

    def kill(self) -> int:
        """SIGKILL every node and remove the pid files."""
        for node in self.nodes:
            pid = node.pid()
            if pid is not None and node.send(signal.SIGKILL):
                self.out(f"Killing node {node.name} ({pid})")
            Pidfile(node.pidfile).remove()
        return 0

    def restart(self) -> int:
        """Stop (waiting) and start again."""
        return self.stop(wait=True) + self.start()

    def names(self) -> list[str]:
        """The node names."""
        return [node.name for node in self.nodes]

    def show(self) -> list[str]:
        """Each node's command line."""
        return [shlex.join(node.argv) for node in self.nodes]
