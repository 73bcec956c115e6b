"""The README's first command: examples/quickstart.py runs the tutorial end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "quickstart.py"

EXPECTED = [
    ("result.get(timeout=10)", "# → 8"),
    ("add.s(2, 2).delay().get()", "# → 4"),
    ("add.s(2).delay(8).get()", "# → 10"),
    ("add.apply_async((2, 2), countdown=3).get()", "# → 4 after "),
    ("add.apply_async((2, 2), link=add.s(16)).get()", "# → 4"),
    (".children[0].get()", "# → 20"),
    ("group(add.s(i, i) for i in range(10))().get()", "# → [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]"),
]


@pytest.mark.slow
def test_quickstart_runs_the_tutorial_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = done.stdout
    assert done.returncode == 0, f"stdout:\n{output}\nstderr:\n{done.stderr}"
    lines = output.splitlines()
    for call, result in EXPECTED:
        matching = [line for line in lines if call in line]
        assert matching, f"no line for {call}:\n{output}"
        assert result in matching[0], f"{call}: expected {result!r} in {matching[0]!r}"
    countdown = next(line for line in lines if "countdown=3" in line)
    waited = float(countdown.rsplit("after ", 1)[1].rstrip("s"))
    assert waited >= 2.9, f"the countdown task ran after {waited}s, before its 3 s"
    assert "worker stopped (exit code 0)" in output
    assert "logged 16 succeeded tasks" in output
    # Everything ran in the example's own temporary directory, nothing in the cwd.
    assert not (tmp_path / "celeriac.sqlite3").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("celeriac-quickstart-")]
