"""``celeriac graph bootsteps|workers``: Celery's DOT graphs (render with ``dot -Tpng``).

``bootsteps`` draws the steps a project added to ``app.steps['worker']`` and
``app.steps['consumer']`` with their ``requires`` (celeriac has no bootsteps graph of its
own: its worker's parts are not steps). ``workers`` asks the running workers for their
stats (``inspect stats``) and draws the broker, each worker and its pool processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from celeriac.cli.main import CLIContext

__all__ = ["graph"]


def _quote(text: object) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(name: str, nodes: Iterable[tuple[str, str]], edges: Iterable[tuple[str, str]]) -> str:
    lines = [f"digraph {_quote(name)} {{"]
    lines += [f"  {_quote(node)} [label={_quote(label)}];" for node, label in nodes]
    lines += [f"  {_quote(a)} -> {_quote(b)};" for a, b in edges]
    return "\n".join([*lines, "}"])


def _step_name(step: Any) -> str:
    return str(getattr(step, "name", None) or f"{step.__module__}.{step.__qualname__}")


def bootsteps_dot(steps: dict[str, set[Any]]) -> str:
    """The DOT text of a project's steps: ``worker``/``consumer`` roots, ``requires`` edges."""
    nodes: list[tuple[str, str]] = [("worker", "Worker"), ("consumer", "Consumer")]
    edges: list[tuple[str, str]] = [("consumer", "worker")]
    for blueprint in ("worker", "consumer"):
        for step in sorted(steps.get(blueprint, ()), key=_step_name):
            name = _step_name(step)
            nodes.append((name, getattr(step, "label", None) or step.__name__))
            requires = [_step_name(r) if isinstance(r, type) else str(r) for r in step.requires]
            edges += [(name, required) for required in requires] or [(name, blueprint)]
    return _dot("bootsteps", nodes, edges)


def workers_dot(stats: dict[str, Any], broker: str) -> str:
    """The DOT text of the workers (``inspect stats`` replies) and their pool processes."""
    nodes: list[tuple[str, str]] = [("broker", f"broker: {broker}")]
    edges: list[tuple[str, str]] = []
    for hostname, info in sorted(stats.items()):
        pool = (info.get("pool") if isinstance(info, dict) else None) or {}
        nodes.append((hostname, hostname))
        edges.append((hostname, "broker"))
        for index, pid in enumerate(pool.get("processes") or [], 1):
            child = f"{hostname}:{pid}"
            nodes.append((child, f"process {index} (pid {pid})"))
            edges.append((child, hostname))
    return _dot("workers", nodes, edges)


@click.group()
def graph() -> None:
    """The graph of the project's bootsteps or of the running workers (DOT format)."""


@graph.command()
@click.pass_obj
def bootsteps(obj: CLIContext) -> None:
    """The steps added to app.steps['worker'] and ['consumer'], with their requires."""
    click.echo(bootsteps_dot(obj.app.steps))


@graph.command()
@click.option("--timeout", type=float, default=1.0, help="Seconds to wait for replies.")
@click.pass_obj
def workers(obj: CLIContext, timeout: float) -> None:
    """The running workers and their pool processes (from inspect stats)."""
    from celeriac.utils.redis_url import redacted_url

    app = obj.app
    stats = app.control.inspect(timeout=timeout).stats() or {}
    click.echo(workers_dot(stats, redacted_url(app.broker_url)))
