"""Giving back the leases of dead consumers: this host's dead processes, or one named."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Collection

from celeriac.transports.sqlite import schema
from celeriac.transports.sqlite.connection import SQLiteConnection
from celeriac.utils.doorbell import ring

__all__ = ["RECOVERY_INTERVAL", "SQLiteRecovery", "owner_is_dead", "pid_alive"]

#: Seconds between two looks for leases held by dead processes of this host.
RECOVERY_INTERVAL = 1.0


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) S ...": the state follows the last ')'.
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner (``host:pid:token``) is a process of this host that is gone."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, _token = parts
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or pid == os.getpid():
        return False
    return not pid_alive(pid)


class SQLiteRecovery(SQLiteConnection):
    """Leases of consumers that died come back: about once a second for this host's
    dead pids (every user of the file is on this machine), at once for a named one."""

    def _recover_dead(self) -> int:
        """At most once per RECOVERY_INTERVAL, give back the leases of this host's dead pids."""
        now = time.monotonic()
        if now - self._last_recovery < RECOVERY_INTERVAL:
            return 0
        self._last_recovery = now
        with self._db.connection() as conn:
            owners = [row[0] for row in conn.execute(schema.OWNERS)]
        released = 0
        for owner in owners:
            if owner_is_dead(owner):
                released += self._release_owner(owner)
        return released

    def _release_owner(self, owner: str, running: Collection[str] | None = None) -> int:
        """Give back every lease of ``owner`` (those not in ``running`` uncounted)."""
        with self._db.write() as conn:
            if running is not None:
                started = {int(tag) for tag in running}
                rows = conn.execute(schema.OWNED, (owner,)).fetchall()
                conn.executemany(
                    schema.UNCOUNT, [(row[0],) for row in rows if row[0] not in started]
                )
            return conn.execute(schema.RELEASE_OWNER, (owner,)).rowcount

    async def recover(self, consumer_id: str, *, running: Collection[str] | None = None) -> int:
        """Give back every lease held by ``consumer_id`` now; return how many.

        When ``running`` is given, leases not named in it go back uncounted.
        """
        released = await self._run(self._release_owner, consumer_id, running)
        if released:
            self._notify()
            ring(self._bell_dir)
        return released
