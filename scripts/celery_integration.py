#!/usr/bin/env python
"""Run Celery 5.7.0's own integration suite (and its examples) against celeriac.

Nothing of Celery is committed here: the script downloads Celery's source distribution
from PyPI (``pip download --no-binary :all: --no-deps celery==5.7.0``) into
``build/celery-sdist/`` and runs its ``t/integration`` tests with every ``import celery``
answered by ``celeriac`` (an import alias installed by a ``sitecustomize`` module; no other
change), Redis as broker and result backend, Celery's own conftest and fixtures, and a
celeriac worker (the ``celery_session_worker`` fixture). ``--celery`` runs the same tests
against the real ``celery`` package too, for the comparison.

Usage::

    python scripts/celery_integration.py                 # celeriac: counts + failures
    python scripts/celery_integration.py --celery        # both, side by side
    python scripts/celery_integration.py -k test_tasks   # a subset (pytest -k)
    python scripts/celery_integration.py --examples      # Celery's examples, celery -> celeriac
    python scripts/celery_integration.py --examples django stamping   # some of them

Needs Redis on ``127.0.0.1:6379`` (``--redis`` to change; databases 13 and 14 are
flushed, ``--db`` picks others: a worker of anything else consuming the same database
takes the suite's tasks). Writes JUnit XML to ``build/celery-sdist/`` and prints one line
per failing test with its first error line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "celery-sdist"
VERSION = "5.7.0"

#: ``import celery.x`` answered by ``celeriac.x``: the only change made to Celery's code.
ALIAS = '''
"""celery -> celeriac import alias (written by scripts/celery_integration.py)."""
import importlib
import importlib.abc
import importlib.util
import sys


class _CeleryIsCeleriac(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name != "celery" and not name.startswith("celery."):
            return None
        real = "celeriac" + name[len("celery"):]
        try:
            found = importlib.util.find_spec(real)
        except (ImportError, ValueError):
            return None
        if found is None:
            return None
        return importlib.util.spec_from_loader(
            name, self, is_package=found.submodule_search_locations is not None
        )

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        sys.modules[module.__name__] = importlib.import_module(
            "celeriac" + module.__name__[len("celery"):]
        )

    def get_code(self, name):
        # ``python -m celery ...`` runs celeriac's ``__main__`` (runpy asks for the code)
        real = importlib.util.find_spec("celeriac" + name[len("celery"):])
        return real.loader.get_code(real.name)


sys.meta_path.insert(0, _CeleryIsCeleriac())
'''


#: The Redis databases celeriac's test suite uses (``tests/helpers/services.redis_db``).
TEST_SUITE_DBS = range(1, 6)


def fetch_sdist() -> Path:
    """Celery's source tree, downloaded once into ``build/celery-sdist``."""
    source = BUILD / f"celery-{VERSION}"
    if source.is_dir():
        return source
    BUILD.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
         f"celery=={VERSION}", "-d", str(BUILD), "-q"],
        check=True,
    )  # fmt: skip
    with tarfile.open(BUILD / f"celery-{VERSION}.tar.gz") as archive:
        archive.extractall(BUILD, filter="data")
    return source


#: What Celery's integration tests import beyond the test tools (installed under build/).
SUITE_DEPS = ("pydantic",)


def suite_deps() -> Path:
    """A directory with the suite's own dependencies (pip --target, not the venv)."""
    target = BUILD / "deps"
    if not (target / "pydantic").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), *SUITE_DEPS],
            check=True,
        )
    return target


def alias_dir() -> Path:
    """A directory whose ``sitecustomize`` installs the alias in every Python process."""
    shim = BUILD / "alias"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "sitecustomize.py").write_text(textwrap.dedent(ALIAS))
    return shim


def flush_redis(url: str) -> None:
    """Empty the Redis database the run uses."""
    import redis

    redis.Redis.from_url(url).flushdb()


def run_suite(source: Path, which: str, redis_base: str, db: int, extra: list[str]) -> Path:
    """Run ``t/integration`` with ``which`` (``celeriac`` or ``celery``); the JUnit file."""
    url = f"{redis_base}/{db}"
    flush_redis(url)
    report = BUILD / f"integration-{which}.xml"
    env = dict(os.environ, TEST_BROKER=url, TEST_BACKEND=url, PYTHONDONTWRITEBYTECODE="1")
    paths = [str(source), str(suite_deps())]
    if which == "celeriac":
        paths.insert(0, str(alias_dir()))
        paths.append(str(ROOT / "src"))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    command = [
        sys.executable, "-m", "pytest", "t/integration", "-p", "no:cacheprovider",
        "-p", "no:celery", "-p", "no:celeriac", "-p", "celery.contrib.pytest",
        "-o", "addopts=", "-o", "xfail_strict=false", "--timeout=120", "-q",
        f"--junitxml={report}", "-W", "ignore",
        "--ignore=t/integration/test_database_backend.py",
        "--ignore=t/integration/test_cache_backend.py",
        "--ignore=t/integration/test_backend.py",  # Azure Blob Storage
        "--continue-on-collection-errors", *extra,
    ]  # fmt: skip
    print(f"== {which}: {' '.join(command[3:])}", flush=True)
    subprocess.run(command, cwd=source, env=env, check=False)
    return report


def summarize(report: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Counts by outcome and the first line of each failure, from a JUnit file."""
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    # a module that does not import is one "error" test case named after the module
    failures: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
                message = (child.get("message") or child.text or "").strip().splitlines()
                failures[name] = message[0][:200] if message else ""
            elif child.tag == "skipped":
                outcome = "skipped"
        counts[outcome] += 1
    return counts, failures


def run_examples(
    source: Path, redis_base: str, db: int, only: list[str], amqp: str | None = None
) -> int:
    """Run Celery's example projects with ``celery`` answered by ``celeriac``."""
    from examples_runner import run_all

    url = f"{redis_base}/{db}"
    flush_redis(url)
    suite_deps()  # pydantic, for the pydantic example
    return run_all(source / "examples", alias_dir(), ROOT / "src", url, only or None, amqp)


def main() -> int:
    """Parse the arguments, run, print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--celery", action="store_true", help="also run against real Celery")
    parser.add_argument(
        "--examples",
        nargs="*",
        metavar="NAME",
        help="run Celery's examples only (all, or those named: pydantic django ...)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument(
        "--db", type=int, default=13, help="Redis database (the --celery run uses the next one)"
    )
    parser.add_argument(
        "--amqp",
        metavar="URL",
        help="with --examples: the RabbitMQ URL (a vhost of the run's own) the examples on "
        "amqp:// use, through CELERY_BROKER_URL (default: each example's own broker)",
    )
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    args = parser.parse_args()
    if args.db in TEST_SUITE_DBS or (args.celery and args.db + 1 in TEST_SUITE_DBS):
        parser.error(
            f"--db {args.db}: databases {min(TEST_SUITE_DBS)}-{max(TEST_SUITE_DBS)} belong to "
            "celeriac's own test suite (one per xdist worker), and this run flushes its database"
        )
    source = fetch_sdist()
    if args.examples is not None:
        sys.path.insert(0, str(Path(__file__).parent))
        return run_examples(source, args.redis, args.db, args.examples, args.amqp)
    extra = ["-k", args.keyword] if args.keyword else []
    results = {}
    runs = [("celeriac", args.db)] + ([("celery", args.db + 1)] if args.celery else [])
    for which, db in runs:
        results[which] = summarize(run_suite(source, which, args.redis, db, extra))
    for which, (counts, failures) in results.items():
        print(f"\n== {which}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        for name, message in sorted(failures.items()):
            print(f"  FAIL {name}: {message}")
    if "celery" in results:
        passing = _passed_names(BUILD / "integration-celery.xml")
        kept = passing & _passed_names(BUILD / "integration-celeriac.xml")
        print(f"\n== of {len(passing)} tests passing on Celery, {len(kept)} pass on celeriac")
    return 0


def _passed_names(report: Path) -> set[str]:
    """The tests that passed (a module that did not import has no test case of its own:
    its tests count as not passed)."""
    return {
        f"{case.get('classname')}::{case.get('name')}"
        for case in ET.parse(report).getroot().iter("testcase")
        if not any(child.tag in ("failure", "error", "skipped") for child in case)
    }


if __name__ == "__main__":
    sys.exit(main())
