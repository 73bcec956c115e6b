"""The chaos soak, for a short budget: nothing lost, nothing run twice without a reason.

The measured run (minutes per broker) is by hand: ``python benchmarks/soak.py --minutes 4``
(docs/reliability.md has its report).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.services import rabbitmq_url, rabbitmqctl, require_executable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.mark.parametrize("broker", ["sqlite", "redis", "amqp"])
def test_short_soak_loses_nothing(broker: str, tmp_path: Path) -> None:
    if broker in ("redis", "amqp"):
        require_executable("redis-server")
    if broker == "amqp":
        rabbitmq_url()
        rabbitmqctl("list_vhosts")
    report_file = tmp_path / "report.json"
    out = subprocess.run(
        [sys.executable, str(SOAK), "--broker", broker, "--minutes", "0.5", "--rate", "8",
         "--json", str(report_file)],
        capture_output=True, text=True, timeout=550, check=False,
    )  # fmt: skip
    assert report_file.exists(), out.stderr[-3000:]
    report = json.loads(report_file.read_text())
    assert report["lost"] == 0, report
    assert report["duplicated"] == 0, report
    assert report["succeeded"] + report["dead_lettered"] == report["published"], report
    assert report["published"] > 50, report
    assert sum(report["chaos"].values()) >= 2, report
    assert out.returncode == 0, out.stderr[-3000:]
