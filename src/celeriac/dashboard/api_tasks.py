"""Task routes: the table, one task's detail with timeline and progress, its workflow
graph, and the task actions (revoke, terminate, re-run, send by name)."""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from celeriac.dashboard.actions import ActionError, apply_task, rerun, revoke
from celeriac.dashboard.api_common import (
    ApiError,
    dash,
    find_task,
    json_body,
    parse_query,
    task_json,
)
from celeriac.dashboard.context import DashboardContext
from celeriac.dashboard.records import TaskRow
from celeriac.dashboard.workflow import workflow_graph

__all__ = ["routes"]

_TIMELINE: Final = (("sent", "PENDING"), ("received", "RECEIVED"), ("started", "STARTED"),
                    ("retried", "RETRY"), ("succeeded", "SUCCESS"), ("failed", "FAILURE"),
                    ("revoked", "REVOKED"), ("rejected", "REJECTED"))  # fmt: skip


async def list_tasks(request: Request) -> JSONResponse:
    """``GET /api/v1/tasks``: one page of tasks, the total and the filter menus."""
    context = dash(request)
    query = parse_query(request)
    rows, total = await asyncio.to_thread(context.store.query, query)
    return JSONResponse(
        {
            "tasks": [task_json(r) for r in rows],
            "total": total,
            "total_capped": total > 10_000 or bool(query.search),
            "limit": query.limit,
            "offset": query.offset,
        }
    )


async def task_menus(request: Request) -> JSONResponse:
    """``GET /api/v1/tasks/menus``: the names, workers, queues and states seen."""
    store = dash(request).store
    menus = {
        c: await asyncio.to_thread(store.distinct, c)
        for c in ("name", "hostname", "queue", "state")
    }
    return JSONResponse(menus)


#: states after which a task reports no more progress (the page's ``READY``)
_FINAL: Final = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})


def _progress(context: DashboardContext, row: TaskRow) -> dict[str, object] | None:
    """``{"state", "current", "total"}`` from the result backend (``update_state`` meta)."""
    if row.get("state") in _FINAL:
        return None
    try:
        meta = context.app.backend.get(str(row["uuid"]))
    except Exception:
        return None
    if not meta:
        return None
    if meta.get("status") in _FINAL:
        # The backend can learn the outcome before the event store does: say so, or the
        # page would draw an unfinished task's bar as empty for a moment.
        return {"state": meta.get("status"), "current": None, "total": None}
    info = meta.get("result")
    if isinstance(info, dict) and "current" in info and "total" in info:
        return {"state": meta.get("status"), "current": info["current"], "total": info["total"]}
    return None


def _detail(context: DashboardContext, uuid: str) -> dict[str, object] | None:
    row = find_task(context, uuid)
    if row is None:
        return None
    timeline = [
        {"state": state, "at": row[column]}
        for column, state in _TIMELINE
        if isinstance(row.get(column), int | float)
    ]
    received, started = row.get("received"), row.get("started")
    wait = (
        float(started) - float(received)
        if isinstance(received, int | float) and isinstance(started, int | float)
        else None
    )
    children = [
        {"uuid": c["uuid"], "name": c["name"], "state": c["state"]}
        for c in context.store.children(uuid)
    ]
    return {
        "task": task_json(row),
        "timeline": timeline,
        "wait": wait,
        "runtime": row.get("runtime"),
        "progress": _progress(context, row),
        "children": children,
    }


async def task_detail(request: Request) -> JSONResponse:
    """``GET /api/v1/tasks/{uuid}``: the task, its timeline, wait, runtime and progress."""
    detail = await asyncio.to_thread(_detail, dash(request), request.path_params["uuid"])
    if detail is None:
        raise ApiError("no such task", 404)
    return JSONResponse(detail)


async def task_graph(request: Request) -> JSONResponse:
    """``GET /api/v1/tasks/{uuid}/graph``: the workflow the task belongs to."""
    graph = await asyncio.to_thread(
        workflow_graph, dash(request).store, request.path_params["uuid"]
    )
    if graph is None:
        raise ApiError("no such task", 404)
    return JSONResponse(graph)


async def task_action(request: Request) -> JSONResponse:
    """``POST /api/v1/tasks/{uuid}/{action}`` (``revoke``, ``terminate``, ``rerun``)."""
    context = dash(request)
    uuid, action = request.path_params["uuid"], request.path_params["action"]
    body = await json_body(request)
    try:
        if action in ("revoke", "terminate"):
            signal = str(body.get("signal") or "SIGTERM")
            result = await asyncio.to_thread(
                revoke, context.app, uuid, action == "terminate", signal
            )
        elif action == "rerun":
            row = await asyncio.to_thread(find_task, context, uuid)
            if row is None:
                raise ApiError("no such task", 404)
            result = await asyncio.to_thread(rerun, context.app, row)
        else:
            raise ApiError(f"unknown task action {action!r}: use revoke, terminate or rerun", 404)
    except ActionError as exc:
        raise ApiError(str(exc), exc.status) from exc
    return JSONResponse(result)


# -- Flower's paths ----------------------------------------------------------------------
async def flower_tasks(request: Request) -> JSONResponse:
    """``GET /api/tasks``: Flower's shape, ``{uuid: task}`` newest first."""
    query = parse_query(request)
    if "limit" not in request.query_params:
        query.limit = 100
    rows, _ = await asyncio.to_thread(dash(request).store.query, query)
    return JSONResponse({str(r["uuid"]): task_json(r) for r in rows})


async def flower_task_info(request: Request) -> JSONResponse:
    """``GET /api/task/info/{uuid}``: Flower's task dict (with ``children``)."""
    context, uuid = dash(request), request.path_params["uuid"]
    store = context.store
    row = await asyncio.to_thread(find_task, context, uuid)
    if row is None:
        raise ApiError(f"Unknown task '{uuid}'", 404)
    task = task_json(row)
    task["children"] = [c["uuid"] for c in await asyncio.to_thread(store.children, uuid)]
    return JSONResponse(task)


async def flower_async_apply(request: Request) -> JSONResponse:
    """``POST /api/task/async-apply/{name}``: send a task by name."""
    body = await json_body(request)
    try:
        result = await asyncio.to_thread(
            apply_task, dash(request).app, request.path_params["name"], body
        )
    except ActionError as exc:
        raise ApiError(str(exc), exc.status) from exc
    return JSONResponse(result)


async def flower_revoke(request: Request) -> JSONResponse:
    """``POST /api/task/revoke/{uuid}?terminate=true``: Flower's revoke."""
    terminate = request.query_params.get("terminate") in ("true", "1")
    body = await json_body(request)
    terminate = terminate or body.get("terminate") in (True, "true")
    uuid = request.path_params["uuid"]
    await asyncio.to_thread(revoke, dash(request).app, uuid, terminate)
    return JSONResponse({"message": f"Revoked '{uuid}'"})


routes = [
    Route("/api/v1/tasks", list_tasks),
    Route("/api/v1/tasks/menus", task_menus),
    Route("/api/v1/tasks/{uuid}", task_detail),
    Route("/api/v1/tasks/{uuid}/graph", task_graph),
    Route("/api/v1/tasks/{uuid}/{action}", task_action, methods=["POST"]),
    Route("/api/tasks", flower_tasks),
    Route("/api/task/info/{uuid}", flower_task_info),
    Route("/api/task/async-apply/{name}", flower_async_apply, methods=["POST"]),
    Route("/api/task/revoke/{uuid}", flower_revoke, methods=["POST"]),
]
