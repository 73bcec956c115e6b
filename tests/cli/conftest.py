"""Fixtures for the CLI tests: a project directory to run ``celeriac`` in, in-process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from celeriac import Celery
from celeriac.cli.main import celeriac
from helpers.cli import CLIProject, Invoke


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CLIProject]:
    """A working directory holding the project's modules; imports are undone afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # also restores sys.path the CLI extends
    for key in [key for key in os.environ if key.startswith("CELERY")]:
        monkeypatch.delenv(key)
    before = set(sys.modules)
    proj = CLIProject(tmp_path)
    yield proj
    for name in set(sys.modules) - before:  # only the project's own modules
        if not str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            continue
        module = sys.modules.pop(name)
        for value in vars(module).values():
            if isinstance(value, Celery):
                value.close()
    for app in proj.apps:
        app.close()


@pytest.fixture
def invoke() -> Invoke:
    """Run ``celeriac <args>`` in-process with click's runner (stdout and stderr apart)."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(celeriac, list(args), input=input, catch_exceptions=False)

    return run
