"""The Celery 5.7.0 examples ``examples_runner.py`` runs, and what each one must show.

Each entry starts the example's worker the way its docstring or README says and checks what
the README promises (a result, a log line, a database row). The set-up steps do what the
README asks the reader to do (``manage.py migrate``, make a certificate) and never edit
the example's code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from examples_runner import Example, Run

__all__ = ["EXAMPLES", "OUT_OF_SCOPE"]

BUILD = Path(__file__).resolve().parent.parent / "build" / "celery-sdist"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def _delete_queue(name: str) -> str | None:
    """Delete a queue of RabbitMQ's ``/`` vhost (the quorum example declares ``celery``
    as a quorum queue; the other examples declare it classic)."""
    try:
        import amqp
    except ImportError:
        return "skipped: the amqp package is not installed"
    try:
        with amqp.Connection("127.0.0.1:5672", userid="guest", password="guest") as conn:
            conn.channel().queue_delete(name)
    except OSError as exc:
        return f"skipped: RabbitMQ is not reachable ({exc})"
    return None


def _quorum_prepare(run: Run) -> str | None:
    return _delete_queue("celery")


def _quorum_cleanup(run: Run) -> str | None:
    return _delete_queue("celery")


def _django_prepare(run: Run) -> str | None:
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=run.cwd,
                             env=run.env, capture_output=True, text=True, timeout=120)  # fmt: skip
    if migrate.returncode != 0:
        return "manage.py migrate: " + (migrate.stderr.strip().splitlines() or ["failed"])[-1]
    return None


def _fresh_certificate(run: Run) -> str | None:
    """What the example's docstring asks for: a key and a self-signed certificate in
    ``ssl/`` (the ones shipped expired in 2019), made in a copy of the example."""
    if (run.cwd / "ssl" / "worker.pem").exists():
        return None
    shutil.copytree(run.cwd.parent / "security", run.cwd, dirs_exist_ok=True)
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
         "-subj", "/CN=celeriac-example", "-keyout", "ssl/worker.key", "-out", "ssl/worker.pem"],
        cwd=run.cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        return "skipped: openssl could not make a certificate: " + made.stderr.strip()[-200:]
    return None


STAMPING_DRIVER = """\
import examples, revoke_example
import time
examples.run_example1()
examples.run_example2()
examples.run_example3()
examples.run_example_with_replace()
time.sleep(3)  # its replaced tasks carry "mystamp" too: let them run before the revokes
revoke_example.run_then_revoke()  # the waiting task is terminated while it runs
time.sleep(3)
revoke_example.revoke_then_run()  # the waiting task is discarded when it arrives
time.sleep(3)
"""

DJANGO_DRIVER = """\
import time
from django.db import transaction
from celery import chord, group
from demoapp.models import Widget
from demoapp.tasks import add, count_widgets, mul, rename_widget, xsum
from proj.celery import debug_task
assert add.delay(2, 3).get(timeout=30) == 5
Widget.objects.all().delete()
widget = Widget.objects.create(name="before")
assert count_widgets.delay().get(timeout=30) == 1
with transaction.atomic():
    Widget.objects.create(name="second")
    assert add.delay_on_commit(2, 3) is None
    rename_widget.delay_on_commit(widget.id, "after")
deadline = time.monotonic() + 30
while Widget.objects.get(id=widget.id).name != "after":
    assert time.monotonic() < deadline, "rename_widget.delay_on_commit never ran"
    time.sleep(0.2)
assert count_widgets.delay().get(timeout=30) == 2
assert group(mul.s(i, i) for i in range(4))().get(timeout=30) == [0, 1, 4, 9]
assert chord((mul.s(i, i) for i in range(4)), xsum.s())().get(timeout=30) == 14
debug_task.delay()
"""

QUORUM_DRIVER = """\
from myapp import add, app, example, identity, is_using_quorum_queues
import builtins, contextlib, io, re, subprocess
from celery import group
from celery.result import AsyncResult
assert is_using_quorum_queues(app), "task_default_queue_type='quorum' not in app.amqp.queues"
choices = iter(["1", "1.1", "2", "3", "Q"])
builtins.input = lambda prompt="": next(choices)
shown = io.StringIO()
with contextlib.redirect_stdout(shown):
    example()
output = shown.getvalue()
print(output)
ids = re.findall(r"Task sent with ID: (\\S+)", output)
assert len(ids) == 2, output
assert "Active queues:" in output and "  - celery" in output, output
assert AsyncResult(ids[0]).get(timeout=30) == "Hello, Quorum Queue!"
assert group(add.s(1, 2), add.s(3, 4)).apply_async(queue="celery").get(timeout=30) == [3, 7]
assert AsyncResult(ids[1]).get(timeout=60) == "Hello, Quorum Queue!"  # the 30 s ETA
import amqp  # RabbitMQ refuses this (PRECONDITION_FAILED) unless "celery" is a quorum queue
with amqp.Connection("127.0.0.1:5672", userid="guest", password="guest") as conn:
    conn.channel().queue_declare("celery", durable=True, auto_delete=False,
                                 arguments={"x-queue-type": "quorum"})
"""

EXAMPLES = [
    Example(
        "tutorial",
        "tutorial",
        ["-m", "celeriac", "-A", "tasks", "worker", "-P", "solo"],
        "from tasks import add\nassert add.delay(4, 4).get(timeout=30) == 8",
    ),
    Example(
        "next-steps",
        "next-steps",
        ["-m", "celeriac", "-A", "proj", "worker", "-P", "threads"],
        "from proj.tasks import add, mul, xsum\nfrom celery import chain, group, chord\n"
        "assert add.delay(2, 2).get(timeout=30) == 4\n"
        "assert group(add.s(i, i) for i in range(4))().get(timeout=30) == [0, 2, 4, 6]\n"
        "assert chain(add.s(4, 4) | mul.s(8))().get(timeout=30) == 64\n"
        "assert chord((add.s(i, i) for i in range(5)), xsum.s())().get(timeout=30) == 20",
    ),
    Example(
        "app",
        "app",
        ["myapp.py", "worker", "-P", "threads", "-c", "2"],
        "from myapp import add\nassert add.delay(16, 16).get(timeout=60) == 32",
    ),
    Example(  # the worker prints "hello" from the beat entry every 10 s
        "periodic-tasks",
        "periodic-tasks",
        ["myapp.py", "worker", "-P", "solo", "-l", "INFO"],
        beat=["myapp.py", "beat", "-l", "INFO", "-s", "/tmp/celeriac-example-beat.db"],
        expect=("hello",),
    ),
    Example(  # pydantic=True: models in, models out (as dicts)
        "pydantic",
        "pydantic",
        ["-m", "celeriac", "-A", "tasks", "worker", "-P", "solo"],
        "from tasks import ArgModel, x\n"
        "assert x.delay({'value': 1}).get(timeout=30) == {'value': 'example: 1'}\n"
        "assert x.delay(ArgModel(value=2)).get(timeout=30) == {'value': 'example: 2'}\n"
        "assert x(ArgModel(value=3)) == {'value': 'example: 3'}",
        extra_path=[BUILD / "deps"],
    ),
    Example(  # its visitors' stamps reach the worker's task_received handler
        "stamping",
        "stamping",
        ["-m", "celeriac", "-A", "myapp", "worker", "-l", "INFO", "-c", "2"],
        STAMPING_DRIVER,
        broker=True,
        expect=(
            "Found stamps:",
            '"mtask_id"',
            '"on_signature"',
            '"mystamp"',
            "sig1_link",
            "link_foo1",
            "Task tasks.waitfor[",
            "terminated by revoke",
            "Discarding revoked task: tasks.waitfor[",
        ),
    ),
    Example(  # the certificate shipped with the example expired in 2019: refused, as Celery does
        "security-expired-certificate",
        "security",
        ["mysecureapp.py", "worker", "-l", "INFO"],
        broker=True,
        expect_exit="xpired",
    ),
    Example(  # signed messages with the certificate its docstring says to make
        "security",
        "security-fresh-certificate",
        ["mysecureapp.py", "worker", "-l", "INFO", "-P", "threads"],
        "from mysecureapp import app, boom\n"
        "assert boom.delay().get(timeout=30) == 'I am a signed message'",
        broker=True,
        prepare=_fresh_certificate,
    ),
    Example(  # its README: the worker, then a task from `manage.py shell`
        "django",
        "django",
        ["-m", "celeriac", "-A", "proj", "worker", "-l", "INFO", "-c", "2"],
        DJANGO_DRIVER,
        backend=False,  # its own db+sqlite:///results.sqlite
        shell=["manage.py", "shell", "-c"],
        expect=("Request: ",),  # debug_task's print (Celery prints "<Context: {...}>")
        prepare=_django_prepare,
    ),
    Example(  # task_default_queue_type="quorum" on the local RabbitMQ; its menu driven
        "quorum-queues",
        "quorum-queues",
        ["myapp.py", "worker", "-l", "INFO"],
        QUORUM_DRIVER,
        prepare=_quorum_prepare,
        cleanup=_quorum_cleanup,
        timeout=150,
        own_vhost=False,  # its driver declares "celery" on RabbitMQ's "/" itself
    ),
]

#: The examples not run, and why (each fails on Celery 5.7.0 itself, or needs a pool
#: celeriac does not have).
OUT_OF_SCOPE = {
    "resultgraph": "imports `from celery import task`, removed in Celery 5.0: the module "
    "does not import with Celery 5.7.0 either (nor with celeriac, the same ImportError)",
    "celery_http_gateway": "a Django 1.x project: `djcelery`, `django.core.management."
    "execute_manager`, `django.conf.urls.defaults` and `from celery import task`, none of "
    "which exist with Celery 5.7.0 and a current Django",
    "eventlet": "`-P eventlet`: celeriac has no eventlet pool; the worker refuses it with a "
    "usage error that names the alternatives (-P threads, or async def tasks on asyncio)",
    "gevent": "`-P gevent`: celeriac has no gevent pool (as for eventlet), and its "
    "`result_backend = 'amqp'` was removed in Celery 5.0",
}
