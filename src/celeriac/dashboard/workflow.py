"""A workflow's graph: the tasks of a chain, group or chord and the links between them.

Tasks are collected from the one the user opened: everything sharing its ``root_id``,
the members of every group found (``group_id``: a group's members, a chord's header),
and again the roots of those, twice over. Links: ``parent_id`` -> task (a chain step, a
chord body after its last header task, a task sent from another), and group membership.
A chord whose body never ran shows as a group without an outgoing link; missing header
tasks show by their state.
"""

from __future__ import annotations

from collections.abc import Mapping

from celeriac.dashboard.records import TaskRow
from celeriac.dashboard.store import TaskStore

__all__ = ["workflow_graph"]

_NODE_FIELDS = ("uuid", "name", "state", "hostname", "root_id", "parent_id", "group_id",
                "received", "started", "timestamp", "runtime")  # fmt: skip


def _collect(store: TaskStore, task: TaskRow, limit: int) -> dict[str, TaskRow]:
    found: dict[str, TaskRow] = {str(task["uuid"]): task}
    roots = {str(task.get("root_id") or task["uuid"])}
    groups: set[str] = set()
    for _ in range(3):
        for root in sorted(roots):
            for row in store.related(root, limit):
                found.setdefault(str(row["uuid"]), row)
        new_groups = {str(r["group_id"]) for r in found.values() if r.get("group_id")} - groups
        groups |= new_groups
        for row in store.in_groups(sorted(new_groups), limit):
            found.setdefault(str(row["uuid"]), row)
        new_roots = {str(r.get("root_id") or r["uuid"]) for r in found.values()} - roots
        if (not new_roots and not new_groups) or len(found) >= limit:
            break
        roots |= new_roots
    return found


def _layers(nodes: Mapping[str, TaskRow]) -> dict[str, int]:
    """Each task's depth: 0 for tasks without a parent in the graph, parent's + 1 otherwise."""
    depth: dict[str, int] = {}

    def visit(uuid: str, trail: frozenset[str]) -> int:
        if uuid in depth:
            return depth[uuid]
        parent = nodes[uuid].get("parent_id")
        if isinstance(parent, str) and parent in nodes and parent not in trail:
            value = visit(parent, trail | {uuid}) + 1
        else:
            value = 0
        depth[uuid] = value
        return value

    for uuid in nodes:
        visit(uuid, frozenset())
    return depth


def _when(row: TaskRow) -> float:
    value = row.get("received") or row.get("sent") or row.get("timestamp")
    return float(value) if isinstance(value, int | float) else 0.0


def workflow_graph(store: TaskStore, uuid: str, limit: int = 500) -> dict[str, object] | None:
    """``{"nodes", "edges", "groups"}`` for the workflow of task ``uuid``, or None if unknown.

    Each node has the task's fields and ``depth`` (its column in a left-to-right
    drawing); each edge is ``{"from", "to", "kind": "parent"}``; ``groups`` maps a group
    id to its member ids.
    """
    task = store.task(uuid)
    if task is None:
        return None
    rows = _collect(store, task, limit)
    depth = _layers(rows)
    nodes = [
        {**{k: row.get(k) for k in _NODE_FIELDS}, "depth": depth[key]}
        for key, row in sorted(rows.items(), key=lambda kv: (depth[kv[0]], _when(kv[1])))
    ]
    edges = [
        {"from": str(row["parent_id"]), "to": key, "kind": "parent"}
        for key, row in rows.items()
        if isinstance(row.get("parent_id"), str) and row["parent_id"] in rows
    ]
    groups: dict[str, list[str]] = {}
    for key, row in rows.items():
        if row.get("group_id"):
            groups.setdefault(str(row["group_id"]), []).append(key)
    return {
        "root": str(task.get("root_id") or uuid),
        "nodes": nodes,
        "edges": edges,
        "groups": groups,
    }
