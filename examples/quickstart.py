"""Run the Celery first-steps tutorial end to end on celeriac's embedded SQLite broker.

Starts ``celeriac -A tasks worker`` in a temporary directory (no server needed), makes
the tutorial's calls, prints each result, then stops the worker with a warm shutdown.

    python examples/quickstart.py [--keep]   # --keep leaves the directory and worker log
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start_worker(directory: Path) -> subprocess.Popen[bytes]:
    log = open(directory / "worker.log", "wb")  # noqa: SIM115 - the worker owns it
    command = [
        sys.executable,
        "-m",
        "celeriac",
        "-A",
        "tasks",
        "worker",
        "--loglevel=INFO",
        "--concurrency=2",
    ]
    print("$", " ".join(["celeriac", *command[3:]]), flush=True)
    return subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT)


def show(call: str, value: object, note: str = "") -> None:
    print(f">>> {call:<46} # → {value!r}{note}", flush=True)


def tutorial() -> None:
    from tasks import add

    from celeriac import group

    result = add.delay(4, 4)
    show(
        "result = add.delay(4, 4); result.ready()",
        result.ready(),
        " (the worker may not have run it yet)",
    )
    show("result.get(timeout=10)", result.get(timeout=10))
    show("result.ready(), result.successful()", (result.ready(), result.successful()))
    show("add.s(2, 2).delay().get()", add.s(2, 2).delay().get(timeout=10))
    show("add.s(2).delay(8).get()", add.s(2).delay(8).get(timeout=10))

    started = time.monotonic()
    value = add.apply_async((2, 2), countdown=3).get(timeout=15)
    show(
        "add.apply_async((2, 2), countdown=3).get()",
        value,
        f" after {time.monotonic() - started:.1f}s",
    )

    parent = add.apply_async((2, 2), link=add.s(16))
    show("add.apply_async((2, 2), link=add.s(16)).get()", parent.get(timeout=10))
    deadline = time.monotonic() + 10
    while not parent.children and time.monotonic() < deadline:
        time.sleep(0.05)
        parent = add.AsyncResult(parent.id)
    callback = parent.children[0].get(timeout=10) if parent.children else None
    show("  its callback add(4, 16): .children[0].get()", callback)

    show(
        "group(add.s(i, i) for i in range(10))().get()",
        group(add.s(i, i) for i in range(10))().get(timeout=10),
    )


def main() -> int:
    keep = "--keep" in sys.argv[1:]
    directory = Path(tempfile.mkdtemp(prefix="celeriac-quickstart-"))
    shutil.copy(HERE / "tasks.py", directory / "tasks.py")
    print(f"# in {directory} (broker and results: {directory / 'celeriac.sqlite3'})")
    os.chdir(directory)  # the producer uses the same default SQLite file as the worker
    sys.path.insert(0, str(directory))
    worker = start_worker(directory)
    code = 0
    try:
        tutorial()
    except Exception as exc:
        print(f"quickstart failed: {exc!r}", file=sys.stderr)
        code = 1
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log = (directory / "worker.log").read_text(errors="replace")
        succeeded = log.count(" succeeded in ")
        print(
            f"# worker stopped (exit code {worker.returncode}); "
            f"it logged {succeeded} succeeded tasks"
        )
        if code or worker.returncode:
            print(log[-4000:], file=sys.stderr)
        if keep:
            print(f"# kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return code or (1 if worker.returncode else 0)


if __name__ == "__main__":
    sys.exit(main())
