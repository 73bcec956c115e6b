"""Stamping: labels put on every task of a workflow, carried in its messages (Celery 5.3+).

``sig.stamp(visitor=MyVisitor())`` or ``sig.stamp(label="x")`` adds headers to a
signature and, for groups, chains and chords, to every task inside; the worker shows
them as ``request.stamps`` and ``revoke_by_stamped_headers`` matches on them. A
:class:`StampingVisitor` decides the headers per signature (``on_signature``) and may
add some around groups, chains and chord parts, as in Celery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.canvas.signature import Signature

__all__ = ["StampingVisitor", "message_stamps", "stamp", "stamp_links"]


class StampingVisitor:
    """Decides the stamps of each signature of a workflow; override what you need."""

    def on_group_start(self, group: Any, **headers: Any) -> dict[str, Any]:
        """Stamps for a group (applied to its tasks)."""
        return {}

    def on_group_end(self, group: Any, **headers: Any) -> None:
        """Called after a group's tasks were stamped."""

    def on_chain_start(self, chain: Any, **headers: Any) -> dict[str, Any]:
        """Stamps for a chain (applied to its steps)."""
        return {}

    def on_chain_end(self, chain: Any, **headers: Any) -> None:
        """Called after a chain's steps were stamped."""

    def on_signature(self, sig: Any, **headers: Any) -> dict[str, Any]:
        """Stamps for one task signature (required)."""
        raise NotImplementedError("StampingVisitor.on_signature must return the stamps")

    def on_chord_header_start(self, sig: Any, **header: Any) -> dict[str, Any]:
        """Stamps for a chord's header."""
        return {}

    def on_chord_header_end(self, sig: Any, **header: Any) -> None:
        """Called after a chord's header was stamped."""

    def on_chord_body(self, sig: Any, **header: Any) -> dict[str, Any]:
        """Stamps for a chord's body."""
        return {}

    def on_callback(self, callback: Any, **header: Any) -> dict[str, Any]:
        """Stamps for a ``link`` callback."""
        return {}

    def on_errback(self, errback: Any, **header: Any) -> dict[str, Any]:
        """Stamps for a ``link_error`` errback."""
        return {}


def _put(sig: Signature, stamps: dict[str, Any], append: bool) -> None:
    options: dict[str, Any] = sig["options"]  # the signature's own dict, changed in place
    names: list[str] = list(options.get("stamped_headers") or [])
    for key, value in stamps.items():
        if append and key in options and options[key] != value:
            old = options[key]
            merged = old if isinstance(old, list) else [old]
            options[key] = [*merged, *(value if isinstance(value, list) else [value])]
        else:
            options[key] = value
        if key not in names:
            names.append(key)
    options["stamped_headers"] = names


def stamp(
    sig: Signature,
    visitor: StampingVisitor | None = None,
    append_stamps: bool = False,
    **headers: Any,
) -> Signature:
    """Stamp ``sig`` and every task inside it (groups, chains, chords, callbacks)."""
    kind = sig.get("subtask_type")
    kwargs: dict[str, Any] = sig.get("kwargs") or {}
    own = dict(headers)
    if kind == "group":
        own.update(visitor.on_group_start(sig, **headers) if visitor else {})
        for task in kwargs.get("tasks") or []:
            stamp(task, visitor, append_stamps, **own)
        if visitor:
            visitor.on_group_end(sig, **headers)
    elif kind == "chain":
        own.update(visitor.on_chain_start(sig, **headers) if visitor else {})
        for task in kwargs.get("tasks") or []:
            stamp(task, visitor, append_stamps, **own)
        if visitor:
            visitor.on_chain_end(sig, **headers)
    elif kind == "chord":
        header_stamps = dict(
            own, **(visitor.on_chord_header_start(sig, **headers) if visitor else {})
        )
        stamp(kwargs["header"], visitor, append_stamps, **header_stamps)
        if visitor:
            visitor.on_chord_header_end(sig, **headers)
        body_stamps = dict(own, **(visitor.on_chord_body(sig, **headers) if visitor else {}))
        stamp(kwargs["body"], visitor, append_stamps, **body_stamps)
    else:  # a task's links get the stamps it was given, not those of its own visitor
        stamp_links(sig, visitor, append_stamps, **headers)
        if visitor is not None:
            own.update(visitor.on_signature(sig, **headers) or {})
        _put(sig, own, append_stamps)
        return sig
    stamp_links(sig, visitor, append_stamps, _headers=headers, **own)
    return sig


def stamp_links(
    sig: Signature,
    visitor: StampingVisitor | None,
    append_stamps: bool = False,
    _headers: dict[str, Any] | None = None,
    **stamps: Any,
) -> None:
    """Stamp ``sig``'s ``link`` callbacks and ``link_error`` errbacks with ``stamps`` and
    what the visitor's ``on_callback``/``on_errback`` add, then stamp each like any
    signature, with the visitor (Celery's ``stamp_links``: a callback linked before a
    stamping is stamped as the tasks are)."""
    headers = stamps if _headers is None else _headers
    for link in sig["options"].get("link") or []:
        extra = visitor.on_callback(link, **headers) if visitor else {}
        stamp(link, visitor, append_stamps, **dict(stamps, **extra))
    for link in sig["options"].get("link_error") or []:
        extra = visitor.on_errback(link, **headers) if visitor else {}
        stamp(link, visitor, append_stamps, **dict(stamps, **extra))


def message_stamps(options: Any) -> dict[str, Any]:
    """The ``stamped_headers``/``stamps`` a message gets from stamped call options."""
    names = options.get("stamped_headers")
    if not isinstance(names, list | tuple) or not names:
        return {}
    return {
        "stamped_headers": [str(h) for h in names],
        "stamps": {str(h): options.get(h) for h in names},
    }
