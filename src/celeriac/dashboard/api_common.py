"""What every API route shares: the context, JSON bodies, query-string parsing, errors."""

from __future__ import annotations

import json
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse

from celeriac.dashboard.context import DashboardContext
from celeriac.dashboard.query import TaskQuery
from celeriac.dashboard.records import TaskRow

__all__ = [
    "ApiError",
    "dash",
    "find_task",
    "json_body",
    "parse_query",
    "parse_time",
    "task_json",
]


class ApiError(Exception):
    """A request the API refuses; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    def response(self) -> JSONResponse:
        """The error as a JSON response."""
        return JSONResponse({"error": str(self)}, self.status)


def dash(request: Request) -> DashboardContext:
    """The dashboard this request reached."""
    context: DashboardContext = request.app.state.dash
    return context


def find_task(context: DashboardContext, uuid: str) -> TaskRow | None:
    """The row of ``uuid``: from the store, else merged from events and not written yet
    (sync: run it in a thread)."""
    return context.store.task(uuid) or context.ingestor.unwritten(uuid)


async def json_body(request: Request) -> dict[str, object]:
    """The request's JSON object body (``{}`` when empty).

    Raises:
        ApiError: the body is not a JSON object.
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(f"the request body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object")
    return data


def parse_time(text: str | None, name: str) -> float | None:
    """Epoch seconds, or an ISO date/time (Flower's ``YYYY-MM-DD HH:MM``), or None.

    Raises:
        ApiError: neither a number nor an ISO date/time.
    """
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ApiError(f"{name} must be epoch seconds or an ISO date/time, got {text!r}")


def _int(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ApiError(f"{name} must be an integer, got {text!r}")


def parse_query(request: Request) -> TaskQuery:
    """A :class:`TaskQuery` from the query string (Flower's names accepted too).

    Raises:
        ApiError: a malformed number, time or sort column.
    """
    q = request.query_params
    sort = q.get("sort") or q.get("sort_by") or "-timestamp"
    if q.get("sort_by") and q.get("reverse") in ("true", "1"):
        sort = "-" + sort.lstrip("-")
    if sort.lstrip("-") in ("received", "started", "sent"):
        # Flower's names: the last update orders tasks the same way, through an index.
        sort = sort.replace(sort.lstrip("-"), "timestamp")
    query = TaskQuery(
        state=q.get("state") or None,
        name=q.get("name") or q.get("taskname") or None,
        hostname=q.get("hostname") or q.get("worker") or q.get("workername") or None,
        queue=q.get("queue") or None,
        since=parse_time(q.get("since") or q.get("received_start"), "since"),
        until=parse_time(q.get("until") or q.get("received_end"), "until"),
        search=q.get("search") or None,
        sort=sort,
        limit=_int(q.get("limit"), "limit", 50),
        offset=_int(q.get("offset"), "offset", 0),
    )
    try:
        query.order()
        query.page()
    except ValueError as exc:
        raise ApiError(str(exc)) from exc
    return query


def task_json(row: TaskRow) -> dict[str, object]:
    """A row as the API returns it: ``extra`` unpacked into the dict, ``worker`` = hostname."""
    data = {k: v for k, v in row.items() if k != "extra"}
    extra = row.get("extra")
    if isinstance(extra, str) and extra:
        try:
            parsed = json.loads(extra)
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            for key, value in parsed.items():
                data.setdefault(key, value)
    data["worker"] = row.get("hostname")
    return data
