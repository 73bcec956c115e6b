"""import_from_string: both path forms, and one-line errors that say what failed."""

from __future__ import annotations

import os.path
import textwrap
import uuid
from pathlib import Path

import pytest

from celeriac.utils.imports import ImportStringError, import_from_string


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a throwaway package with one module; return the module's dotted name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    package = f"imptest_{uuid.uuid4().hex[:10]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")

    def make(source: str, name: str = "mod") -> str:
        (tmp_path / package / f"{name}.py").write_text(textwrap.dedent(source))
        return f"{package}.{name}"

    return make


def _error(path: str) -> ImportStringError:
    with pytest.raises(ImportStringError) as info:
        import_from_string(path)
    message = str(info.value)
    assert "\n" not in message
    assert repr(path) in message
    return info.value


def test_colon_form_resolves_nested_attributes(make_module):
    mod = make_module(
        """
        class Config:
            class Inner:
                value = 42
        """
    )
    assert import_from_string(f"{mod}:Config.Inner.value") == 42


def test_dotted_form_resolves_attributes_and_modules(make_module):
    mod = make_module("answer = 42\n")
    assert import_from_string(f"{mod}.answer") == 42
    assert import_from_string(mod).answer == 42
    assert import_from_string("os.path.join") is os.path.join
    assert import_from_string("os.path:join") is os.path.join


def test_is_an_import_error():
    assert issubclass(ImportStringError, ImportError)


def test_missing_top_level_module():
    name = f"nosuchpkg_{uuid.uuid4().hex[:8]}"
    exc = _error(f"{name}.mod:attr")
    assert f"no module named {name!r}" in str(exc)
    assert exc.__cause__ is None


def test_missing_submodule_is_named(make_module):
    package = make_module("x = 1\n").rpartition(".")[0]
    exc = _error(f"{package}.nosuch.attr")
    assert f"no module named '{package}.nosuch'" in str(exc)
    exc = _error(f"{package}.nosuch:attr")
    assert f"no module named '{package}.nosuch'" in str(exc)


def test_missing_attribute(make_module):
    mod = make_module("x = 1\n")
    assert f"{mod!r} has no attribute 'nope'" in str(_error(f"{mod}:nope"))
    assert f"'{mod}.x' has no attribute 'real_not'" in str(_error(f"{mod}:x.real_not"))
    exc = _error(f"{mod}.nope")
    assert "has no attribute 'nope'" in str(exc)


def test_error_raised_while_importing_names_type_and_message(make_module):
    mod = make_module("raise ValueError('boom at import')\n")
    exc = _error(f"{mod}:anything")
    assert f"error while importing module {mod!r}: ValueError: boom at import" in str(exc)
    assert isinstance(exc.__cause__, ValueError)
    exc = _error(f"{mod}.anything")
    assert "ValueError: boom at import" in str(exc)


def test_missing_dependency_is_an_import_error_not_a_missing_module(make_module):
    dep = f"nosuchdep_{uuid.uuid4().hex[:8]}"
    mod = make_module(f"import {dep}\n")
    exc = _error(mod)
    assert f"error while importing module {mod!r}: ModuleNotFoundError" in str(exc)
    assert dep in str(exc)
    assert f"no module named {mod!r}" not in str(exc)


def test_syntax_error_is_reported_on_one_line(make_module):
    mod = make_module("x = (\n")
    exc = _error(f"{mod}:x")
    assert "SyntaxError" in str(exc)
    assert isinstance(exc.__cause__, SyntaxError)


def test_error_raised_by_attribute_access(make_module):
    mod = make_module(
        """
        def __getattr__(name):
            raise RuntimeError('lazy failed')
        """
    )
    exc = _error(f"{mod}:thing")
    assert "error while reading attribute 'thing'" in str(exc)
    assert "RuntimeError: lazy failed" in str(exc)


@pytest.mark.parametrize("path", ["", ":x", "os:", "os::path", "os..path", "os.", " os"])
def test_malformed_paths(path):
    exc = _error(path)
    assert "malformed" in str(exc) or "more than one ':'" in str(exc)


def test_non_string_is_rejected():
    with pytest.raises(ImportStringError, match="expected a string"):
        import_from_string(42)  # type: ignore[arg-type]


def test_import_class_checks_the_base_class():
    from celeriac import Celery, Task
    from celeriac.utils.imports import import_class

    assert import_class("celeriac:Task", Task) is Task
    assert import_class("collections.OrderedDict", dict) is __import__("collections").OrderedDict
    with pytest.raises(TypeError, match=r"'os.path:join' is not a celeriac.app.task.Task subclass"):
        import_class("os.path:join", Task)
    with pytest.raises(ImportStringError):
        import_class("no_such_module_here:Task", Task)
    # Celery(task_cls="...") imports the class the string names and checks it is a Task
    assert Celery("ok", task_cls="celeriac:Task", set_as_current=False).Task is Task
    with pytest.raises(TypeError, match=r"is not a celeriac\.app\.task\.Task subclass"):
        Celery("bad", task_cls="collections:OrderedDict", set_as_current=False)
