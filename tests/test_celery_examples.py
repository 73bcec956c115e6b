"""Celery 5.7.0's own example projects run against celeriac, unchanged but for the import
alias (``celery`` -> ``celeriac``), each with a real worker:
``python scripts/celery_integration.py --examples NAME`` (scripts/examples_catalog.py says
what each one must show). The sdist comes from PyPI; without network (and without ``CI``)
the tests skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.services import rabbitmq_url, rabbitmq_vhost, redis_client, unavailable

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: the examples the runner runs (examples_catalog.EXAMPLES), by name
EXAMPLES = [
    "tutorial",
    "next-steps",
    "app",
    "periodic-tasks",
    "pydantic",
    "stamping",
    "security-expired-certificate",
    "security",
    "django",
    "quorum-queues",
]


def _db() -> str:
    """A Redis database no other test uses, one per xdist worker (the runner flushes it,
    and two examples on one database would run each other's tasks): 7 to 11."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return str(7 + (int(worker[2:]) % 5 if worker.startswith("gw") else 0))


DB = _db()


@pytest.fixture(scope="module")
def sdist() -> Path:
    """Celery's source tree (downloaded once by the script), or skip without network."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import celery_integration

        try:
            return Path(celery_integration.fetch_sdist())
        except (subprocess.CalledProcessError, OSError) as exc:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"Celery's sdist could not be downloaded: {exc}")
    finally:
        sys.path.remove(str(SCRIPTS))


def test_the_catalog_is_the_list_here() -> None:
    sys.path.insert(0, str(SCRIPTS))
    try:
        import examples_catalog

        assert [example.name for example in examples_catalog.EXAMPLES] == EXAMPLES
        assert set(examples_catalog.OUT_OF_SCOPE) == {
            "resultgraph", "celery_http_gateway", "eventlet", "gevent",
        }  # fmt: skip
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.mark.parametrize("name", EXAMPLES)
def test_celery_example_runs_on_celeriac(name: str, sdist: Path) -> None:
    redis_client().close()  # skips (or fails under CI) without Redis
    rabbitmq_url()
    if name == "security" and not _has("openssl"):
        unavailable("openssl is not installed (the security example makes its certificate)")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    # The examples on amqp:// get a RabbitMQ vhost of their own (through CELERY_BROKER_URL,
    # which wins over their code's broker as in Celery): examples run side by side would
    # otherwise share the "celery" queue of "/" and run each other's tasks.
    with rabbitmq_vhost("example") as amqp:
        done = subprocess.run(
            [sys.executable, str(SCRIPTS / "celery_integration.py"), "--db", DB,
             "--amqp", amqp, "--examples", name],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines[:1] == [f"{name}: ok"], done.stdout + done.stderr


def _has(program: str) -> bool:
    import shutil

    return shutil.which(program) is not None
