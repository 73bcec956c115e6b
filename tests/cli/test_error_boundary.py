"""The CLI's one error boundary: each command and configuration error is one line.

The matrix runs real ``python -m celeriac`` processes, since what is checked is what a
process shows: its exit status and everything on its stderr (a traceback printed by
Python at exit would not reach click's test runner). The finer points (which setting
is named, masked passwords, the generic branch) run in-process with click's runner,
which is faithful for them: click's ``main`` prints the line and sets the exit code
the same way in both.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.cli.boundary import describe, mask_passwords
from celeriac.cli.urls import check_urls
from celeriac.exceptions import BrokerError, ImproperlyConfigured
from helpers.cli import CLIProject, Invoke

pytestmark = pytest.mark.timeout(60)

#: Every command in cli/, with arguments that would do something harmless if it ran.
COMMANDS = {
    "worker": ["worker", "-P", "solo", "--burst"],
    "beat": ["beat", "--max-interval", "0.1"],
    "call": ["call", "tasks.add", "--args", "[1, 2]"],
    "result": ["result", "00000000-0000-0000-0000-000000000000"],
    "purge": ["purge", "-f"],
    "report": ["report"],
    "inspect": ["inspect", "ping", "--timeout", "0.2"],
    "control": ["control", "rate_limit", "tasks.add", "1/s", "--timeout", "0.2"],
    "status": ["status", "--timeout", "0.2"],
}

APP = """
from celeriac import Celery

app = Celery("tasks", broker={broker!r})


@app.task(name="tasks.add")
def add(x, y):
    return x + y
"""

#: error → (-A value, what the one line must name)
ERRORS = {
    "unknown broker scheme": (
        "sqs_app",
        ["broker_url", "'sqs://localhost'", "known:", "no Amazon SQS"],
    ),
    "malformed URL": ("malformed_app", ["broker_url", "notaport", "expected scheme://"]),
    "unknown -A module": ("no_such_module_xyz", ["no_such_module_xyz", "-A takes"]),
    "missing app attribute": ("sqs_app:nope", ["'nope'", "-A takes"]),
}


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Modules whose apps are misconfigured: one per error of the matrix."""
    root = tmp_path_factory.mktemp("boundary")
    modules = {
        "sqs_app": "sqs://localhost",
        "malformed_app": "redis://user:s3cret@localhost:notaport/0",
    }
    for name, broker in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(APP).format(broker=broker))
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m celeriac <args>`` in ``root``, as a user would type it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "celeriac", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def one_line(stderr: str) -> str:
    """The single line on stderr (fails when there are more, or a traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("error", list(ERRORS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_fails_in_one_line(project_dir: Path, command: str, error: str) -> None:
    spec, needles = ERRORS[error]
    done = run(project_dir, "-A", spec, *COMMANDS[command])
    assert done.returncode == 1, (done.returncode, done.stderr)
    line = one_line(done.stderr)
    for needle in needles:
        assert needle in line, (needle, line)
    assert "s3cret" not in done.stderr
    assert done.stdout == ""


def test_debug_prints_the_traceback_then_the_same_line(project_dir: Path) -> None:
    plain = run(project_dir, "-A", "sqs_app", "status")
    debug = run(project_dir, "--debug", "-A", "sqs_app", "status")
    assert debug.returncode == plain.returncode == 1
    assert debug.stderr.startswith("Traceback (most recent call last):"), debug.stderr
    assert "celeriac.exceptions.ImproperlyConfigured" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1] == one_line(plain.stderr)


@pytest.mark.parametrize("command", ["worker", "beat"])
@pytest.mark.parametrize("flag", ["-l", "--loglevel"])
def test_loglevel_debug_prints_the_traceback(project_dir: Path, command: str, flag: str) -> None:
    done = run(project_dir, "-A", "no_such_module_xyz", *COMMANDS[command], flag, "debug")
    assert done.returncode == 1
    assert "Traceback (most recent call last):" in done.stderr
    assert "AppNotFound" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("Error: Unable to load")


# -- in-process: the details of the line ---------------------------------------------------
def test_the_option_a_url_came_from_is_named(project: CLIProject, invoke: Invoke) -> None:
    module = project.tasks_module()
    broker = invoke("-A", module, "-b", "sqs://key:pw@sqs.example//", "report")
    assert broker.exit_code == 1
    line = one_line(broker.stderr)
    assert line.startswith("Error: -b/--broker: unknown broker URL scheme 'sqs'"), line
    assert "no Amazon SQS transport" in line and ":pw@" not in line
    other = project.tasks_module()  # -b changed the first module's app, in this process
    del os.environ["CELERY_BROKER_URL"]  # and set the variable, as Celery's -b does
    backend = invoke("-A", other, "--result-backend", "rpc://", "result", "x")
    assert backend.exit_code == 1
    assert one_line(backend.stderr).startswith(
        "Error: --result-backend: the rpc:// result backend sends results through an AMQP broker"
    )


def test_the_environment_variable_is_named(
    project: CLIProject, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "kafka://localhost")
    result = invoke("report")
    assert result.exit_code == 1
    assert one_line(result.stderr).startswith("Error: CELERY_BROKER_URL: unknown broker URL")


def test_url_errors_of_a_transport_also_pass_the_boundary(
    project: CLIProject, invoke: Invoke
) -> None:
    module = project.tasks_module()
    result = invoke("-A", module, "-b", "redis://localhost:6379/notadb", "purge", "-f")
    assert result.exit_code == 1
    assert "must be a number, not 'notadb'" in one_line(result.stderr)


def test_an_unexpected_error_names_its_type_and_how_to_see_more(
    project: CLIProject, invoke: Invoke
) -> None:
    result = invoke("--workdir", str(project.root / "missing"), "report")
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert line.startswith("Error: FileNotFoundError: ") and "--debug" in line


def test_worker_excluding_every_queue_refuses_in_one_line(
    project: CLIProject, invoke: Invoke
) -> None:
    module = project.tasks_module()
    result = invoke("-A", module, "worker", "-P", "solo", "-Q", "a,b", "-X", "a,b")
    assert result.exit_code == 1
    assert "no queues left to consume" in one_line(result.stderr)


def test_usage_errors_stay_click_usage_errors(project: CLIProject, invoke: Invoke) -> None:
    result = invoke("worker", "--no-such-flag")
    assert result.exit_code == 2 and "No such option" in result.stderr


@pytest.mark.parametrize("pool", ["eventlet", "gevent", "Eventlet"])
def test_green_pools_are_refused_with_the_alternative(
    project: CLIProject, invoke: Invoke, pool: str
) -> None:
    """Celery's examples/eventlet and examples/gevent start with ``-P eventlet|gevent``."""
    result = invoke("-A", project.tasks_module(), "worker", "-P", pool)
    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert "Traceback" not in text and "celeriac has no" in text
    assert "-P threads" in text and "async def" in text


def test_celery_pool_aliases_are_accepted(project: CLIProject, invoke: Invoke) -> None:
    result = invoke("-A", project.tasks_module(), "worker", "-P", "bogus")
    assert result.exit_code == 2 and "is not one of prefork, threads, solo" in result.stderr
    result = invoke("-A", project.tasks_module(), "worker", "-P", "processes", "--help")
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("broker", "backend", "expected"),
    [
        ("sentinel://a:26379;sentinel://b:26379", "memory://", None),
        ("redis://[::1]:6379/0", "disabled", None),
        ("memory://", "rpc://", "result_backend: the rpc:// result backend sends results through"),
        ("amqp://guest@localhost//", "rpc://", None),
        ("pyamqp://guest@localhost//", "redis://localhost/0", None),
        ("librabbitmq://guest@localhost//", None, None),
        ("sqs://key:secret@", None, "no Amazon SQS transport"),
        ("sentinel://a:26379;sentinel://b:x", None, "is not a valid URL: Port could not"),
    ],
)
def test_check_urls(broker: str, backend: str | None, expected: str | None) -> None:
    app = Celery("urls", broker=broker, backend=backend)
    try:
        if expected is None:
            check_urls(app)
        else:
            with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):
                check_urls(app)
    finally:
        app.close()


def test_describe_and_mask_passwords() -> None:
    assert describe(ImproperlyConfigured("bad\n  thing")) == "bad thing"
    assert describe(BrokerError("down")) == "BrokerError: down"
    assert describe(KeyError("k")) == "KeyError: 'k' (celeriac --debug shows the traceback)"
    assert describe(ImproperlyConfigured("in 'redis://:pw@h/0'")) == "in 'redis://:**@h/0'"
    text = "redis://u:p@h:1/0 and sentinel://a:b@[::1]:26379 scheme://[user:password@]host"
    assert mask_passwords(text) == (
        "redis://u:**@h:1/0 and sentinel://a:**@[::1]:26379 scheme://[user:password@]host"
    )
