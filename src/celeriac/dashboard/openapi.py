"""The OpenAPI 3.1 document of the dashboard's API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["document", "routes"]

_TASK_FILTERS: Final = (
    ("state", "State, or several separated by commas (SUCCESS,FAILURE)."),
    ("name", "Task name (Flower: taskname)."),
    ("hostname", "Worker node name (Flower: workername)."),
    ("queue", "Queue name."),
    ("since", "Last update at or after: epoch seconds or ISO date/time (Flower: received_start)."),
    ("until", "Last update at or before (Flower: received_end)."),
    ("search", "Substring of args, kwargs, result, exception or id."),
    ("sort", "timestamp, runtime, name, state or hostname; '-' for descending."),
    ("limit", "Page size (at most 1000)."),
    ("offset", "Rows to skip."),
)

#: (method, path, summary, query parameters, tag, changes state)
_OPERATIONS: Final = (
    ("get", "/api/v1/tasks", "One page of tasks with the total.", _TASK_FILTERS, "tasks", False),
    ("get", "/api/v1/tasks/menus", "Names, workers, queues and states seen.", (), "tasks", False),
    (
        "get",
        "/api/v1/tasks/{uuid}",
        "A task with its timeline, wait, runtime and progress.",
        (),
        "tasks",
        False,
    ),
    (
        "get",
        "/api/v1/tasks/{uuid}/graph",
        "The workflow graph (nodes, parent edges, groups).",
        (),
        "tasks",
        False,
    ),
    ("post", "/api/v1/tasks/{uuid}/revoke", "Revoke the task on every worker.", (), "tasks", True),
    (
        "post",
        "/api/v1/tasks/{uuid}/terminate",
        "Revoke and kill it where it runs (body: signal).",
        (),
        "tasks",
        True,
    ),
    (
        "post",
        "/api/v1/tasks/{uuid}/rerun",
        "Send a finished task again with its arguments.",
        (),
        "tasks",
        True,
    ),
    (
        "get",
        "/api/v1/workers",
        "Every worker known (refresh=1 asks them first).",
        (("refresh", "1 to inspect now."),),
        "workers",
        False,
    ),
    (
        "post",
        "/api/v1/workers/{hostname}/{action}",
        "A worker command: shutdown, pool_grow, pool_shrink, add_consumer, "
        "cancel_consumer, rate_limit, time_limit, heartbeat (arguments in the body).",
        (),
        "workers",
        True,
    ),
    ("get", "/api/v1/queues", "Queue lengths now and their consumers.", (), "queues", False),
    (
        "get",
        "/api/v1/dead-letters",
        "Newest dead-lettered messages (newest first) with reasons and ids.",
        (("queue", "One queue's only."), ("limit", "At most 1000.")),
        "queues",
        False,
    ),
    (
        "post",
        "/api/v1/dead-letters/requeue",
        'Put dead letters back on their queues (body: {"ids": [...]}).',
        (),
        "queues",
        True,
    ),
    (
        "post",
        "/api/v1/dead-letters/discard",
        'Delete dead letters for good (body: {"ids": [...]}).',
        (),
        "queues",
        True,
    ),
    (
        "get",
        "/api/v1/graphs",
        "Throughput, runtime p50/p95, failures, queue lengths.",
        (("since", "Start."), ("until", "End."), ("buckets", "Number of buckets.")),
        "graphs",
        False,
    ),
    (
        "get",
        "/api/v1/stream",
        "Server-sent events: task and worker updates as they happen.",
        (),
        "live",
        False,
    ),
    ("get", "/api/v1/me", "The caller's role.", (), "live", False),
    ("get", "/metrics", "Prometheus metrics (celery-exporter's names).", (), "live", False),
    (
        "get",
        "/api/workers",
        "Flower: {hostname: stats}.",
        (("refresh", "1 to inspect now."), ("workername", "One worker.")),
        "flower",
        False,
    ),
    ("get", "/api/tasks", "Flower: {uuid: task}.", _TASK_FILTERS, "flower", False),
    ("get", "/api/task/info/{uuid}", "Flower: one task.", (), "flower", False),
    (
        "post",
        "/api/task/async-apply/{name}",
        "Flower: send a task (body: args, kwargs, options).",
        (),
        "flower",
        True,
    ),
    (
        "post",
        "/api/task/revoke/{uuid}",
        "Flower: revoke (terminate=true to kill).",
        (("terminate", "true to kill."),),
        "flower",
        True,
    ),
)


def _operation(
    path: str, summary: str, params: tuple[tuple[str, str], ...], tag: str, acts: bool
) -> dict[str, object]:
    parameters: list[dict[str, object]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("uuid", "hostname", "action", "name")
        if "{" + name + "}" in path
    ]
    parameters += [
        {"name": name, "in": "query", "description": text, "schema": {"type": "string"}}
        for name, text in params
    ]
    responses: dict[str, object] = {
        "200": {"description": "OK", "content": {"application/json": {}}},
        "401": {"description": "No or wrong credentials."},
    }
    operation: dict[str, object] = {"summary": summary, "tags": [tag], "parameters": parameters}
    if acts:
        responses["403"] = {"description": "Read-only user, or the CSRF check failed."}
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
        parameters.append(
            {"name": "X-CSRF-Token", "in": "header", "required": False,
             "description": "The celeriac_csrf cookie's value (browsers only).",
             "schema": {"type": "string"}}
        )  # fmt: skip
    operation["responses"] = responses
    return operation


def document() -> dict[str, object]:
    """The OpenAPI document."""
    paths: dict[str, dict[str, object]] = {}
    for method, path, summary, params, tag, acts in _OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(path, summary, params, tag, acts)
    return {
        "openapi": "3.1.0",
        "info": {"title": "celeriac dashboard", "version": "1"},
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "token": {"type": "http", "scheme": "bearer"},
            }
        },
        "security": [{"basic": []}, {"token": []}],
        "paths": paths,
    }


async def openapi(request: Request) -> JSONResponse:
    """``GET /api/openapi.json``."""
    return JSONResponse(document())


routes = [Route("/api/openapi.json", openapi)]
