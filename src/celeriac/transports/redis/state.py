"""What one event loop's use of the Redis broker holds: clients, scripts, waiting fetches."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.sentinel
from redis.commands.core import AsyncScript

from celeriac.transports.base import Delivery
from celeriac.transports.redis.records import ScriptArg

__all__ = ["Blocker", "Hints", "Layout", "LoopState", "Waiter"]


@dataclass(slots=True)
class Layout:
    """The keys and arguments of LEASE for one ordering of queues."""

    queues: tuple[str, ...]
    keys: list[str]
    args_tail: list[ScriptArg]
    #: (source list, inflight key, registry member) of each queue with a blocker
    blocked: list[tuple[str, str, str]]
    members: frozenset[str]


@dataclass(slots=True, frozen=True)
class Hints:
    """What a LEASE saw besides the messages it took."""

    dead_lettered: int = 0
    next_eta: float | None = None
    stale_leases: bool = False
    dead_consumers: bool = False


@dataclass(slots=True, eq=False)
class Waiter:
    """A fetch waiting for a blocker to lease something for it."""

    layout: Layout
    limit: int
    wake_at: float
    future: asyncio.Future[list[Delivery]]


@dataclass(slots=True, eq=False)
class Blocker:
    """One connection of its own waiting in BLMOVE (+ LEASE) for a queue's plain list."""

    source: str
    inflight: str
    member: str
    conn: redis.asyncio.connection.AbstractConnection | None = None
    client_id: int | None = None
    task: asyncio.Task[None] | None = None


@dataclass(slots=True, eq=False)
class LoopState:
    """The asyncio clients of one event loop (a transport may be used from several)."""

    loop: asyncio.AbstractEventLoop
    client: redis.asyncio.Redis
    sentinel: redis.asyncio.sentinel.Sentinel | None
    lease: AsyncScript
    ack: AsyncScript
    sweep: AsyncScript
    return_inflight: AsyncScript
    requeue: AsyncScript
    dead_letter: AsyncScript
    release_mutex: AsyncScript
    defer: AsyncScript
    waiters: deque[Waiter] = field(default_factory=deque)
    blockers: dict[str, Blocker] = field(default_factory=dict)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    #: a blocker's LEASE just emptied these queues (layout members) and saw these hints:
    #: the next fetch of the same queues goes straight back to the blockers
    drained: tuple[frozenset[str], Hints] | None = None
