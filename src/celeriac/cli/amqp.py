"""``celeriac amqp``: Celery's broker administration commands, on any celeriac broker.

``queue.declare``, ``queue.delete``, ``queue.purge``, ``queue.bind``, ``basic.publish``,
``basic.get`` and ``basic.ack`` run on the broker's capabilities (a capability the broker
lacks is said, not faked); ``exchange.declare``/``exchange.delete`` are refused with the
reason: celeriac declares an exchange with the queues bound to it (``queue.bind``).
Without a sub-command (or with ``repl``) it reads commands from stdin, in one session, so
``basic.get`` then ``basic.ack <tag>`` works; messages got and not acked go back to their
queue when the session ends.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from celeriac.config.entities import Queue
from celeriac.protocol.message import Message
from celeriac.transports.base import Delivery

if TYPE_CHECKING:
    from celeriac.cli.main import CLIContext

__all__ = ["AMQPSession", "amqp"]

_TRUE = ("1", "true", "yes", "on")


def _flag(value: str | None) -> bool:
    return str(value).lower() in _TRUE


class AMQPSession:
    """One connection to the broker and the messages got in it, not acked yet."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.transport = app.new_transport()
        self.held: dict[str, Delivery] = {}
        self.loop = asyncio.new_event_loop()
        self._opened = False

    def _run(self, coro: Any) -> Any:
        if not self._opened:
            self.loop.run_until_complete(self.transport.open())
            self._opened = True
        return self.loop.run_until_complete(coro)

    def _need(self, capability: str) -> Any:
        found = getattr(self.transport, capability, None)
        if found is None:
            raise click.ClickException(
                f"the {type(self.transport).__name__} broker has no {capability}"
            )
        return found

    def run(self, command: str, args: list[str]) -> str:
        """Run one command; return its answer line."""
        handler = self.COMMANDS.get(command)
        if handler is None:
            raise click.ClickException(f"unknown command {command!r}: {', '.join(self.COMMANDS)}")
        try:
            return str(handler(self, *args))
        except TypeError as exc:
            raise click.ClickException(f"{command}: {exc}") from None

    def queue_declare(self, queue: str, passive: str = "no", durable: str = "no",
                      exclusive: str = "no", auto_delete: str = "no") -> str:  # fmt: skip
        """Declare ``queue`` (where the broker declares queues) and report its length."""
        if not _flag(passive) and hasattr(self.transport, "declare_queues"):
            self.transport.declare_queues(
                [
                    Queue(
                        queue,
                        durable=_flag(durable),
                        exclusive=_flag(exclusive),
                        auto_delete=_flag(auto_delete),
                    )
                ]
            )
        count = self.transport.queue_length(queue)
        return f"ok. queue:{queue} messages:{count} consumers:0."

    def queue_delete(self, queue: str, if_unused: str = "no", if_empty: str = "no") -> str:
        """Delete ``queue`` with its messages."""
        count = self.transport.queue_length(queue)
        if _flag(if_empty) and count:
            raise click.ClickException(f"queue {queue} is not empty ({count} messages)")
        if hasattr(self.transport, "delete_queue"):
            self.transport.delete_queue(queue)
        else:
            count = self.transport.purge(queue)
        return f"ok. {count} messages deleted."

    def queue_purge(self, queue: str) -> str:
        """Remove the messages of ``queue``."""
        return f"ok. {self.transport.purge(queue)} messages deleted."

    def queue_bind(self, queue: str, exchange: str, routing_key: str = "") -> str:
        """Bind ``queue`` to ``exchange`` with ``routing_key``."""
        self._need("bind_queue")(exchange, routing_key, queue)
        return "ok."

    def exchange_declare(self, exchange: str, *args: str) -> str:
        """Refused: an exchange is declared with its queues (``queue.bind``)."""
        raise click.ClickException(
            "celeriac declares an exchange with the queues bound to it: use queue.bind "
            f"QUEUE {exchange} ROUTING_KEY (or task_queues)"
        )

    def exchange_delete(self, exchange: str, *args: str) -> str:
        """Refused: celeriac does not delete exchanges (delete their queues)."""
        raise click.ClickException(
            f"celeriac does not delete exchange {exchange!r}: delete its queues (queue.delete)"
        )

    def basic_publish(self, msg: str, exchange: str = "", routing_key: str = "",
                      mandatory: str = "no", immediate: str = "no") -> str:  # fmt: skip
        """Publish the text ``msg`` to ``exchange`` (``""``: the queue ``routing_key``)."""
        message = Message(msg.encode(), "text/plain", "utf-8")
        if exchange:
            self._need("publish_routed")(message, exchange, routing_key)
        else:
            self.transport.publish(message, routing_key)
        return "ok."

    def basic_get(self, queue: str, no_ack: str = "off") -> str:
        """Take one message of ``queue`` (acked at once with ``no_ack``)."""
        got = self._run(self.transport.fetch([queue], 1, 1.0))
        if not got:
            return "None"
        delivery = got[0]
        message = delivery.message
        if _flag(no_ack):
            self._run(self.transport.ack([delivery]))
        else:
            self.held[delivery.tag] = delivery
        body = message.body.decode(errors="replace") if message else delivery.raw
        props = dict(message.properties) if message else {}
        info = {"delivery_tag": delivery.tag, "routing_key": queue,
                "redelivered": delivery.redelivered}  # fmt: skip
        return repr({"body": body, "delivery_info": info, "properties": props})

    def basic_ack(self, delivery_tag: str) -> str:
        """Ack a message got in this session."""
        delivery = self.held.pop(delivery_tag, None)
        if delivery is None:
            raise click.ClickException(
                f"no message {delivery_tag!r} got in this session (basic.get and basic.ack "
                "must run in one session: celeriac amqp repl)"
            )
        self._run(self.transport.ack([delivery]))
        return "ok."

    def close(self) -> None:
        """Give back what was got and not acked; close the connection."""
        try:
            if self.held:
                self._run(self.transport.requeue(list(self.held.values())))
            if self._opened:
                self.loop.run_until_complete(self.transport.aclose())
        finally:
            self.held.clear()
            self.loop.close()
            self.transport.close()

    COMMANDS: dict[str, Any] = {
        "queue.declare": queue_declare, "queue.delete": queue_delete,
        "queue.purge": queue_purge, "queue.bind": queue_bind,
        "exchange.declare": exchange_declare, "exchange.delete": exchange_delete,
        "basic.publish": basic_publish, "basic.get": basic_get, "basic.ack": basic_ack,
    }  # fmt: skip


def _one(obj: CLIContext, command: str, args: tuple[str, ...]) -> None:
    session = AMQPSession(obj.app)
    try:
        click.echo(session.run(command, list(args)))
    finally:
        session.close()


def _repl(obj: CLIContext) -> None:
    session = AMQPSession(obj.app)
    try:
        for line in sys.stdin:
            words = shlex.split(line)
            if not words:
                continue
            if words[0] in ("exit", "quit"):
                break
            try:
                click.echo(session.run(words[0], words[1:]))
            except click.ClickException as exc:
                click.echo(f"error: {exc.message}", err=True)
    finally:
        session.close()


@click.group(invoke_without_command=True)
@click.pass_context
def amqp(ctx: click.Context) -> None:
    """Broker administration: queues, bindings, publish/get/ack (a session: no sub-command)."""
    if ctx.invoked_subcommand is None:
        _repl(ctx.obj)


@amqp.command()
@click.pass_obj
def repl(obj: CLIContext) -> None:
    """Read commands from stdin, one session (``basic.get`` then ``basic.ack``)."""
    _repl(obj)


def _subcommand(name: str, params: list[click.Argument]) -> None:
    handler = AMQPSession.COMMANDS[name]

    @click.pass_obj
    def run(obj: CLIContext, /, **kwargs: Any) -> None:
        args = tuple(str(v) for v in kwargs.values() if v is not None)
        _one(obj, name, args)

    amqp.add_command(click.Command(name, callback=run, params=list(params), help=handler.__doc__))


def _arg(name: str, required: bool = True) -> click.Argument:
    return click.Argument([name], required=required)


_subcommand("queue.declare", [_arg("queue"), *(_arg(n, False) for n in
            ("passive", "durable", "exclusive", "auto_delete"))])  # fmt: skip
_subcommand("queue.delete", [_arg("queue"), _arg("if_unused", False), _arg("if_empty", False)])
_subcommand("queue.purge", [_arg("queue")])
_subcommand("queue.bind", [_arg("queue"), _arg("exchange"), _arg("routing_key", False)])
_subcommand("exchange.declare", [_arg("exchange"), _arg("type"), *(_arg(n, False) for n in
            ("passive", "durable", "auto_delete"))])  # fmt: skip
_subcommand("exchange.delete", [_arg("exchange"), _arg("if_unused", False)])
_subcommand("basic.publish", [_arg("msg"), _arg("exchange"), _arg("routing_key"),
            _arg("mandatory", False), _arg("immediate", False)])  # fmt: skip
_subcommand("basic.get", [_arg("queue"), _arg("no_ack", False)])
_subcommand("basic.ack", [_arg("delivery_tag")])
