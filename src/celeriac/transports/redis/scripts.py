"""The Redis broker's Lua scripts, read once from the ``lua/`` files shipped with the package.

Each file starts with a comment saying what the script does and what its KEYS and ARGV
are. ``envelope.lua`` holds helpers that read kombu's envelope by text; it is prepended
to the scripts that need them (LEASE, REQUEUE, DEAD_LETTER).
"""

from __future__ import annotations

from importlib.resources import files

__all__ = [
    "ACK",
    "DEAD_LETTER",
    "DEFER",
    "LEASE",
    "LOCK_ACQUIRE",
    "LOCK_RELEASE",
    "LOCK_WRITE",
    "RATE_RESERVE",
    "RELEASE_MUTEX",
    "REQUEUE",
    "REQUEUE_DEAD",
    "RETURN_INFLIGHT",
    "SWEEP",
]


def _read(name: str) -> str:
    return (files("celeriac.transports.redis") / "lua" / name).read_text(encoding="utf-8")


_ENVELOPE = _read("envelope.lua")

#: Lease up to a limit of messages for one consumer, atomically (the fetch path).
LEASE = _ENVELOPE + _read("lease.lua")
#: Put inflight lists (what BLMOVE took) back on their source lists.
RETURN_INFLIGHT = _read("return_inflight.lua")
#: Give leased messages back to their lists (requeue, recover, expired leases).
REQUEUE = _ENVELOPE + _read("requeue.lua")
#: Move one message to the dead-letter stream with a reason and drop its lease.
DEAD_LETTER = _ENVELOPE + _read("dead_letter.lua")
#: Move dead letters back onto their queues (the dashboard's requeue).
REQUEUE_DEAD = _read("requeue_dead.lua")
#: Park a leased message in its queue's ETA set until due, uncounted.
DEFER = _read("defer.lua")
#: Forget settled messages (kombu's ack plus celeriac's records), a batch per call.
ACK = _read("ack.lua")
#: Drop bookkeeping of messages no celeriac consumer holds.
SWEEP = _read("sweep.lua")
#: Release the restore mutex (``unacked_mutex``) only if we still hold it.
RELEASE_MUTEX = _read("release_mutex.lua")
#: Beat's leader lock: take or renew, release, write state while holding it.
LOCK_ACQUIRE = _read("lock_acquire.lua")
LOCK_RELEASE = _read("lock_release.lua")
LOCK_WRITE = _read("lock_write.lua")
#: Reserve the next slot of a cluster-wide rate limit (GCRA, server clock).
RATE_RESERVE = _read("rate_reserve.lua")
