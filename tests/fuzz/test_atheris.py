"""The atheris fuzz target runs for a short budget over the committed corpus without a finding."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")
pytestmark = pytest.mark.timeout(180)

HERE = Path(__file__).resolve().parent
#: Seconds of fuzzing in the suite; run longer by hand (see fuzz_decoders.py).
BUDGET = 15


def test_fuzz_decoders_short_budget(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(HERE / "corpus", corpus)
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "fuzz_decoders.py"),
            "--seed",
            str(corpus),
            f"-max_total_time={BUDGET}",
            "-rss_limit_mb=1024",
            "-timeout=10",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=BUDGET + 120,
        check=False,
    )
    log = out.stdout[-3000:] + out.stderr[-3000:]
    assert out.returncode == 0, log
    done = re.search(r"Done (\d+) runs", out.stderr)
    assert done and int(done.group(1)) > 1000, log
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*")), log
