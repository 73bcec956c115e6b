"""The revoked set (bounded, expiring), the ring prefork children read, and the statedb file."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celeriac.worker.revoked import RevokedSet, RevokeRing, StateDB


def test_revoked_set_is_bounded_and_expires() -> None:
    revoked = RevokedSet(maxlen=3, expires=60)
    revoked.add(["a", "b", "c", "d"])
    assert revoked.ids() == ["b", "c", "d"]
    assert "a" not in revoked and "d" in revoked
    old = RevokedSet(expires=10)
    old.add(["stale"], when=time.time() - 11)
    old.add(["fresh"])
    assert "stale" not in old and old.ids() == ["fresh"]


def test_a_forked_child_sees_revokes_and_settings_made_after_the_fork() -> None:
    parent = RevokedSet(ring=RevokeRing(size=8))
    parent.add(["before-fork"])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: wait for the parent's writes, then report what it sees
        os.close(write)
        os.read(read, 1)
        seen: list[Any] = []
        parent.on_command = lambda method, arguments: seen.append([method, arguments])
        ok = "before-fork" in parent and "after-fork" in parent and "never" not in parent
        os._exit(0 if ok and seen == [["time_limit", {"task_name": "t", "hard": 1}]] else 1)
    os.close(read)
    parent.add(["after-fork"])
    assert parent.relay("time_limit", {"task_name": "t", "hard": 1})
    os.write(write, b"!")
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_the_ring_keeps_the_newest_entries_when_it_wraps() -> None:
    ring = RevokeRing(size=4)
    for index in range(10):
        ring.append(f"id{index}")
    entries, position = ring.read(0)
    assert [text for _, text in entries] == ["id6", "id7", "id8", "id9"]
    assert position == 10
    assert ring.read(position) == ([], 10)
    assert not RevokedSet().relay("time_limit", {})  # no ring: nothing to relay to


def test_statedb_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    db = StateDB(path)
    db.add(["x", "y"])
    db.add(["old"], when=time.time() - 20_000)
    restored = RevokedSet()
    assert StateDB(path).load(restored) == 2
    assert sorted(restored.ids()) == ["x", "y"]
