"""Worker node names: ``name@host`` and the ``%h``/``%n``/``%d``/``%i``/``%I`` expansions.

Celery's ``celery.utils.nodenames``: ``-n worker1@%h`` names a node, and log and pid file
paths expand ``%n`` (the name part), ``%h`` (the host part), ``%p`` (the full node name),
``%d`` (the domain), and for prefork ``%i`` (the child index, 0 in the main process) and
``%I`` (the same, empty in the main process).
"""

from __future__ import annotations

import os
import socket

__all__ = [
    "NODENAME_DEFAULT",
    "NODENAME_SEP",
    "anon_nodename",
    "default_nodename",
    "gethostname",
    "host_format",
    "node_format",
    "nodename",
    "nodesplit",
    "worker_direct",
]

NODENAME_SEP = "@"
NODENAME_DEFAULT = "celery"
#: Prefix of each node's direct queue (``worker_direct``).
WORKER_DIRECT_QUEUE_FORMAT = "{hostname}.dq2"


def gethostname() -> str:
    """This machine's host name."""
    return socket.gethostname()


def worker_direct(hostname: str) -> str:
    """The name of ``hostname``'s direct queue (``task_routes`` to one node)."""
    return WORKER_DIRECT_QUEUE_FORMAT.format(hostname=hostname)


def nodename(name: str, hostname: str) -> str:
    """``name@hostname``."""
    return NODENAME_SEP.join((name, hostname))


def anon_nodename(hostname: str | None = None, prefix: str = "gen") -> str:
    """A node name for a process that is not a worker: ``gen<pid>@host``."""
    return nodename(f"{prefix}{os.getpid()}", hostname or gethostname())


def nodesplit(name: str) -> tuple[None, str] | tuple[str, str]:
    """Split ``name@host`` into ``(name, host)``; a bare host gives ``(None, host)``."""
    parts = name.split(NODENAME_SEP, 1)
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


def default_nodename(hostname: str | None) -> str:
    """``hostname`` completed to ``name@host`` (``celery@<this host>`` when empty)."""
    name, host = nodesplit(hostname or "")
    return nodename(name or NODENAME_DEFAULT, host or gethostname())


def host_format(
    value: str, hostname: str | None = None, name: str | None = None, **extra: str
) -> str:
    """Expand ``%h`` (host), ``%n`` (name), ``%d`` (domain), ``%%`` and extra keys in ``value``."""
    host = hostname or gethostname()
    node_name = host.split(".", 1)[0]
    domain = host.split(".", 1)[-1]
    if name is not None:
        node_name = name
    keys = {"h": host, "n": node_name, "d": domain, **extra}
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "%" and i + 1 < len(value):
            key = value[i + 1]
            if key == "%":
                out.append("%")
                i += 2
                continue
            if key in keys:
                out.append(keys[key])
                i += 2
                continue
        out.append(char)
        i += 1
    return "".join(out)


def node_format(value: str, nodename_: str, **extra: str) -> str:
    """Expand a path template for the node ``name@host`` (``%n`` name, ``%h`` host, ``%p`` both)."""
    name, host = nodesplit(nodename_)
    return host_format(value, host, name or NODENAME_DEFAULT, p=nodename_, **extra)
