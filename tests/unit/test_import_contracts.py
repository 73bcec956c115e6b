"""The import-linter contract that keeps integrations (``contrib``) above the core covers
every top-level module, so a new subpackage cannot import ``contrib`` unnoticed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import celeriac

ROOT = Path(__file__).resolve().parents[2]
#: Allowed to import contrib: contrib itself, and cli and fixups (Celery's path for the
#: Django fix-up) beside it in the top layer.
ABOVE_THE_CORE = {"celeriac.contrib", "celeriac.cli", "celeriac.fixups"}


def _contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    [contract] = [c for c in contracts if c["name"] == name]
    return contract  # type: ignore[no-any-return]


def test_every_top_level_module_but_contrib_and_cli_is_forbidden_to_import_contrib() -> None:
    package = Path(celeriac.__file__).parent
    modules = {
        f"celeriac.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    contract = _contract("Nothing below contrib imports it")
    assert contract["forbidden_modules"] == ["celeriac.contrib"]
    assert set(contract["source_modules"]) == modules - ABOVE_THE_CORE  # type: ignore[arg-type]


def test_the_package_init_is_checked_on_its_own() -> None:
    contract = _contract("The public API module does not import contrib")
    assert contract["source_modules"] == ["celeriac"]
    assert contract["as_packages"] is False
