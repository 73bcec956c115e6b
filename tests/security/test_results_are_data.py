"""Results are data, never code: a stored failure can name any class; the client re-raises
only real exception classes from allowed, already-imported modules and imports nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.protocol.results import build_meta, decode_exception

FORBIDDEN = "celeriac_never_import_me"


def _crafted(module: str, qualname: str, *args: object) -> dict[str, object]:
    return {"exc_type": qualname, "exc_module": module, "exc_message": list(args)}


@pytest.fixture
def app(tmp_path: Path) -> Celery:
    app = Celery("results", broker="memory://", backend="memory://")
    yield app
    app.close()


def _store_failure(app: Celery, task_id: str, crafted: dict[str, object]) -> None:
    meta = build_meta(task_id, "FAILURE", None, traceback="crafted")
    meta["result"] = crafted
    app.backend.store(task_id, meta)


def test_exception_named_os_system_is_a_stand_in(app: Celery) -> None:
    _store_failure(app, "t-os", _crafted("os", "system", "rm -rf /"))
    with pytest.raises(Exception) as info:
        app.AsyncResult("t-os").get(timeout=1)
    exc = info.value
    assert getattr(exc, "is_stand_in", False) is True
    assert type(exc).__name__ == "system"
    assert str(exc) == "os.system: rm -rf /"


def test_module_not_imported_is_not_imported(app: Celery, tmp_path: Path) -> None:
    # The module exists on the path: a careless client would import it and run its code.
    (tmp_path / f"{FORBIDDEN}.py").write_text(
        "import os\nos.environ['CELERIAC_PWNED'] = '1'\nclass Boom(Exception):\n    pass\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        _store_failure(app, "t-mod", _crafted(FORBIDDEN, "Boom", "x"))
        with pytest.raises(Exception) as info:
            app.AsyncResult("t-mod").get(timeout=1)
    finally:
        sys.path.remove(str(tmp_path))
    assert FORBIDDEN not in sys.modules
    assert getattr(info.value, "is_stand_in", False) is True
    assert str(info.value) == f"{FORBIDDEN}.Boom: x"


def test_non_exception_classes_are_stand_ins(app: Celery) -> None:
    for module, name in [("builtins", "dict"), ("subprocess", "Popen"), ("builtins", "eval")]:
        exc = decode_exception(_crafted(module, name, "ls"))
        assert getattr(exc, "is_stand_in", False) is True, (module, name)
        assert isinstance(exc, Exception)


def test_module_getattr_never_runs() -> None:
    # A module-level __getattr__ (lazy imports) must not be triggered by a result.
    calls: list[str] = []
    module = types.ModuleType("celeriac_lazy_module")

    def lazy(name: str) -> object:
        calls.append(name)
        return ValueError

    module.__getattr__ = lazy  # type: ignore[method-assign]
    sys.modules[module.__name__] = module
    try:
        exc = decode_exception(_crafted(module.__name__, "Anything", 1))
    finally:
        del sys.modules[module.__name__]
    assert calls == []
    assert getattr(exc, "is_stand_in", False) is True


def test_real_exceptions_come_back_as_themselves(app: Celery) -> None:
    _store_failure(app, "t-ok", _crafted("builtins", "KeyError", "k"))
    with pytest.raises(KeyError):
        app.AsyncResult("t-ok").get(timeout=1)
    # subprocess is imported (by this test module): its CalledProcessError is allowed
    exc = decode_exception(_crafted("subprocess", "CalledProcessError", 1, "ls"))
    assert type(exc) is subprocess.CalledProcessError


def test_allowlist_narrows_modules(app: Celery) -> None:
    app.conf.result_exception_modules = ["myapp"]
    _store_failure(app, "t-sub", _crafted("subprocess", "CalledProcessError", 1, "ls"))
    with pytest.raises(Exception) as info:
        app.AsyncResult("t-sub").get(timeout=1)
    assert getattr(info.value, "is_stand_in", False) is True
    # builtins and celeriac's (Celery's) exceptions stay allowed
    _store_failure(app, "t-builtin", _crafted("builtins", "ValueError", "v"))
    with pytest.raises(ValueError):
        app.AsyncResult("t-builtin").get(timeout=1)
    _store_failure(app, "t-celery", _crafted("celery.exceptions", "TaskRevokedError", "r"))
    from celeriac.exceptions import TaskRevokedError

    with pytest.raises(TaskRevokedError):
        app.AsyncResult("t-celery").get(timeout=1)


def test_in_a_fresh_interpreter_nothing_is_imported(tmp_path: Path) -> None:
    """A clean process: the crafted names' modules are not loaded afterwards."""
    script = textwrap.dedent(
        """
        import sys
        from celeriac.protocol.results import decode_exception
        names = [("smtplib", "SMTPException"), ("ctypes", "ArgumentError"),
                 ("http.server", "HTTPServer"), ("xmlrpc.client", "Fault")]
        before = {m for m, _ in names if m in sys.modules}
        assert not before, before
        for module, name in names:
            exc = decode_exception({"exc_type": name, "exc_module": module, "exc_message": []})
            assert getattr(exc, "is_stand_in", False), name
        loaded = [m for m, _ in names if m in sys.modules]
        assert not loaded, loaded
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_pickle_and_yaml_refused_by_default_and_warned_when_accepted() -> None:
    from celeriac.exceptions import ContentDisallowed
    from celeriac.protocol.serializers import dumps, loads
    from celeriac.worker.checks import content_warning

    ctype, enc, payload = dumps({"a": 1}, "pickle")
    with pytest.raises(ContentDisallowed):
        loads(payload, ctype, enc, accept=["json"])
    app = Celery("warn", broker="memory://", backend="memory://")
    try:
        assert content_warning(app) is None
        app.conf.accept_content = ["json", "pickle"]
        app.conf.result_accept_content = ["application/x-yaml"]
        line = content_warning(app)
        assert line is not None
        assert "accept_content (pickle)" in line
        assert "result_accept_content (yaml)" in line
    finally:
        app.close()


def test_result_accept_content_is_honoured_by_clients() -> None:
    app = Celery(
        "accept",
        broker="memory://",
        backend="memory://",
        result_serializer="pickle",
        accept_content=["json", "pickle"],
        result_accept_content=["json"],
    )
    try:
        app.backend.store("t1", build_meta("t1", "SUCCESS", 42))
        from celeriac.exceptions import ContentDisallowed

        with pytest.raises(ContentDisallowed):
            app.AsyncResult("t1").get(timeout=1)
    finally:
        app.close()
