"""The HTML pages: one small shell per page; ``static/app.js`` draws it from the API.

Each page response sets the ``celeriac_csrf`` cookie (SameSite=Strict) that the page's
script echoes in ``X-CSRF-Token`` on every action.
"""

from __future__ import annotations

import html
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from celeriac.dashboard.auth import CSRF_COOKIE, new_csrf_token

__all__ = ["routes"]

_NAV: Final = (
    ("workers", "Workers"),
    ("tasks", "Tasks"),
    ("queues", "Queues"),
    ("graphs", "Graphs"),
)

_SHELL: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · celeriac</title>
<link rel="stylesheet" href="/static/style.css">
<script type="module" src="/static/app.js"></script>
</head>
<body data-page="{page}" data-arg="{arg}">
<header><a class="brand" href="/">celeriac</a><nav>{nav}</nav>
<span id="live" class="live" title="live updates">●</span><span id="role"></span></header>
<main id="main"><h1>{title}</h1><div id="content">Loading…</div></main>
</body>
</html>
"""


def _page(request: Request, page: str, title: str, arg: str = "") -> Response:
    nav = "".join(
        f'<a href="/{key}"{" class=current" if key == page else ""}>{label}</a>'
        for key, label in _NAV
    )
    response = HTMLResponse(
        _SHELL.format(
            title=html.escape(title), page=page, arg=html.escape(arg, quote=True), nav=nav
        )
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, new_csrf_token(), httponly=False, samesite="strict")
    return response


async def home(request: Request) -> Response:
    """``/`` goes to the tasks page."""
    return RedirectResponse("/tasks")


async def workers(request: Request) -> Response:
    """The workers page."""
    return _page(request, "workers", "Workers")


async def tasks(request: Request) -> Response:
    """The live tasks table."""
    return _page(request, "tasks", "Tasks")


async def task(request: Request) -> Response:
    """One task's page."""
    uuid = request.path_params["uuid"]
    return _page(request, "task", f"Task {uuid}", uuid)


async def workflow(request: Request) -> Response:
    """A workflow graph page."""
    uuid = request.path_params["uuid"]
    return _page(request, "workflow", "Workflow", uuid)


async def queues(request: Request) -> Response:
    """The queues page."""
    return _page(request, "queues", "Queues")


async def graphs(request: Request) -> Response:
    """The graphs page."""
    return _page(request, "graphs", "Graphs")


routes = [
    Route("/", home),
    Route("/workers", workers),
    Route("/tasks", tasks),
    Route("/task/{uuid}", task),
    Route("/workflow/{uuid}", workflow),
    Route("/queues", queues),
    Route("/graphs", graphs),
]
