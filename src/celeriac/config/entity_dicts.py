"""Queues as kombu's ``Queue.as_dict(recurse=True)`` shows them (``inspect active_queues``)."""

from __future__ import annotations

from celeriac.config.entities import Exchange, Queue, binding

__all__ = ["exchange_dict", "queue_dict"]


def exchange_dict(exchange: Exchange | None) -> dict[str, object] | None:
    """kombu's ``Exchange.as_dict()`` of ``exchange``."""
    return None if exchange is None else exchange.as_dict()


def _binding_dict(item: binding) -> dict[str, object]:
    return {
        "exchange": exchange_dict(item.exchange),
        "routing_key": item.routing_key,
        "arguments": item.arguments,
        "unbind_arguments": item.unbind_arguments,
    }


def queue_dict(queue: Queue) -> dict[str, object]:
    """kombu's ``Queue.as_dict(recurse=True)`` of ``queue``: what a Celery worker replies to
    ``inspect active_queues`` (``no_declare`` is ``None`` unless set, as in kombu)."""
    shown = queue.as_dict()
    shown["exchange"] = exchange_dict(queue.exchange)
    ordered = sorted(
        queue.bindings, key=lambda b: (b.exchange.name if b.exchange else "", b.routing_key)
    )
    shown["bindings"] = [_binding_dict(item) for item in ordered]
    shown["no_declare"] = queue.no_declare or None
    return shown
