"""``celeriac`` commands in-process (click's runner): -A forms and errors, call, result,
purge, report, --version."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from celeriac import __version__, states
from helpers.cli import CLIProject, Invoke

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _one_clear_line(stderr: str, *needles: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_version(invoke: Invoke) -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{__version__} (celeriac)"


# -- -A: module, module:attr, package ---------------------------------------------------------
APP_SOURCE = """
from celeriac import Celery

{name} = Celery("found-{tag}", broker={{broker!r}}, backend={{broker!r}})
"""


def _app_source(name: str, tag: str) -> str:
    return APP_SOURCE.format(name=name, tag=tag)


@pytest.mark.parametrize("attribute", ["app", "celery"])
def test_app_from_a_module(project: CLIProject, invoke: Invoke, attribute: str) -> None:
    module = project.module(_app_source(attribute, "module"))
    result = invoke("-A", module, "report")
    assert result.exit_code == 0, result.output
    assert f"broker -> {project.broker_url}" in result.stdout


def test_app_from_module_colon_attribute(project: CLIProject, invoke: Invoke) -> None:
    module = project.module(_app_source("my_app", "attr"))
    result = invoke("-A", f"{module}:my_app", "report")
    assert result.exit_code == 0, result.output
    assert f"broker -> {project.broker_url}" in result.stdout


def test_app_from_a_package_with_celery_module(project: CLIProject, invoke: Invoke) -> None:
    package = project.package({"__init__": "", "celery": _app_source("app", "package")})
    result = invoke("-A", package, "report")
    assert result.exit_code == 0, result.output
    assert f"broker -> {project.broker_url}" in result.stdout


def test_global_broker_option_overrides_the_app(project: CLIProject, invoke: Invoke) -> None:
    module = project.module(_app_source("app", "override"))
    other = f"sqlite:///{project.root / 'other.db'}"
    result = invoke("-A", module, "-b", other, "report")
    assert result.exit_code == 0, result.output
    assert f"broker -> {other}" in result.stdout


def test_the_environment_overrides_the_app_and_the_option_overrides_both(
    project: CLIProject, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Celery's order: ``-b`` (which sets CELERY_BROKER_URL), the variable, the setting."""
    module = project.module(_app_source("app", "override_env"))
    from_env = f"sqlite:///{project.root / 'env.db'}"
    monkeypatch.setenv("CELERY_BROKER_URL", from_env)
    result = invoke("-A", module, "report")
    assert result.exit_code == 0, result.output
    assert f"broker -> {from_env}" in result.stdout
    option = f"sqlite:///{project.root / 'option.db'}"
    result = invoke("-A", module, "-b", option, "report")
    assert result.exit_code == 0, result.output
    assert f"broker -> {option}" in result.stdout


# -- -A errors: one line on stderr naming the module --------------------------------------------
def test_missing_module(project: CLIProject, invoke: Invoke) -> None:
    result = invoke("-A", "no_such_module_here", "report")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, "no_such_module_here", "not found")


def test_module_raising_on_import(project: CLIProject, invoke: Invoke) -> None:
    module = project.module('raise RuntimeError("database is on fire")\n')
    result = invoke("-A", module, "report")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, module, "RuntimeError", "database is on fire")


def test_module_importing_a_missing_dependency(project: CLIProject, invoke: Invoke) -> None:
    module = project.module("import not_installed_dependency_xyz\n")
    result = invoke("-A", module, "report")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, module, "not_installed_dependency_xyz")


def test_module_without_an_app(project: CLIProject, invoke: Invoke) -> None:
    module = project.module("x = 1\n")
    result = invoke("-A", module, "report")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, module, "app")


def test_module_colon_missing_attribute(project: CLIProject, invoke: Invoke) -> None:
    module = project.module(_app_source("app", "attr"))
    result = invoke("-A", f"{module}:nope", "report")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, module, "nope")


def test_package_whose_celery_module_raises(project: CLIProject, invoke: Invoke) -> None:
    package = project.package({"__init__": "", "celery": 'raise ValueError("bad settings")\n'})
    result = invoke("-A", package, "report")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, f"{package}.celery", "ValueError", "bad settings")


def test_package_whose_celery_module_lacks_a_dependency(
    project: CLIProject, invoke: Invoke
) -> None:
    package = project.package({"__init__": "", "celery": "import missing_dep_for_pkg\n"})
    result = invoke("-A", package, "report")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, f"{package}.celery", "missing_dep_for_pkg")


def test_worker_with_a_broken_app_fails_in_one_line(project: CLIProject, invoke: Invoke) -> None:
    result = invoke("-A", "no_such_module_here", "worker")
    assert result.exit_code != 0
    _one_clear_line(result.stderr, "no_such_module_here")


# -- call ---------------------------------------------------------------------------------------
def test_call_prints_the_id_and_sends_to_the_queue(project: CLIProject, invoke: Invoke) -> None:
    module = project.tasks_module()
    result = invoke(
        "-A", module, "call", "tasks.add", "--args", "[2,2]", "--kwargs", "{}",
        "--queue", "q1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()
    assert UUID.match(task_id), result.stdout

    transport = project.app().transport
    assert transport.queue_length("q1") == 1
    [delivery] = asyncio.run(transport.fetch(["q1"], 10, 1.0))
    assert delivery.message is not None
    assert delivery.message.headers["id"] == task_id
    assert delivery.message.headers["task"] == "tasks.add"
    assert delivery.message.body.startswith(b"[[2, 2], {}, ")


def test_call_with_countdown_waits_in_the_broker(project: CLIProject, invoke: Invoke) -> None:
    module = project.tasks_module()
    result = invoke("-A", module, "call", "tasks.add", "--args", "[1,2]", "--countdown", "30")
    assert result.exit_code == 0, result.output
    transport = project.app().transport
    assert transport.queue_length("celery") == 1  # delayed ones count as waiting
    assert asyncio.run(transport.fetch(["celery"], 10, 0.1)) == []  # but are not due


@pytest.mark.parametrize(
    ("option", "value"), [("--args", "[1,"), ("--args", '{"a": 1}'), ("--kwargs", "[1]")]
)
def test_call_rejects_bad_json(
    project: CLIProject, invoke: Invoke, option: str, value: str
) -> None:
    module = project.tasks_module()
    result = invoke("-A", module, "call", "tasks.add", option, value)
    assert result.exit_code == 2
    assert option in result.stderr and "Traceback" not in result.stderr


# -- result ------------------------------------------------------------------------------------
def test_result_prints_the_value_the_state_or_the_traceback(
    project: CLIProject, invoke: Invoke
) -> None:
    module = project.tasks_module()
    app = project.app()
    done, failed, unknown = (str(uuid.uuid4()) for _ in range(3))
    app.store_state(done, states.SUCCESS, {"answer": 42})
    app.store_state(failed, states.FAILURE, KeyError("missing"), traceback="Traceback: here\n")

    ok = invoke("-A", module, "result", done)
    assert ok.exit_code == 0 and ok.stdout.strip() == "{'answer': 42}"
    pending = invoke("-A", module, "result", unknown)
    assert pending.exit_code == 0 and pending.stdout.strip() == "PENDING"
    tb = invoke("-A", module, "result", failed, "--traceback")
    assert tb.exit_code == 0 and "Traceback: here" in tb.stdout
    value = invoke("-A", module, "result", failed)
    assert value.exit_code == 0 and "KeyError" in value.stdout


# -- purge -------------------------------------------------------------------------------------
def test_purge_force_empties_the_default_queue(project: CLIProject, invoke: Invoke) -> None:
    module = project.tasks_module()
    app = project.app()
    for i in range(3):
        app.send_task("tasks.add", (i, i))
    result = invoke("-A", module, "purge", "-f")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Purged 3 messages from 1 known task queue."
    assert app.transport.queue_length("celery") == 0
    again = invoke("-A", module, "purge", "-f")
    assert again.stdout.strip() == "No messages purged from 1 queue."


def test_purge_named_queues_only(project: CLIProject, invoke: Invoke) -> None:
    module = project.tasks_module()
    app = project.app()
    for queue in ("a", "b", "b", "c"):
        app.send_task("tasks.add", (1, 1), queue=queue)
    result = invoke("-A", module, "purge", "-f", "-Q", "a,b")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Purged 3 messages from 2 known task queues."
    lengths = [app.transport.queue_length(q) for q in ("a", "b", "c")]
    assert lengths == [0, 0, 1]
    excluded = invoke("-A", module, "purge", "-f", "-Q", "a,c", "-X", "c")
    assert excluded.stdout.strip() == "No messages purged from 1 queue."
    assert app.transport.queue_length("c") == 1


def test_purge_asks_first(project: CLIProject, invoke: Invoke) -> None:
    module = project.tasks_module()
    app = project.app()
    app.send_task("tasks.add", (1, 1))
    declined = invoke("-A", module, "purge", input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert app.transport.queue_length("celery") == 1
    accepted = invoke("-A", module, "purge", input="y\n")
    assert accepted.exit_code == 0 and "Purged 1 message from" in accepted.stdout
    assert app.transport.queue_length("celery") == 0


# -- report ------------------------------------------------------------------------------------
def test_report_shows_versions_urls_and_changed_settings(
    project: CLIProject, invoke: Invoke
) -> None:
    module = project.module(
        """
        from celeriac import Celery

        app = Celery("rep", broker={broker!r}, backend={broker!r})
        app.conf.task_default_queue = "reports"
        """
    )
    result = invoke("-A", module, "report")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"software -> celeriac:{__version__} ")
    assert "platform -> system:" in out
    assert f"broker -> {project.broker_url}" in out
    assert f"results -> {project.broker_url}" in out
    assert "task_default_queue: 'reports'" in out


def test_report_masks_passwords_in_urls(project: CLIProject, invoke: Invoke) -> None:
    module = project.module(
        """
        from celeriac import Celery

        app = Celery("rep", broker="redis://user:s3cret@localhost:6379/0",
                     backend="redis://:hunter2@localhost:6379/1")
        """
    )
    result = invoke("-A", module, "report")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.stdout and "hunter2" not in result.stdout
    assert "broker -> redis://user:**@localhost:6379/0" in result.stdout
