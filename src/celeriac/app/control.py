"""``app.control``: Celery's remote-control client (broadcast, revoke, inspect), on any transport.

A call with a reply binds a fresh reply queue ``<oid>.reply.<control_exchange>.pidbox``
to ``reply.<control_exchange>.pidbox`` first, broadcasts the request on
``<control_exchange>.pidbox``, collects replies until ``limit`` arrived (``limit`` is the
number of destinations when a destination list is given) or ``timeout`` seconds passed
since the last one, and deletes the queue. It speaks Celery's wire format, so it drives
Celery workers too, and Celery's ``app.control`` drives celeriac workers.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypedDict, Unpack

from celeriac.config.queues import declared_queues
from celeriac.exceptions import DuplicateNodenameWarning
from celeriac.protocol.control import (
    build_request,
    exchange_names,
    make_oid,
    parse_reply,
    reply_queue_name,
)
from celeriac.protocol.message import Message
from celeriac.security.setup import AUTH
from celeriac.transports.contracts import Broadcast, unsupported
from celeriac.utils.log import own_logger

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.transports.base import Transport

__all__ = [
    "BroadcastOptions",
    "Control",
    "Inspect",
    "Replies",
    "Reply",
    "RouteOptions",
    "flatten_reply",
]

logger = own_logger(__name__)

#: One worker's reply: ``{node name: what its handler returned}`` (JSON data).
Reply = dict[str, object]
#: The replies that arrived, one per worker.
Replies = list[Reply]
#: Called with each reply as it arrives.
ReplyCallback = Callable[[Reply], None]


class RouteOptions(TypedDict, total=False):
    """Where :meth:`Control.broadcast` sends a command, and how many replies it takes."""

    connection: Transport | None
    limit: int | None
    callback: ReplyCallback | None
    channel: object
    pattern: str | None
    matcher: str | None


class BroadcastOptions(RouteOptions, total=False):
    """:class:`RouteOptions`, and whether (and how long) to wait for replies."""

    reply: bool
    timeout: float


def flatten_reply(reply: Replies) -> Reply:
    """Merge ``[{node: reply}, ...]`` into ``{node: reply, ...}``, as Celery's.

    Two replies from the same node name warn (:exc:`DuplicateNodenameWarning`): two
    workers share a name, so only the last one's reply is kept.
    """
    merged: Reply = {}
    dupes: set[str] = set()
    for item in reply:
        dupes.update(name for name in item if name in merged)
        merged.update(item)
    if dupes:
        warnings.warn(
            DuplicateNodenameWarning(
                f"Received multiple replies from node name(s): {', '.join(sorted(dupes))}. "
                "Please make sure you give each node a unique nodename using the "
                "celeriac worker `-n` option."
            ),
            stacklevel=2,
        )
    return merged


class Inspect:
    """Read-only commands for ``destination`` workers: ``app.control.inspect().active()``."""

    def __init__(
        self,
        destination: str | list[str] | None = None,
        timeout: float = 1.0,
        callback: ReplyCallback | None = None,
        connection: Transport | None = None,
        app: Celery | None = None,
        limit: int | None = None,
        pattern: str | None = None,
        matcher: str | None = None,
    ) -> None:
        self.app = app
        self.destination = destination
        self.timeout = timeout
        self.callback = callback
        self.connection = connection
        self.limit = limit
        self.pattern = pattern
        self.matcher = matcher

    def _request(self, command: str, **kwargs: object) -> Reply | None:
        assert self.app is not None
        replies = self.app.control.broadcast(
            command,
            arguments=kwargs,
            destination=self.destination,
            reply=True,
            timeout=self.timeout,
            limit=self.limit,
            callback=self.callback,
            pattern=self.pattern,
            matcher=self.matcher,
            connection=self.connection,
        )
        merged = flatten_reply(replies or [])
        return merged or None  # Celery returns None when nobody answered

    def ping(self, destination: object = None) -> Reply | None:
        """``{node: {"ok": "pong"}}`` for every worker that answered."""
        return self._request("ping")

    def active(self, safe: bool | None = None) -> Reply | None:
        """Tasks being executed, per node."""
        return self._request("active", safe=safe)

    def reserved(self, safe: bool | None = None) -> Reply | None:
        """Tasks prefetched and not started yet, per node."""
        return self._request("reserved")

    def scheduled(self, safe: bool | None = None) -> Reply | None:
        """Tasks held for their ETA, per node."""
        return self._request("scheduled")

    def revoked(self) -> Reply | None:
        """Revoked task ids, per node."""
        return self._request("revoked")

    def registered(self, *taskinfoitems: str) -> Reply | None:
        """Registered task names, per node."""
        return self._request("registered", taskinfoitems=list(taskinfoitems))

    registered_tasks = registered

    def stats(self) -> Reply | None:
        """Worker statistics, per node."""
        return self._request("stats")

    def active_queues(self) -> Reply | None:
        """Queues each node consumes."""
        return self._request("active_queues")

    def report(self) -> Reply | None:
        """A bug-report text, per node."""
        return self._request("report")

    def hello(self, from_node: str, revoked: object = None) -> Reply | None:
        """Celery's worker greeting (``mingle``): each node's revoked ids and clock."""
        return self._request("hello", from_node=from_node, revoked=revoked)

    def memsample(self) -> Reply | None:
        """Each node's resident memory now."""
        return self._request("memsample")

    def memdump(self, samples: int = 10) -> Reply | None:
        """Each node's memory use."""
        return self._request("memdump", samples=samples)

    def objgraph(self, type: str = "Request", n: int = 200, max_depth: int = 10) -> Reply | None:
        """Each node's count of live objects of ``type``."""
        return self._request("objgraph", num=n, max_depth=max_depth, type=type)

    def conf(self, with_defaults: bool = False) -> Reply | None:
        """Each node's non-default settings."""
        return self._request("conf", with_defaults=with_defaults)

    def query_task(self, *ids: str) -> Reply | None:
        """What each node knows of these task ids."""
        flat: list[str] = []
        for item in ids:
            flat.extend([item] if isinstance(item, str) else list(item))
        return self._request("query_task", ids=flat)

    def clock(self) -> Reply | None:
        """Each node's logical clock."""
        return self._request("clock")


class Control:
    """Celery's ``app.control``: broadcast commands to workers and collect their replies."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.clock = 0

    @property
    def exchanges(self) -> tuple[str, str]:
        """``(request exchange, reply exchange)`` from ``control_exchange``."""
        return exchange_names(str(self.app.conf.control_exchange or "celery"))

    def inspect(
        self,
        destination: str | list[str] | None = None,
        timeout: float = 1.0,
        callback: ReplyCallback | None = None,
        connection: Transport | None = None,
        limit: int | None = None,
        pattern: str | None = None,
        matcher: str | None = None,
    ) -> Inspect:
        """An :class:`Inspect` for ``destination`` (None: every worker)."""
        return Inspect(
            destination=destination,
            timeout=timeout,
            callback=callback,
            connection=connection,
            app=self.app,
            limit=limit,
            pattern=pattern,
            matcher=matcher,
        )

    # -- commands ------------------------------------------------------------------
    def revoke(
        self,
        task_id: str | Iterable[str],
        destination: str | list[str] | None = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Tell workers to never run these task ids (and, with ``terminate``, stop them).

        Without ``reply=True`` this returns at once (Celery's default); workers that are
        not running now do not learn of it unless they keep a ``--statedb`` (see
        ``docs/control.md``).
        """
        ids: str | list[str] = task_id if isinstance(task_id, str) else list(task_id)
        return self.broadcast(
            "revoke",
            destination=destination,
            arguments={"task_id": ids, "terminate": terminate, "signal": signal},
            **kwargs,
        )

    def terminate(
        self,
        task_id: str | Iterable[str],
        destination: str | list[str] | None = None,
        signal: str = "SIGTERM",
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Revoke and terminate: ``revoke(task_id, terminate=True, signal=signal)``."""
        return self.revoke(
            task_id, destination=destination, terminate=True, signal=signal, **kwargs
        )

    def ping(
        self,
        destination: str | list[str] | None = None,
        timeout: float = 1.0,
        **kwargs: Unpack[RouteOptions],
    ) -> Replies | None:
        """``[{node: {"ok": "pong"}}, …]`` for every worker that answered."""
        return self.broadcast(
            "ping", reply=True, arguments={}, destination=destination, timeout=timeout, **kwargs
        )

    def rate_limit(
        self,
        task_name: str,
        rate_limit: str | int | float | None,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Set a task's rate limit on the workers (``None``/0 disables it)."""
        return self.broadcast(
            "rate_limit",
            destination=destination,
            arguments={"task_name": task_name, "rate_limit": rate_limit},
            **kwargs,
        )

    def time_limit(
        self,
        task_name: str,
        soft: float | None = None,
        hard: float | None = None,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Set a task's soft and hard time limits on the workers."""
        return self.broadcast(
            "time_limit",
            destination=destination,
            arguments={"task_name": task_name, "hard": hard, "soft": soft},
            **kwargs,
        )

    def shutdown(
        self, destination: str | list[str] | None = None, **kwargs: Unpack[BroadcastOptions]
    ) -> Replies | None:
        """Ask workers to shut down (warm). Workers never reply to this."""
        return self.broadcast("shutdown", destination=destination, **kwargs)

    def heartbeat(
        self, destination: str | list[str] | None = None, **kwargs: Unpack[BroadcastOptions]
    ) -> Replies | None:
        """Ask workers to send a heartbeat event now."""
        return self.broadcast("heartbeat", destination=destination, **kwargs)

    def enable_events(
        self, destination: str | list[str] | None = None, **kwargs: Unpack[BroadcastOptions]
    ) -> Replies | None:
        """Ask workers to send task events."""
        return self.broadcast("enable_events", destination=destination, **kwargs)

    def disable_events(
        self, destination: str | list[str] | None = None, **kwargs: Unpack[BroadcastOptions]
    ) -> Replies | None:
        """Ask workers to stop sending task events."""
        return self.broadcast("disable_events", destination=destination, **kwargs)

    def purge(self) -> int:
        """Delete every waiting message of the app's queues; return how many (no workers asked)."""
        queues = declared_queues(self.app.conf)
        return sum(self.app.transport.purge(queue) for queue in queues)

    discard_all = purge

    # Commands celeriac workers do not implement yet (they reply with a KeyError error);
    # Celery workers do, so celeriac's client sends them as Celery's does.
    def add_consumer(
        self,
        queue: str,
        exchange: str | None = None,
        exchange_type: str = "direct",
        routing_key: str | None = None,
        options: dict[str, object] | None = None,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Ask workers to start consuming ``queue``."""
        return self.broadcast(
            "add_consumer",
            destination=destination,
            arguments={
                "queue": queue,
                "exchange": exchange,
                "exchange_type": exchange_type,
                "routing_key": routing_key,
                **(options or {}),
            },
            **kwargs,
        )

    def revoke_by_stamped_headers(
        self,
        headers: dict[str, object],
        destination: str | list[str] | None = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Revoke the tasks whose stamps match ``headers`` (``Signature.stamp``)."""
        return self.broadcast(
            "revoke_by_stamped_headers",
            destination=destination,
            arguments={"headers": headers, "terminate": terminate, "signal": signal},
            **kwargs,
        )

    def cancel_consumer(
        self,
        queue: str,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Ask workers to stop consuming ``queue``."""
        return self.broadcast(
            "cancel_consumer", destination=destination, arguments={"queue": queue}, **kwargs
        )

    def pool_grow(
        self,
        n: int = 1,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Ask workers to add ``n`` pool processes."""
        return self.broadcast("pool_grow", destination=destination, arguments={"n": n}, **kwargs)

    def pool_shrink(
        self,
        n: int = 1,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Ask workers to remove ``n`` pool processes."""
        return self.broadcast("pool_shrink", destination=destination, arguments={"n": n}, **kwargs)

    def autoscale(
        self,
        max: int,
        min: int,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Change the autoscaler's bounds."""
        return self.broadcast(
            "autoscale", destination=destination, arguments={"max": max, "min": min}, **kwargs
        )

    def pool_restart(
        self,
        modules: list[str] | None = None,
        reload: bool = False,
        reloader: object = None,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Ask workers to restart their pool."""
        return self.broadcast(
            "pool_restart",
            destination=destination,
            arguments={"modules": modules, "reload": reload, "reloader": reloader},
            **kwargs,
        )

    # -- the primitive ---------------------------------------------------------------
    def broadcast(
        self,
        command: str,
        arguments: dict[str, object] | None = None,
        destination: str | list[str] | None = None,
        connection: Transport | None = None,
        reply: bool = False,
        timeout: float = 1.0,
        limit: int | None = None,
        callback: ReplyCallback | None = None,
        channel: object = None,
        pattern: str | None = None,
        matcher: str | None = None,
        **extra_kwargs: object,
    ) -> Replies | None:
        """Send ``command`` to the workers; with ``reply=True`` collect ``[{node: result}]``.

        Args:
            command: the handler name (``ping``, ``revoke``, …).
            arguments: its keyword arguments.
            destination: node names (a string is one node); None means every worker.
            reply: wait for replies.
            timeout: seconds to wait for the next reply.
            limit: stop after this many replies (defaults to the number of destinations).
            callback: called with each reply as it arrives.
            pattern, matcher: select nodes by ``glob`` or ``pcre`` pattern instead.
        """
        if isinstance(destination, str):
            destination = [destination]
        if destination is not None and not isinstance(destination, list | tuple):
            raise ValueError(f"destination must be a node name or a list, not {destination!r}")
        transport = connection if connection is not None else self.app.transport
        exchange, reply_exchange = self.exchanges
        serializer = str(self.app.conf.task_serializer or "json")
        if serializer == AUTH:
            serializer = "json"  # Celery's auth: JSON inside the signature
        self.clock += 1
        if not isinstance(transport, Broadcast):
            raise unsupported(transport, "ReplyQueues" if reply else "Broadcast")
        if not reply:
            message = build_request(
                command,
                {**(arguments or {}), **extra_kwargs},
                destination=list(destination) if destination else None,
                pattern=pattern,
                matcher=matcher,
                clock=self.clock,
                timeout=timeout,
                serializer=serializer,
            )
            transport.publish_fanout(self._signed(message), exchange)
            return None
        oid = make_oid()
        queue = reply_queue_name(oid, str(self.app.conf.control_exchange or "celery"))
        ticket = str(uuid.uuid4())
        message = build_request(
            command,
            {**(arguments or {}), **extra_kwargs},
            destination=list(destination) if destination else None,
            pattern=pattern,
            matcher=matcher,
            ticket=ticket,
            reply_to={"exchange": reply_exchange, "routing_key": oid},
            clock=self.clock,
            timeout=timeout,
            serializer=serializer,
        )
        if limit is None and destination:
            limit = len(destination)
        transport.bind_queue(reply_exchange, oid, queue)
        try:
            transport.publish_fanout(self._signed(message), exchange)
            return self._collect(transport, queue, ticket, timeout, limit, callback)
        finally:
            try:
                transport.delete_queue(queue, reply_exchange, oid)
            except Exception as exc:
                logger.debug("deleting reply queue %s failed: %r", queue, exc)

    # -- async twins (the client's calls block: they run on a thread here) ------------
    async def abroadcast(
        self,
        command: str,
        arguments: dict[str, object] | None = None,
        destination: str | list[str] | None = None,
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Async twin of :meth:`broadcast`."""
        return await asyncio.to_thread(
            functools.partial(self.broadcast, command, arguments, destination, **kwargs)
        )

    async def aping(
        self, destination: str | list[str] | None = None, timeout: float = 1.0
    ) -> Replies | None:
        """Async twin of :meth:`ping`."""
        return await asyncio.to_thread(functools.partial(self.ping, destination, timeout))

    async def arevoke(
        self,
        task_id: str | Iterable[str],
        destination: str | list[str] | None = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        **kwargs: Unpack[BroadcastOptions],
    ) -> Replies | None:
        """Async twin of :meth:`revoke`."""
        return await asyncio.to_thread(
            functools.partial(self.revoke, task_id, destination, terminate, signal, **kwargs)
        )

    def _signed(self, message: Message) -> Message:
        signer = self.app.signer
        return message if signer is None else signer.sign(message, "control")

    def _collect(
        self,
        transport: Broadcast,
        queue: str,
        ticket: str,
        timeout: float,
        limit: int | None,
        callback: ReplyCallback | None,
    ) -> Replies:
        signer = self.app.signer
        accept = list(self.app.conf.accept_content or ["json"])
        if signer is not None and signer.inner_accept is not None:
            accept = list(signer.inner_accept)
        replies: Replies = []
        while limit is None or len(replies) < limit:
            message = transport.pop_message(queue, timeout)
            if message is None:
                break
            try:
                if signer is not None:
                    message = signer.verify(message, "control")
                parsed = parse_reply(message, accept=accept)
            except Exception as exc:
                logger.warning("Ignoring a malformed control reply: %s", exc)
                continue
            if parsed.ticket != ticket:
                continue
            if parsed.expires is not None and parsed.expires < time.time():
                continue
            self.clock = max(self.clock, parsed.clock) + 1
            replies.append(parsed.body)
            if callback is not None:
                callback(parsed.body)
        return replies
