"""``scripts/venv`` when Python's venv module is missing, as on a stock Debian or Ubuntu.

This machine has ``python3-venv``, so the missing module is staged: a ``python3`` on
``PATH`` that runs the real interpreter but fails whenever ``ensurepip`` is involved,
until a fake ``apt-get`` "installs" the package; a fake ``id`` decides root or not, a fake
``sudo`` refuses as ``sudo -n`` does without a password. The script itself, ``venv`` and
``pip`` are real: it runs on a copy of ``scripts/venv`` beside a one-file project, under
``env -i PATH=… HOME=…`` like the README's commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "venvprobe"
version = "0"
"""


def fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body))
    path.chmod(0o755)


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    """A project with scripts/venv, and bin/ holding python3 without venv, apt-get, id."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "venv", project / "scripts" / "venv")
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "venvprobe").mkdir()
    (project / "venvprobe" / "__init__.py").write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    real = Path(sys.executable).resolve()
    fake(
        bin_dir,
        "python3",
        f"""\
        if [ ! -e {state}/installed ]; then
          for arg in "$@"; do
            case "$arg" in *ensurepip*) echo "No module named 'ensurepip'" >&2; exit 1;; esac
          done
        fi
        exec {real} "$@"
        """,
    )
    fake(
        bin_dir,
        "apt-get",
        f"""\
        echo "$*" >> {state}/apt-get.log
        case "$*" in *install*) touch {state}/installed;; esac
        """,
    )
    fake(bin_dir, "sudo", "exit 1\n")  # sudo -n, a password needed
    return tmp_path


def run(staged: Path, uid: int) -> subprocess.CompletedProcess[str]:
    fake(staged / "bin", "id", f"echo {uid}\n")
    home = os.environ.get("HOME") or str(Path.home())
    return subprocess.run(
        ["env", "-i", f"PATH={staged / 'bin'}:/usr/bin:/bin", f"HOME={home}", "scripts/venv"],
        cwd=staged / "project",
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_as_root_it_installs_the_package_with_apt_get(staged: Path) -> None:
    done = run(staged, uid=0)
    assert done.returncode == 0, done.stderr
    log = (staged / "state" / "apt-get.log").read_text().splitlines()
    assert log[-1].endswith(f"install -y -qq --no-install-recommends python{VERSION}-venv"), log
    assert f"installing python{VERSION}-venv with apt-get" in done.stderr
    venv_python = staged / "project" / ".venv" / "bin" / "python"
    imported = subprocess.run([venv_python, "-c", "import venvprobe"], capture_output=True)
    assert imported.returncode == 0, imported.stderr


def test_otherwise_it_says_what_to_install_in_one_line(staged: Path) -> None:
    done = run(staged, uid=1000)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "scripts/venv: python3 has no venv module: install it (Debian/Ubuntu: "
        f"sudo apt-get install python{VERSION}-venv), then run scripts/venv again"
    ]
    assert done.stdout == ""
    assert not (staged / "state" / "apt-get.log").exists()
    assert not (staged / "project" / ".venv").exists()
