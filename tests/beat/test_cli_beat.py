"""``celeriac beat`` on the command line: its flags and its errors."""

from __future__ import annotations

from pathlib import Path

from helpers.processes import Project


def test_help_lists_celery_flags(tmp_path: Path) -> None:
    with Project(tmp_path) as project:
        result = project.celeriac("beat", "--help")
        worker_help = project.celeriac("worker", "--help")
    assert result.returncode == 0
    for flag in ("--loglevel", "--schedule", "--scheduler", "--max-interval", "--pidfile"):
        assert flag in result.stdout
    assert "-B, --beat" in worker_help.stdout


def test_errors_are_named(tmp_path: Path) -> None:
    body = 'app.conf.beat_schedule = {"broken": {"task": "tasks.x"}}\n'
    with Project(tmp_path, body) as project:
        broken = project.celeriac("beat", "-s", str(tmp_path / "s.db"), timeout=60)
        assert broken.returncode == 1
        assert "'broken' needs 'task' and 'schedule'" in broken.stderr
        missing = project.celeriac("beat", "-S", "nowhere.mod:Sched")
        assert missing.returncode == 1 and "nowhere" in missing.stderr
