"""Celery's smaller ``Signature`` methods: list options, links, ids, ``replace``, ``reprcall``.

Mixed into :class:`~celeriac.canvas.signature.Signature` (every canvas primitive has them):
``append_to_list_option``/``extend_list_option``, ``flatten_links``, ``parent_id``/
``root_id``, ``partial`` (Celery's alias of ``clone``), ``replace``, ``reprcall``,
``stamp_links`` and ``AsyncResult`` (the result class of the signature's task).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.canvas.stamping import StampingVisitor, stamp_links
from celeriac.protocol.saferepr import saferepr

if TYPE_CHECKING:
    from celeriac.canvas.applike import CanvasApp, CanvasTask
    from celeriac.canvas.signature import Signature

__all__ = ["SignatureCeleryAPI", "reprcall"]


def reprcall(name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> str:
    """``name(arg, key=value)``, each value shortened as in log lines."""
    parts = [saferepr(arg) for arg in args]
    parts += [f"{key}={saferepr(value)}" for key, value in (kwargs or {}).items()]
    return f"{name}({', '.join(parts)})"


class SignatureCeleryAPI(dict[str, Any]):
    """Celery's helper methods of a signature (a dict with ``task``/``args``/``options``)."""

    if TYPE_CHECKING:

        @property
        def app(self) -> CanvasApp: ...
        @property
        def type(self) -> CanvasTask: ...

        def clone(
            self,
            args: Sequence[object] | None = None,
            kwargs: Mapping[str, object] | None = None,
            **options: object,
        ) -> Signature: ...

    @property
    def AsyncResult(self) -> Any:
        """The result class of the signature's task (the app's when it is not registered)."""
        try:
            return self.type.AsyncResult  # type: ignore[attr-defined]
        except (KeyError, AttributeError):
            return self.app.AsyncResult  # type: ignore[attr-defined]

    def append_to_list_option(self, key: str, value: Any) -> Any:
        """Add ``value`` to the list option ``key`` (made a list), once; return ``value``."""
        options: dict[str, Any] = self["options"]
        items = options.setdefault(key, [])
        if not isinstance(items, MutableSequence):
            items = options[key] = [items]
        if value not in items:
            items.append(value)
        return value

    def extend_list_option(self, key: str, value: Any) -> None:
        """Extend the list option ``key`` (made a list) with ``value``'s items."""
        options: dict[str, Any] = self["options"]
        items = options.setdefault(key, [])
        if not isinstance(items, MutableSequence):
            items = options[key] = [items]
        items.extend(value if isinstance(value, list | tuple) else [value])

    def flatten_links(self) -> list[Any]:
        """This signature and, depth first, every ``link`` callback under it."""
        from celeriac.canvas.signature import maybe_signature

        flat: list[Any] = [self]
        links = self["options"].get("link") or []
        for link in links if isinstance(links, list | tuple) else [links]:
            sig = maybe_signature(link, app=getattr(self, "_app", None))
            if sig is not None:
                flat.extend(sig.flatten_links())
        return flat

    @property
    def parent_id(self) -> str | None:
        """The ``parent_id`` option (the task that sent this one)."""
        value = self["options"].get("parent_id")
        return str(value) if value else None

    @parent_id.setter
    def parent_id(self, value: str | None) -> None:
        self["options"]["parent_id"] = value

    @property
    def root_id(self) -> str | None:
        """The ``root_id`` option (the first task of the workflow)."""
        value = self["options"].get("root_id")
        return str(value) if value else None

    @root_id.setter
    def root_id(self, value: str | None) -> None:
        self["options"]["root_id"] = value

    def partial(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> Signature:
        """Celery's alias of ``clone``: a copy with args prepended and options merged."""
        return self.clone(args, kwargs, **options)

    def replace(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        options: Mapping[str, object] | None = None,
    ) -> Signature:
        """A copy with args, kwargs or options replaced (not merged)."""
        sig = self.clone()
        if args is not None:
            sig["args"] = args if isinstance(args, tuple | list) else tuple(args)
        if kwargs is not None:
            sig["kwargs"] = dict(kwargs)
        if options is not None:
            sig["options"] = dict(options)
        return sig

    def reprcall(self, *args: object, **kwargs: object) -> str:
        """How calling it with ``args``/``kwargs`` reads: ``tasks.add(2, 2)``."""
        merged = self.clone(args, kwargs)
        return reprcall(str(self["task"]), merged["args"], merged["kwargs"])

    def stamp_links(
        self, visitor: StampingVisitor | None, append_stamps: bool = False, **headers: Any
    ) -> None:
        """Stamp the ``link`` and ``link_error`` callbacks (``on_callback``/``on_errback``)."""
        stamp_links(self, visitor, append_stamps, **headers)  # type: ignore[arg-type]
