"""The history store on SQLite and PostgreSQL: upsert, filters, the count cap, pruning,
workflow lookups, queue samples and saved workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac.dashboard import store as store_module
from celeriac.dashboard.query import TaskQuery
from celeriac.dashboard.records import apply_event, new_row
from celeriac.dashboard.store import TaskStore
from celeriac.exceptions import ImproperlyConfigured
from helpers.dashboard import task_events
from helpers.services import postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    psycopg = pytest.importorskip("psycopg")
    url = postgres_url()
    schema = f"dash_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def rows_for(count: int, start: float = 1_800_000_000.0, **kw: object) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        tid = str(uuid.uuid4())
        row = new_row(tid)
        for event in task_events(tid, at=start + i, **kw):  # type: ignore[arg-type]
            apply_event(row, event)
        rows.append(row)
    return rows


def test_upsert_query_and_filters(store_url: str) -> None:
    store = TaskStore(store_url)
    try:
        adds = rows_for(12, hostname="a@h")
        fails = rows_for(3, start=1_800_000_100.0, name="tasks.fail", state="failed")
        store.upsert(adds + fails, new=15)
        rows, total = store.query(TaskQuery(limit=5))
        assert total == 15 and len(rows) == 5
        assert [r["uuid"] for r in rows[:3]] == [r["uuid"] for r in fails[::-1]]
        rows, total = store.query(TaskQuery(state="FAILURE"))
        assert total == 3 and all(r["exception"] == "ValueError('boom')" for r in rows)
        _, total = store.query(TaskQuery(name="tasks.add", hostname="a@h", since=1_800_000_005.0))
        assert total == 7
        rows, total = store.query(TaskQuery(search="50%_x"))
        assert total == 0  # LIKE wildcards in the search text are literal
        updated = dict(adds[0], state="REVOKED", timestamp=1_900_000_000.0)
        store.upsert([updated])
        assert store.task(str(adds[0]["uuid"]))["state"] == "REVOKED"  # type: ignore[index]
        assert store.approximate_count == 15
        assert store.distinct("name") == ["tasks.add", "tasks.fail"]
        with pytest.raises(ValueError):
            store.distinct("args")
    finally:
        store.close()


def test_the_count_stops_at_the_cap(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "COUNT_CAP", 4)
    store = TaskStore(store_url)
    try:
        store.upsert(rows_for(10), new=10)
        assert store.query(TaskQuery(state="SUCCESS"))[1] == 5  # cap + 1 means "more"
        assert store.query(TaskQuery())[1] == 10  # unfiltered: the kept count
    finally:
        store.close()


def test_prune_by_count_and_age(store_url: str) -> None:
    store = TaskStore(store_url, max_tasks=6, max_age=50.0)
    try:
        rows = rows_for(10)
        store.upsert(rows, new=10)
        assert store.prune(now=1_800_000_000.0) == 4
        kept = {r["uuid"] for r in store.query(TaskQuery(limit=100))[0]}
        assert kept == {r["uuid"] for r in rows[4:]}
        assert store.prune(now=1_800_000_057.0) == 3  # older than 50 s: the first three kept
        assert store.approximate_count == 3
    finally:
        store.close()


def test_workflow_lookups_samples_and_workers(store_url: str) -> None:
    store = TaskStore(store_url)
    try:
        root = rows_for(1)[0]
        group = str(uuid.uuid4())
        rid = str(root["uuid"])
        members = rows_for(2, parent_id=rid, root_id=rid, group=group)
        store.upsert([root, *members], new=3)
        assert {r["uuid"] for r in store.related(rid)} == {rid, *(m["uuid"] for m in members)}
        assert len(store.in_groups([group])) == 2
        assert len(store.children(rid)) == 2
        store.add_queue_samples(100.0, {"celery": 3, "other": 0})
        store.add_queue_samples(105.0, {"celery": 1})
        assert store.queue_samples(101.0) == [(105.0, "celery", 1)]
        store.save_workers({"w1@h": {"sw_ident": "py-celery", "processed": 3}})
        store.save_workers({"w1@h": {"sw_ident": "py-celery", "processed": 4}})
        assert store.load_workers() == {"w1@h": {"sw_ident": "py-celery", "processed": 4}}
    finally:
        store.close()


def test_unknown_store_urls_are_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="unsupported history store"):
        TaskStore("mysql://x/y")


def test_a_search_without_a_time_range_looks_at_the_newest_tasks(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celeriac.dashboard import query as query_module

    monkeypatch.setattr(query_module, "SEARCH_WINDOW", 5)
    store = TaskStore(store_url)
    try:
        rows = rows_for(12, args="('needle',)")
        store.upsert(rows, new=12)
        found, _ = store.query(TaskQuery(search="needle", limit=50))
        assert [r["uuid"] for r in found] == [r["uuid"] for r in rows[::-1][:5]]
        everything, _ = store.query(TaskQuery(search="needle", since=0.0, limit=50))
        assert len(everything) == 12
    finally:
        store.close()
