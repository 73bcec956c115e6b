"""Dashboards for the tests: an in-process one fed with recorded events (``dashboard``),
and the pieces the live tests share (a Celery worker project on Redis, a served
dashboard)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("prometheus_client")

from starlette.testclient import TestClient

from celeriac import Celery
from celeriac.dashboard.auth import AuthConfig
from celeriac.dashboard.context import DashboardOptions
from celeriac.dashboard.server import create_app
from helpers.dashboard import Dash, DashFactory


@pytest.fixture
def make_dashboard(tmp_path: Path) -> Iterator[DashFactory]:
    """``make_dashboard(auth=AuthConfig(...), max_tasks=...)``: a dashboard on a memory
    broker with its history in a SQLite file under ``tmp_path``."""
    made: list[tuple[TestClient, Celery | None]] = []

    def make(
        auth: AuthConfig | None = None,
        store_url: str | None = None,
        app: Celery | None = None,
        **options: object,
    ) -> Dash:
        owned = None if app is not None else Celery("dash", broker="memory://", backend="memory://")
        app = app or owned
        assert app is not None
        settings: dict[str, object] = {
            "receive_events": False,
            "inspect_interval": 0,
            "queue_interval": 0,
            "seed": 0,
            **options,
        }
        opts = DashboardOptions(
            store_url=store_url or str(tmp_path / "history.sqlite3"),
            auth=auth or AuthConfig(),
            **settings,  # type: ignore[arg-type]
        )
        web = create_app(app, opts)
        client = TestClient(web, base_url="http://127.0.0.1:5555")
        client.__enter__()
        made.append((client, owned))
        return Dash(client, web.state.dash)

    yield make
    for client, owned in made:
        client.__exit__(None, None, None)
        if owned is not None:
            owned.close()


@pytest.fixture
def dashboard(make_dashboard: DashFactory) -> Dash:
    """A dashboard without credentials."""
    return make_dashboard()
