"""The Django fixup with a real prefork worker on PostgreSQL (and SQLite, MariaDB).

``celeriac -A proj worker`` sets Django up by itself (no ``django.setup()`` anywhere in the
project's code), connections survive the server closing them between tasks, and no
connection crosses the pool's fork.
"""

from __future__ import annotations

import pytest

from django_integration.djproject import django_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

pytest.importorskip("django")
pytest.importorskip("psycopg")


def _call(project, name, *args, timeout=30):
    producer = project.producer()
    return producer.send_task(name, args=list(args)).get(timeout=timeout)


@pytest.mark.parametrize("database", ["sqlite", "postgres", "mysql"])
def test_worker_sets_django_up_by_itself(tmp_path, database):
    with django_project(tmp_path, database) as project:
        project.manage("migrate", "--noinput")
        project.start_django_worker(concurrency=2)
        # app1.tasks imports a model at module level: django.setup() ran before it.
        assert _call(project, "app1.content_types") > 0
        assert _call(project, "app1.add", 2, 3) == 5


@pytest.mark.parametrize(
    ("max_age", "health_checks"),
    [("0", "0"), ("none", "0"), ("none", "1"), ("600", "0")],
    ids=["per-task", "persistent", "persistent-health-checks", "max-age"],
)
@pytest.mark.parametrize("database", ["postgres", "mysql"])
def test_next_task_works_after_the_server_closed_the_connection(
    tmp_path, database, max_age, health_checks
):
    """No "server closed the connection unexpectedly" (PostgreSQL) or "MySQL server has
    gone away" after the server ended an idle worker's session."""
    with django_project(
        tmp_path, database, DJ_CONN_MAX_AGE=max_age, DJ_HEALTH_CHECKS=health_checks
    ) as project:
        project.start_django_worker(concurrency=1)
        pid, session = _call(project, "app1.backend_pid")
        if max_age != "0":  # a persistent connection outlives the task
            assert project.session_alive(session)
        # The server ends the worker's session while it idles (an idle night, a restart).
        project.end_session(session)
        again_pid, again_session = _call(project, "app1.backend_pid")
        assert again_pid == pid  # the same child ran both
        assert again_session != session
        # and the one after that reuses the new session when it is persistent
        third_session = _call(project, "app1.backend_pid")[1]
        assert (third_session == again_session) == (max_age != "0")
        log = project.workers[0].log()
        assert "Traceback" not in log, log


def test_no_connection_is_shared_across_the_fork(tmp_path):
    parent_pid_file = tmp_path / "parent-session"
    with django_project(tmp_path, "postgres", DJ_CONN_MAX_AGE="none") as project:
        # proj/celery.py's worker_init receiver opens a connection in the main process,
        # after the fixup closed its own: the pool forks with it open.
        worker = project.start_django_worker(
            concurrency=2, env={"DJ_PARENT_PID_FILE": str(parent_pid_file)}
        )
        parent_session = int(parent_pid_file.read_text())
        producer = project.producer()
        # One at a time: once a task proved short, a child runs it on its main thread,
        # the thread that forked and so the one holding the parent's connection.
        seen = [tuple(producer.send_task("app1.backend_pid").get(timeout=30)) for _ in range(30)]
        children = {pid for pid, _ in seen}
        sessions = {session for _, session in seen}
        assert worker.pid not in children
        assert parent_session not in sessions
        # each session belongs to one child process
        assert len(sessions) == len({(pid, s) for pid, s in seen})
        # The children dropped their copy without ending the parent's session.
        assert project.session_alive(parent_session)


def test_delay_on_commit_sends_after_the_commit_only(tmp_path):
    with django_project(tmp_path, "sqlite") as project:
        project.manage("migrate", "--noinput")
        project.start_django_worker(concurrency=1)
        sent = project.run(
            """
            from django.db import transaction
            from celeriac import current_app
            from app1.tasks import add

            app = current_app
            calls = []
            original = add.apply_async
            add.apply_async = lambda *a, **k: calls.append(a) or original(*a, **k)
            with transaction.atomic():
                add.delay_on_commit(1, 2)
                before_commit = len(calls)
            after_commit = len(calls)
            try:
                with transaction.atomic():
                    add.apply_async_on_commit((5, 5), countdown=0)
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
            outside = add.delay_on_commit(10, 20)  # no transaction: at once
            print(json.dumps([before_commit, after_commit, len(calls), outside]))
            """
        )
        assert sent == [0, 1, 2, None]
