"""Build the dashboard's ASGI app and run it with uvicorn.

:func:`create_app` wires the routes, the auth middleware and the background loops
(ingest, event source, queue sampler, worker inspection) that run for the app's
lifetime. :func:`serve` is what ``celeriac dashboard`` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from celeriac.dashboard import api_live, api_tasks, api_workers, openapi, pages
from celeriac.dashboard.api_common import ApiError
from celeriac.dashboard.api_workers import inspect_workers
from celeriac.dashboard.auth import AuthMiddleware, check_bind
from celeriac.dashboard.context import DashboardContext, DashboardOptions
from celeriac.dashboard.seed import seed_from_backend
from celeriac.dashboard.source import EventSource
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["create_app", "serve"]

logger = own_logger(__name__)

STATIC = Path(__file__).with_name("static")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _inspect_loop(context: DashboardContext, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(inspect_workers, context)
        except Exception as exc:
            logger.warning("dashboard: inspecting the workers failed: %s", exc)
        await asyncio.sleep(interval)


async def _seed(context: DashboardContext) -> None:
    await asyncio.to_thread(
        seed_from_backend, context.app, context.store, context.options.seed, time.time()
    )


def _background(context: DashboardContext) -> list[asyncio.Task[None]]:
    options = context.options
    tasks = [asyncio.create_task(context.ingestor.run(), name="dashboard-ingest")]
    if options.seed > 0:
        tasks.append(asyncio.create_task(_seed(context), name="dashboard-seed"))
    if options.receive_events:
        source = EventSource(
            context.app, context.ingestor.feed, enable_events=options.enable_events
        )
        tasks.append(asyncio.create_task(source.run(), name="dashboard-events"))
    if options.queue_interval > 0:
        tasks.append(asyncio.create_task(context.queues.run(), name="dashboard-queues"))
    if options.inspect_interval > 0:
        tasks.append(
            asyncio.create_task(
                _inspect_loop(context, options.inspect_interval), name="dashboard-inspect"
            )
        )
    return tasks


def create_app(app: Celery, options: DashboardOptions | None = None) -> Starlette:
    """The dashboard for ``app`` as an ASGI application (its state: ``.state.dash``)."""
    options = options or DashboardOptions()
    context = DashboardContext.create(app, options)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tasks = _background(context)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await context.ingestor.flush()
            context.store.save_workers({h: w.as_dict() for h, w in context.workers.workers.items()})
            context.store.close()

    routes = [
        *pages.routes,
        *api_tasks.routes,
        *api_workers.routes,
        *api_live.routes,
        *openapi.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    starlette = Starlette(
        routes=routes,
        middleware=[Middleware(AuthMiddleware, config=options.auth)],
        exception_handlers={ApiError: _api_error},
        lifespan=lifespan,
    )
    starlette.state.dash = context
    return starlette


def serve(
    app: Celery,
    options: DashboardOptions,
    *,
    address: str = "127.0.0.1",
    port: int = 5555,
    insecure: bool = False,
    log_level: str = "info",
) -> None:
    """Run the dashboard until interrupted.

    Raises:
        ImproperlyConfigured: a public address without credentials (and no ``insecure``).
    """
    import uvicorn

    check_bind(address, options.auth, insecure)
    uvicorn.run(
        create_app(app, options),
        host=address,
        port=port,
        log_level=log_level,
        access_log=False,
        proxy_headers=True,
    )
