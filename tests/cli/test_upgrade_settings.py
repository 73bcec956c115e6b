"""``celeriac upgrade settings``: Celery's rewrite, byte for byte, with Celery's messages."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import Invoke

OLD = b'BROKER_URL = "memory://"\r\nCELERY_ALWAYS_EAGER = True\r\n# \xc3\xa9t\xc3\xa9\n'


def test_keeps_line_endings_and_backs_up(tmp_path: Path, invoke: Invoke) -> None:
    path = tmp_path / "celeryconfig.py"
    path.write_bytes(OLD)
    result = invoke("upgrade", "settings", str(path))
    assert result.exit_code == 0, result.output
    assert "Changes to your setting have been made!" in result.stdout
    assert path.read_bytes() == (
        b'broker_url = "memory://"\r\ntask_always_eager = True\r\n# \xc3\xa9t\xc3\xa9\n'
    )
    assert (tmp_path / "celeryconfig.py.orig").read_bytes() == OLD


def test_django_names_without_backup(tmp_path: Path, invoke: Invoke) -> None:
    path = tmp_path / "settings.py"
    path.write_bytes(OLD)
    result = invoke("upgrade", "settings", str(path), "--django", "--no-backup")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == (
        b'CELERY_BROKER_URL = "memory://"\r\nCELERY_TASK_ALWAYS_EAGER = True\r\n'
        b"# \xc3\xa9t\xc3\xa9\n"
    )
    assert not (tmp_path / "settings.py.orig").exists()


def test_nothing_to_change_leaves_the_file_alone(tmp_path: Path, invoke: Invoke) -> None:
    path = tmp_path / "celeryconfig.py"
    path.write_bytes(b"broker_url = 'redis://'\n")
    result = invoke("upgrade", "settings", str(path))
    assert "Does not seem to require any changes" in result.stdout
    assert not (tmp_path / "celeryconfig.py.orig").exists()
