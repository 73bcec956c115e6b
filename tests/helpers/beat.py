"""``celeriac beat`` subprocesses of a ``helpers.processes.Project`` (end-to-end beat tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from helpers.processes import Project, wait_until

__all__ = ["BeatProcess", "run_times", "start"]


class BeatProcess:
    """One ``celeriac beat`` process (its own process group) of a project."""

    def __init__(self, project: Project, name: str, *args: str) -> None:
        self.project = project
        self.name = name
        self.logfile = project.root / f"{name}.log"
        output = project.root / f"{name}.out"
        command = [
            sys.executable,
            "-m",
            "celeriac",
            "-A",
            project.module,
            "beat",
            "-l",
            "INFO",
            "-f",
            str(self.logfile),
            "-s",
            str(project.root / f"{name}-schedule"),
            "--max-interval",
            "1",
            *args,
        ]
        with open(output, "wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=project.root,
                env=project.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.output = output
        project.others.append(self.proc)

    def log(self) -> str:
        """What beat logged so far (and printed, for failures)."""
        text = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        return text + self.output.read_text(errors="replace")

    def sent(self) -> int:
        """How many tasks this beat has sent."""
        return self.log().count("Sending due task")

    def is_leader(self) -> bool:
        """True once this beat logged taking the leader lock (and not losing it since)."""
        log = self.log()
        return log.rfind("took the leader lock") > log.rfind("lost the leader lock")

    def wait_started(self, timeout: float = 15.0) -> None:
        """Wait for the start line."""
        wait_until(lambda: "beat: starting" in self.log(), timeout, 0.05, self.log)

    def kill(self) -> None:
        """SIGKILL beat's process group (no clean shutdown, no lock release)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


def run_times(project: Project, tag: str) -> list[float]:
    """When each run of ``beat_mark(tag)`` happened (epoch seconds, sorted)."""
    return sorted(float(line.split()[1]) for line in project.read_lines(f"runs-{tag}.txt"))


def start(project: Project, name: str, *args: str) -> BeatProcess:
    """Start a beat and wait for its start line."""
    beat = BeatProcess(project, name, *args)
    beat.wait_started()
    return beat
