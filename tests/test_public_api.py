"""The import paths Celery users write exist in celeriac, and each module's ``__all__`` is true.

Moving from Celery should be a search-and-replace of ``celery`` by ``celeriac``; these
tests pin the paths that makes work. Names Celery has and celeriac does not (yet) are
listed in ``KNOWN_GAPS`` and in docs/compatibility.md: a new gap fails here until it is
either filled or written down in both places.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

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

#: Names in Celery's ``__all__`` (or public fixtures) that celeriac does not have yet.
KNOWN_GAPS: dict[str, set[str]] = {
    # Celery internals and metadata (module objects, banner strings, monkey-patching helpers).
    "celery": {
        "execute",
        "registry",
        "messaging",
        "local",
        "log",
        "maybe_patch_concurrency",
        "bugreport",
        "version_info",
        "version_info_t",
        "VERSION_BANNER",
        "SERIES",
        "_find_option_with_arg",
        "_original_os_write",
    },
    "celery.exceptions": {
        "reraise",
        "CeleryWarning",
        "DuplicateNodenameWarning",
        "DuplicateTaskNameWarning",
        "FixupWarning",
        "NotConfigured",
        "SecurityWarning",
        "SecurityError",
        "TaskPredicate",
        "IncompleteStream",
        "AlreadyRegistered",
        "BackendGetMetaError",
        "BackendStoreError",
        "Terminated",
        "CPendingDeprecationWarning",
        "CDeprecationWarning",
        "CeleryCommandException",
    },
    "celery.signals": {
        "after_setup_logger",
        "after_setup_task_logger",
        "eventlet_pool_apply",
        "eventlet_pool_postshutdown",
        "eventlet_pool_preshutdown",
        "eventlet_pool_started",
        "heartbeat_sent",
        "worker_before_create_process",
    },
    "celery.states": {"state", "PRECEDENCE", "PRECEDENCE_LOOKUP", "NONE_PRECEDENCE"},
    "celery.utils.log": {
        "ColorFormatter",
        "LoggingProxy",
        "base_logger",
        "set_in_sighandler",
        "in_sighandler",
        "mlevel",
        "get_multiprocessing_logger",
        "reset_multiprocessing_logger",
        "LOG_LEVELS",
    },
    "celery.contrib.pytest": {"celery_class_tasks", "celery_session_app", "celery_session_worker"},
    "celery.schedules": set(),
    # remote control of beat (beat_enable_remote_control): the remote control issue
    "celery.beat": {"BeatPidbox"},
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
    # Celery keeps the given name (parent: celery.task); celeriac names it
    # celeriac.task.<name> (docs/compatibility.md), so only the suffix is pinned here.
    assert get_task_logger("tasks.add").name.endswith("tasks.add")


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


def _celery_names(module: str) -> set[str]:
    mod = importlib.import_module(module)
    if module == "celery.contrib.pytest":
        return {name for name in dir(mod) if name.startswith("celery_")}
    if module == "celery.states":
        return {
            name
            for name in dir(mod)
            if (not name.startswith("_") and name.isupper()) or name == "state"
        }
    return set(getattr(mod, "__all__", ()))


@pytest.mark.parametrize("module", sorted(KNOWN_GAPS))
def test_celery_names_are_present_or_known_gaps(module: str) -> None:
    """Every public name of the real ``celery`` module exists in celeriac or is a known gap."""
    pytest.importorskip("celery")
    ours = _module(module.replace("celery", "celeriac", 1))
    absent = {name for name in _celery_names(module) if not hasattr(ours, name)}
    new_gaps = sorted(
        absent
        - KNOWN_GAPS[module]
        - {
            "__package__",
            "__homepage__",
            "__file__",
            "__path__",
            "__doc__",
            "__docformat__",
            "__author__",
            "__contact__",
        }
    )
    assert not new_gaps, (
        f"{module} names missing from celeriac: {new_gaps}; add them, or list them in "
        "KNOWN_GAPS here and in docs/compatibility.md"
    )
