"""The import paths Celery users write exist in celeriac, and each module's ``__all__`` is true.

Moving from Celery should be a search-and-replace of ``celery`` by ``celeriac``; these
tests pin the paths that makes work, and measure the rest of Celery's surface against the
installed ``celery`` 5.7 (:mod:`helpers.surface`): module paths, public names, members of
the key classes, parameter names, CLI commands and options, remote-control commands. What
is missing is printed; its count may only shrink (``tests/data/public_api_baseline.json``;
``python tests/helpers/surface.py --update`` rewrites it after closing gaps).
"""

from __future__ import annotations

import importlib
import inspect
import json
from types import ModuleType

import pytest

from helpers import surface

#: The top-level names the Celery tutorial and most projects use.
TOP_LEVEL = (
    "Celery",
    "shared_task",
    "Task",
    "group",
    "chain",
    "chord",
    "chunks",
    "xmap",
    "xstarmap",
    "signature",
    "maybe_signature",
    "current_app",
    "current_task",
    "AsyncResult",
)

#: Public modules, with a name each must provide (Celery's path with celery → celeriac).
MODULES = {
    "celeriac": "Celery",
    "celeriac.result": "AsyncResult",
    "celeriac.canvas": "chord",
    "celeriac.exceptions": "Retry",
    "celeriac.states": "SUCCESS",
    "celeriac.signals": "task_success",
    "celeriac.utils.log": "get_task_logger",
    "celeriac.contrib.testing": "start_worker",
    "celeriac.contrib.pytest": "celery_app",
    "celeriac.schedules": "crontab",
    "celeriac.beat": "PersistentScheduler",
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_names(name: str) -> None:
    import celeriac

    assert hasattr(celeriac, name), f"celeriac.{name} is missing"
    assert name in celeriac.__all__, f"celeriac.__all__ does not list {name}"


@pytest.mark.parametrize(("module", "name"), sorted(MODULES.items()))
def test_module_paths(module: str, name: str) -> None:
    assert hasattr(_module(module), name), f"{module}.{name} is missing"


def test_celery_style_imports() -> None:
    from celeriac import AsyncResult as TopLevelResult
    from celeriac.contrib.testing import start_worker
    from celeriac.exceptions import MaxRetriesExceededError, Reject, Retry, SoftTimeLimitExceeded
    from celeriac.result import AsyncResult, GroupResult
    from celeriac.states import FAILURE, PENDING, READY_STATES, SUCCESS
    from celeriac.utils.log import get_task_logger

    assert AsyncResult is TopLevelResult
    assert issubclass(MaxRetriesExceededError, Exception)
    assert issubclass(SoftTimeLimitExceeded, Exception)
    assert issubclass(Retry, Exception) and issubclass(Reject, Exception)
    assert {SUCCESS, FAILURE} <= READY_STATES and PENDING not in READY_STATES
    assert callable(start_worker) and GroupResult is not None
    # as Celery: the given name, with celery.task as its parent
    task_logger = get_task_logger("tasks.add")
    assert task_logger.name == "tasks.add" and task_logger.parent.name == "celery.task"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_all_is_accurate(module: str) -> None:
    """``__all__`` names only what exists, once, and every class or function defined there."""
    mod = _module(module)
    exported = getattr(mod, "__all__", None)
    assert exported is not None, f"{module} has no __all__"
    assert len(exported) == len(set(exported)), f"{module}.__all__ has duplicates"
    missing = [name for name in exported if not hasattr(mod, name)]
    assert not missing, f"{module}.__all__ names missing attributes: {missing}"
    defined = {
        name
        for name, obj in vars(mod).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module
        and obj.__name__ == name  # aliases (RetryTaskError = Retry) need not be listed
    }
    unlisted = sorted(defined - set(exported))
    assert not unlisted, f"{module} defines public names missing from __all__: {unlisted}"


def test_version() -> None:
    import celeriac

    assert isinstance(celeriac.__version__, str)
    assert celeriac.VERSION[:2] == tuple(int(x) for x in celeriac.__version__.split(".")[:2])


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("celeriac").joinpath("py.typed").is_file()


@pytest.mark.interop
@pytest.mark.parametrize("kind", sorted(surface.KINDS))
def test_celery_surface_gaps_only_shrink(kind: str) -> None:
    """What celeriac lacks of Celery's surface is printed and never grows past the baseline."""
    pytest.importorskip("celery")
    missing = surface.KINDS[kind]()
    print(f"{kind}: {surface.coverage(kind, missing)}")
    for item in missing:
        print(f"  missing: {item}")
    baseline = json.loads(surface.BASELINE.read_text())[kind]
    assert len(missing) <= baseline, (
        f"{len(missing)} {kind} missing, more than the baseline {baseline}: "
        f"{missing}; fill the new gap or list it in docs/compatibility.md and the baseline"
    )
