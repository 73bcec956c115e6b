"""The README's two commands, run the way a newcomer runs them: a fresh clone, a bare environment.

``test_readme_commands_in_a_fresh_clone`` clones this repository (its committed ``HEAD``:
what a newcomer gets, so commit before running it) into a temporary directory and runs
the two commands of the README's first ``bash`` block, read from ``README.md`` at run
time, with ``env -i PATH=… HOME=… bash -c '<command>'``. It runs twice:

- ``debian``: ``PATH`` is Debian's default, so ``python3`` is ``/usr/bin/python3``, the
  system interpreter carrying PEP 668's ``EXTERNALLY-MANAGED`` marker. The test first
  shows that its ``pip install`` is refused there, which is why the commands make a
  ``.venv``. (Skipped when there is no Python 3.11+ at ``/usr/bin/python3``.)
- ``default``: this machine's ``PATH`` (minus any virtual environment the suite itself
  runs in), so ``python3`` is the default Python (pyenv here), whose ``pip`` installs
  anywhere.

The second command runs the whole suite, which would take minutes and would run this
test again. The test therefore appends a smoke selection to it: the README's second
command ends in ``scripts/check``, which passes its arguments to pytest, so
``scripts/venv dev && scripts/check <smoke tests>`` still runs every stage for real (the
``.[dev]`` install, ``scripts/services.sh``, ruff, mypy, the typing checks,
import-linter, the generated-docs check) and pytest on a few tests that need the
installed package (the console script, the public API, one CLI error). The full suite
is the test run that contains this one.

Where pip's packages come from: ``env -i`` drops every ``PIP_*`` variable, but pip still
reads its configuration files, ``/etc/pip.conf``, ``/etc/xdg/pip/pip.conf`` and
``$HOME/.config/pip/pip.conf``, because ``HOME`` is kept; on the development machine these
point pip at a local mirror (and ``pypi.org`` resolves to one), so the installs work
offline, and pip's cache in ``$HOME/.cache`` is used as a newcomer's second run would use
it. Nothing here sets up an index: on a machine without one, the commands fetch from
PyPI like anyone's. A failure message includes ``pip config list`` as the clone's
``.venv`` saw it.

Each run takes about 30 s with a warm pip cache and under a minute with a cold one (the
two run on two xdist workers at once), so they are marked ``slow``; ``slow`` tests are
not deselected anywhere, so ``scripts/check`` (CI) runs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: Debian's (and Ubuntu's) default PATH for root: /usr/bin/python3 is the python3 found.
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_PYTHON = Path("/usr/bin/python3")

#: What the test appends to the README's second command (pytest arguments).
SMOKE = [
    "tests/test_public_api.py",
    "tests/cli/test_cli_subprocess.py::test_console_script_version",
    "tests/cli/test_error_boundary.py::test_debug_prints_the_traceback_then_the_same_line",
]

STAGES = [
    "==> scripts/services.sh",
    "==> ruff check",
    "==> ruff format --check",
    "==> mypy",
    "==> mypy tests/typing",
    "==> lint-imports",
    "==> python scripts/gen_config_docs.py --check",
    "==> pytest -n 4 --dist worksteal -q tests/",
]


def readme_commands() -> list[str]:
    """The commands of the README's first ``bash`` block, without their comments."""
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert block, "README.md has no ```bash block"
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def default_path() -> str:
    """This process's PATH without the bin directory of a virtual environment it runs in."""
    venvs = {os.environ.get("VIRTUAL_ENV", "")}
    if sys.prefix != sys.base_prefix:
        venvs.add(sys.prefix)
    skip = {str(Path(venv) / "bin") for venv in venvs if venv}
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p not in skip)


def bare(path: str, command: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``env -i PATH=<path> HOME=<home> bash -c <command>`` in ``cwd``; output merged."""
    home = os.environ.get("HOME") or str(Path.home())
    return subprocess.run(
        ["env", "-i", f"PATH={path}", f"HOME={home}", "bash", "-c", command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=timeout,
    )


def test_the_readme_opens_with_two_commands_and_ci_runs_the_second() -> None:
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert commands[1].endswith("scripts/check"), "the smoke selection is appended to it"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci, ".ci/run must run exactly the README's second command"


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    """A fresh clone of this repository's HEAD (deleted afterwards: its .venv is large)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    target = tmp_path / "celeriac"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=120)
    yield target
    shutil.rmtree(target, ignore_errors=True)


def _system_python_or_skip() -> Path:
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no {SYSTEM_PYTHON} (not a Debian/Ubuntu system)")
    version = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
    )
    if version.stdout.strip() != "True":
        pytest.skip(f"{SYSTEM_PYTHON} is older than 3.11")
    stdlib = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(stdlib.stdout.strip()) / "EXTERNALLY-MANAGED"


def _report(done: subprocess.CompletedProcess[str], clone: Path, path: str) -> str:
    pip = clone / ".venv" / "bin" / "pip"
    config = bare(path, f"{pip} config list", clone, 60).stdout if pip.exists() else ""
    return f"exit {done.returncode}\n{done.stdout[-6000:]}\n--- pip config list ---\n{config}"


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("python", ["debian", "default"])
def test_readme_commands_in_a_fresh_clone(clone: Path, python: str) -> None:
    first, second = readme_commands()
    if python == "debian":
        marker = _system_python_or_skip()
        path = DEBIAN_PATH
        if marker.exists():  # PEP 668: the README's old 'pip install -e .' stops here
            refused = bare(path, "python3 -m pip install --dry-run --no-deps click", clone, 120)
            assert refused.returncode != 0, refused.stdout
            assert "externally-managed-environment" in refused.stdout or (
                "No module named pip" in refused.stdout
            ), refused.stdout
    else:
        path = default_path()
    found = bare(path, "command -v python3", clone, 30).stdout.strip()
    assert found == (
        str(SYSTEM_PYTHON) if python == "debian" else shutil.which("python3", path=path)
    )

    quickstart = bare(path, first, clone, 600)
    assert quickstart.returncode == 0, _report(quickstart, clone, path)
    assert "worker stopped (exit code 0); it logged 16 succeeded tasks" in quickstart.stdout
    base = "-c 'import sys; print(sys.base_prefix)'"
    made_with = bare(path, f".venv/bin/python {base}; python3 {base}", clone, 30).stdout.split()
    assert len(made_with) == 2 and made_with[0] == made_with[1], made_with  # .venv is python3's

    check = bare(path, f"{second} {' '.join(SMOKE)}", clone, 900)
    assert check.returncode == 0, _report(check, clone, path)
    missing = [stage for stage in STAGES if stage not in check.stdout]
    assert not missing, f"stages that did not run: {missing}\n{check.stdout[-6000:]}"
    assert "services.sh: redis is up" in check.stdout
    assert re.search(r"\b\d+ passed\b", check.stdout), check.stdout[-3000:]
