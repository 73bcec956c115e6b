"""Remote control ("pidbox"): the worker's mailbox, on the consumer's loop or the prefork parent.

The mailbox subscribes to the fanout exchange ``<control_exchange>.pidbox``, decides
whether a request is for this node (``destination``, else ``pattern``/``matcher``), runs
the handler named by ``method`` (:mod:`celeriac.worker.control_commands`) with
``arguments``, and replies ``{node: result}`` to the client's reply queue when the request
has ``reply_to``. A failing handler (an unknown method too) replies
``{"error": "<repr(exc)>"}``; ``shutdown`` never replies.

Who answers (:mod:`celeriac.worker.control_nodes`): in ``-P threads``/``solo`` the mailbox
runs on the consumer's event loop (:class:`ConsumerNode`). Under prefork the PARENT answers
for the node (:class:`PreforkNode`, on a thread of its own, :class:`ControlThread`): it owns
the revoked set (children see new revokes through shared memory, see
:mod:`celeriac.worker.revoked`), reads what children run from their slot tables, and
terminates a task by killing the child that runs it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import SecurityError
from celeriac.protocol.control import (
    ControlRequest,
    build_reply,
    exchange_names,
    node_matches,
    parse_request,
)
from celeriac.transports.base import Subscription, Transport
from celeriac.transports.contracts import Broadcast, Capability, unsupported
from celeriac.worker.control_commands import ShutdownRequested, handlers, nok
from celeriac.worker.control_nodes import ConsumerNode, ControlNode, PreforkNode, apply_setting
from celeriac.worker.control_policy import ControlPolicy
from celeriac.worker.panel import (
    Panel,
    add_consumer,
    cancel_consumer,
    control_command,
    inspect_command,
)

if TYPE_CHECKING:
    from celeriac.worker.consumer import Consumer

__all__ = [
    "ConsumerNode",
    "ControlThread",
    "Mailbox",
    "MailboxHandle",
    "Panel",
    "PreforkNode",
    "add_consumer",
    "cancel_consumer",
    "control_command",
    "inspect_command",
    "apply_setting",
    "start_consumer_mailbox",
    "start_mailbox",
]

logger = logging.getLogger("celery.worker.control")


# -- the mailbox ----------------------------------------------------------------------
class Mailbox:
    """Subscribes to the control exchange and answers requests for ``node``."""

    def __init__(self, node: ControlNode, transport: Transport) -> None:
        self.node = node
        self.app = node.app
        self.transport = transport
        control = str(self.app.conf.control_exchange or "celery")
        self.exchange, self.reply_exchange = exchange_names(control)
        self.queue = f"{node.hostname}.{self.exchange}"
        self.policy = ControlPolicy.for_app(self.app)
        self.accept = self.policy.inner_accept or list(self.app.conf.accept_content or ["json"])
        self.serializer = str(self.app.conf.task_serializer or "json")
        if self.serializer == "auth":  # Celery's auth: JSON inside the signature
            self.serializer = "json"
        self.clock = 0
        self.ready = asyncio.Event()
        self._stopping = False
        self._subscription: Subscription | None = None

    def _broadcast(self, capability: Capability = "Broadcast") -> Broadcast:
        if not isinstance(self.transport, Broadcast):
            raise unsupported(self.transport, capability)
        return self.transport

    async def _subscribe(self) -> Subscription:
        return await self._broadcast().subscribe_fanout(self.exchange, "", queue=self.queue)

    async def run(self) -> None:
        """Answer requests until :meth:`stop` (resubscribing after broker errors)."""
        failures = 0
        while not self._stopping:
            try:
                if self._subscription is None:
                    self._subscription = await self._subscribe()
                    self.ready.set()
                message = await self._subscription.get(0.5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning("Remote control: broker error %r; resubscribing", exc)
                await self._drop_subscription()
                await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)))
                continue
            if failures:
                logger.warning("Remote control: subscribed again")
                failures = 0
            if message is not None:
                await self.dispatch(message)
        await self._drop_subscription()

    async def _drop_subscription(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.aclose()
            except Exception:
                pass

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stopping = True

    async def dispatch(self, message: Any) -> Any:
        """Handle one request message; return the result (None when not for this node)."""
        try:
            request = parse_request(self.policy.open(message), accept=self.accept)
        except SecurityError as exc:
            logger.error("Remote control: refused a request: %s", exc)
            return None
        except Exception as exc:
            logger.error("Remote control: ignoring a malformed request: %s", exc)
            return None
        if not node_matches(request, self.node.hostname):
            return None
        self.clock = max(self.clock, request.clock) + 1
        self.node.clock = self.clock
        logger.debug("Remote control: %s(%s)", request.method, request.arguments)
        try:
            result = await self.handle(request)
        except ShutdownRequested:
            self.node.shutdown()
            self.stop()
            return None
        await self._reply(request, result)
        return result

    async def handle(self, request: ControlRequest) -> Any:
        """Run the handler; errors (an unknown method too) become ``{"error": repr}``."""
        refusal = self.policy.refusal(request.method, request.arguments)
        if refusal is not None:
            logger.warning("Remote control: %s", refusal)
            return nok(refusal)
        try:
            func = handlers[request.method]
        except KeyError as exc:
            return nok(repr(exc))
        try:
            return await func(self.node, **request.arguments)
        except ShutdownRequested:
            raise
        except Exception as exc:
            logger.error("Remote control command %s failed: %r", request.method, exc)
            return nok(repr(exc))

    async def _reply(self, request: ControlRequest, result: Any) -> None:
        if request.reply_to is None:
            return
        self.clock += 1
        reply = build_reply(
            self.node.hostname,
            result,
            ticket=request.ticket,
            clock=self.clock,
            serializer=self.serializer,
        )
        try:
            await self._broadcast("ReplyQueues").apublish_routed(
                self.policy.seal(reply),
                str(request.reply_to.get("exchange") or self.reply_exchange),
                str(request.reply_to["routing_key"]),
            )
        except Exception as exc:
            logger.error("Remote control: replying to %s failed: %r", request.method, exc)


async def start_mailbox(node: ControlNode, transport: Transport | None = None) -> MailboxHandle:
    """Start a mailbox for ``node`` on the running loop; returns once it is subscribed."""
    owned = False
    if transport is None:
        transport = node.app.new_transport()
        owned = transport is not node.app.transport  # memory:// shares the app's
    mailbox = Mailbox(node, transport)
    task = asyncio.get_running_loop().create_task(mailbox.run(), name="remote-control")
    ready = asyncio.get_running_loop().create_task(mailbox.ready.wait())
    await asyncio.wait({task, ready}, timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        logger.warning("Remote control is not subscribed yet (broker slow or down)")
    return MailboxHandle(mailbox, task, close_transport=owned)


async def start_consumer_mailbox(node: ControlNode, consumer: Consumer) -> MailboxHandle:
    """Start the mailbox of an in-process worker on its consumer's own transport.

    Sharing the connection makes ``inspect ping`` a liveness check of the consumer:
    a worker whose broker connection is gone stops answering until it consumes again
    (on RabbitMQ the mailbox resubscribes when the transport reconnects). The mailbox
    stops before the consumer closes the transport.
    """
    handle = await start_mailbox(node, consumer.transport)
    consumer.before_close = handle.stop
    return handle


class MailboxHandle:
    """A running mailbox task."""

    def __init__(
        self, mailbox: Mailbox, task: asyncio.Task[None], *, close_transport: bool = False
    ) -> None:
        self.mailbox = mailbox
        self.task = task
        self._close_transport = close_transport

    async def stop(self) -> None:
        """Stop answering and wait for the task."""
        self.mailbox.stop()
        try:
            await asyncio.wait_for(self.task, 5.0)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()
        except Exception as exc:
            logger.debug("remote control ended with %r", exc)
        if self._close_transport:
            try:
                await self.mailbox.transport.aclose()
            except Exception as exc:
                logger.debug("closing the remote-control connection failed: %r", exc)


class ControlThread:
    """The prefork parent's mailbox, on a thread with an event loop of its own."""

    def __init__(self, node: ControlNode) -> None:
        self.node = node
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: MailboxHandle | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="celeriac-control", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread; return once subscribed (or after ``timeout``)."""
        self._thread.start()
        self._ready.wait(timeout)

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        transport = self.node.app.new_transport()

        async def main() -> None:
            self._handle = await start_mailbox(self.node, transport)
            self._ready.set()
            await self._handle.task

        try:
            loop.run_until_complete(main())
        except Exception as exc:
            logger.error("Remote control stopped: %r", exc)
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(transport.aclose())
            except Exception:
                pass
            loop.close()

    def stop(self) -> None:
        """Stop the mailbox and wait for the thread (nothing to do if it never started)."""
        if not self._thread.is_alive():
            return
        loop, handle = self._loop, self._handle
        if loop is not None and handle is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(handle.mailbox.stop)
            except RuntimeError:
                pass
        self._thread.join(timeout=5.0)
