"""Queues, graphs, the live stream (server-sent events), ``/metrics`` and ``/api/v1/me``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from celeriac.dashboard.actions import ActionError
from celeriac.dashboard.api_common import ApiError, dash, json_body, parse_time
from celeriac.dashboard.graphs import graph_data
from celeriac.dashboard.metrics import CONTENT_TYPE_LATEST

__all__ = ["routes"]

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE = 15.0


async def queues(request: Request) -> JSONResponse:
    """``GET /api/v1/queues``: each queue's length now and its consumers."""
    monitor = dash(request).queues
    if time.time() - monitor.sampled_at > 2.0:
        await asyncio.to_thread(monitor.sample)
    consumers = monitor.consumers()
    return JSONResponse(
        {
            "supported": monitor.admin is not None,
            "sampled_at": monitor.sampled_at,
            "queues": [
                {
                    "name": name,
                    "length": monitor.lengths.get(name),
                    "consumers": consumers.get(name, []),
                }
                for name in monitor.queue_names()
            ],
        }
    )


async def dead_letters(request: Request) -> JSONResponse:
    """``GET /api/v1/dead-letters?queue=&limit=``: the newest dead-lettered messages (newest
    first) with their reasons and ids; ``actions`` says whether they can be requeued or
    discarded on this broker."""
    desk = dash(request).dead_letters
    try:
        limit = int(request.query_params.get("limit") or 100)
    except ValueError as exc:
        raise ApiError("limit must be an integer") from exc
    queue = request.query_params.get("queue") or None
    entries = await asyncio.to_thread(desk.entries, queue, max(0, min(limit, 1000)))
    actions = desk.store is not None
    return JSONResponse(
        {"supported": desk.readable, "actions": actions, "requeue": actions, "entries": entries}
    )


async def dead_letter_action(request: Request) -> JSONResponse:
    """``POST /api/v1/dead-letters/{requeue|discard}`` with ``{"ids": [...]}``."""
    desk = dash(request).dead_letters
    body = await json_body(request)
    act = desk.requeue if request.url.path.endswith("/requeue") else desk.discard
    try:
        reply = await asyncio.to_thread(act, body.get("ids"))
    except ActionError as exc:
        raise ApiError(str(exc), exc.status) from exc
    return JSONResponse(reply)


async def graphs(request: Request) -> JSONResponse:
    """``GET /api/v1/graphs?since=&until=&buckets=``: series for the graphs page."""
    now = time.time()
    until = parse_time(request.query_params.get("until"), "until") or now
    since = parse_time(request.query_params.get("since"), "since") or until - 3600
    if since >= until:
        raise ApiError("since must be before until")
    buckets = int(request.query_params.get("buckets") or 60)
    data = await asyncio.to_thread(graph_data, dash(request).store, since, until, buckets)
    return JSONResponse(data)


async def stream(request: Request) -> StreamingResponse:
    """``GET /api/v1/stream``: server-sent events, one ``data:`` line per update."""
    hub = dash(request).hub
    queue = hub.subscribe()

    async def body() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    update = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"data: {json.dumps(update, default=repr)}\n\n"
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text format."""
    context = dash(request)
    context.metrics.update_workers(context.workers)
    return Response(context.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def me(request: Request) -> JSONResponse:
    """``GET /api/v1/me``: this user's role (the pages hide actions from readers)."""
    role = request.scope.get("state", {}).get("role")
    return JSONResponse({"role": role, "can_act": role == "writer"})


async def healthz(request: Request) -> JSONResponse:
    """``GET /healthz``: for load balancers (no credentials needed)."""
    context = dash(request)
    ingestor = context.ingestor
    return JSONResponse(
        {
            "ok": True,
            "events_seen": ingestor.events_seen,
            "pending_events": ingestor.pending,
            "last_flush_seconds": ingestor.last_flush_seconds,
            "last_flush_events": ingestor.last_flush_events,
            "ingest_lag_seconds": ingestor.last_lag_seconds,
            "publish_lag_seconds": ingestor.last_publish_lag_seconds,
        }
    )


routes = [
    Route("/api/v1/queues", queues),
    Route("/api/v1/dead-letters", dead_letters),
    Route("/api/v1/dead-letters/requeue", dead_letter_action, methods=["POST"]),
    Route("/api/v1/dead-letters/discard", dead_letter_action, methods=["POST"]),
    Route("/api/v1/graphs", graphs),
    Route("/api/v1/stream", stream),
    Route("/api/v1/me", me),
    Route("/metrics", metrics),
    Route("/healthz", healthz),
]
