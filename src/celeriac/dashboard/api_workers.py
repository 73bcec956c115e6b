"""Worker routes: the list (ours and Flower's shape), a refresh from remote control, and
the worker actions (shutdown, pool grow/shrink, add/cancel consumer, rate limit)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from celeriac.dashboard.actions import ActionError, worker_action
from celeriac.dashboard.api_common import ApiError, dash, json_body
from celeriac.dashboard.context import DashboardContext

__all__ = ["inspect_workers", "routes"]


_FLOWER_ACTIONS = {
    "pool/grow": "pool_grow",
    "pool/shrink": "pool_shrink",
    "queue/add-consumer": "add_consumer",
    "queue/cancel-consumer": "cancel_consumer",
    "shutdown": "shutdown",
}


def _merged(replies: object) -> dict[str, object]:
    merged: dict[str, object] = {}
    if isinstance(replies, Mapping):
        merged.update(replies)
    return merged


def inspect_workers(context: DashboardContext, timeout: float = 1.0) -> None:
    """Ask every worker for ``stats`` and ``active_queues`` and merge the replies (sync)."""
    inspect = context.app.control.inspect(timeout=timeout)
    context.workers.merge_inspect(_merged(inspect.stats()), _merged(inspect.active_queues()))
    context.store.save_workers({h: w.as_dict() for h, w in context.workers.workers.items()})


async def list_workers(request: Request) -> JSONResponse:
    """``GET /api/v1/workers``: every worker known, ``?refresh=1`` asks them first."""
    context = dash(request)
    if request.query_params.get("refresh") in ("1", "true"):
        await asyncio.to_thread(inspect_workers, context)
    return JSONResponse({"workers": list(context.workers.snapshot().values())})


async def flower_workers(request: Request) -> JSONResponse:
    """``GET /api/workers``: Flower's shape, ``{hostname: stats}`` (``?refresh=1``)."""
    context = dash(request)
    if request.query_params.get("refresh") in ("1", "true"):
        await asyncio.to_thread(inspect_workers, context)
    workername = request.query_params.get("workername")
    data = {}
    for hostname, info in context.workers.snapshot().items():
        if workername and hostname != workername:
            continue
        stats = info.get("stats")
        entry = dict(stats) if isinstance(stats, dict) else {}
        entry.update(
            {
                "active_queues": [{"name": q} for q in info.get("queues") or []],  # type: ignore[attr-defined]
                "status": info["status"] == "online",
                "active": info["active"],
                "processed": info["processed"],
                "loadavg": info["loadavg"],
            }
        )
        data[hostname] = entry
    return JSONResponse(data)


async def worker_command(request: Request) -> JSONResponse:
    """``POST /api/v1/workers/{hostname}/{action}`` with the action's arguments as JSON."""
    context = dash(request)
    body = await json_body(request)
    hostname, action = request.path_params["hostname"], request.path_params["action"]
    try:
        reply = await asyncio.to_thread(worker_action, context.app, hostname, action, body)
    except ActionError as exc:
        raise ApiError(str(exc), exc.status) from exc
    if "error" in reply:
        raise ApiError(f"{hostname}: {reply['error']}", 409)
    return JSONResponse(reply)


async def flower_worker_command(request: Request) -> JSONResponse:
    """Flower's ``POST /api/worker/<action>/<hostname>`` (query or JSON arguments)."""
    body: dict[str, object] = dict(request.query_params)
    body.update(await json_body(request))
    action = _FLOWER_ACTIONS.get(request.path_params["action"])
    if action is None:
        raise ApiError("unknown worker action", 404)
    try:
        reply = await asyncio.to_thread(
            worker_action, dash(request).app, request.path_params["hostname"], action, body
        )
    except ActionError as exc:
        raise ApiError(str(exc), exc.status) from exc
    return JSONResponse({"message": str(reply.get("ok", reply))})


routes = [
    Route("/api/v1/workers", list_workers),
    Route("/api/v1/workers/{hostname}/{action}", worker_command, methods=["POST"]),
    Route("/api/workers", flower_workers),
    Route("/api/worker/{action:path}/{hostname}", flower_worker_command, methods=["POST"]),
]
