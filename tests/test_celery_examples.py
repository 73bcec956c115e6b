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

from helpers.services import rabbitmq_url, redis_client, unavailable

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
#: a Redis database no other test uses (the runner flushes it)
DB = "11"


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
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "celery_integration.py"), "--db", DB, "--examples", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines[:1] == [f"{name}: ok"], done.stdout + done.stderr


def _has(program: str) -> bool:
    import shutil

    return shutil.which(program) is not None
