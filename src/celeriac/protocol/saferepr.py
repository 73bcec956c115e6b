"""saferepr: Celery's bounded repr for ``argsrepr``/``kwargsrepr`` and log lines."""

from __future__ import annotations

from collections.abc import Collection, Mapping

__all__ = ["REPR_MAXLEN", "REPR_MAXLEVELS", "saferepr"]

#: argsrepr/kwargsrepr limits, as Celery's ``argsrepr_maxsize`` and ``task_repr_maxlevels``.
REPR_MAXLEN = 1024
REPR_MAXLEVELS = 3


class _ReprFull(Exception):
    """Raised inside saferepr when the length budget is spent."""


_CONTAINERS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    dict: ("{", "}"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
}


def saferepr(value: object, maxlen: int = REPR_MAXLEN, maxlevels: int = REPR_MAXLEVELS) -> str:
    """Return ``repr(value)`` cut to at most ``maxlen`` characters, as Celery's ``saferepr``.

    Containers nested ``maxlevels`` deep are shown as ``[...]``; a cut result ends with
    ``...`` followed by the closing brackets of the containers still open. Objects whose
    ``repr`` raises are shown as ``<unrepresentable ...>``. Large values are never fully
    rendered: rendering stops once the budget is spent.
    """
    if maxlevels >= 1 and _flat(value):  # the common case: repr() is the same text
        text = repr(value)
        if len(text) <= maxlen:
            return text
    writer = _ReprWriter(maxlen, maxlevels)
    try:
        writer.walk(value, 0)
    except _ReprFull:
        suffix = "..." + "".join(reversed(writer.closers))
        return "".join(writer.parts)[: max(maxlen - len(suffix), 0)] + suffix
    return "".join(writer.parts)


#: Types whose repr() the writer renders unchanged (when it fits).
_ATOMS = frozenset({int, float, str, bytes, bool, type(None)})


def _flat(value: object) -> bool:
    """A tuple, list or dict holding atoms only (exact types): one level deep."""
    if type(value) is dict:
        return all(type(key) in _ATOMS and type(item) in _ATOMS for key, item in value.items())
    if type(value) is tuple or type(value) is list:
        return all(type(item) in _ATOMS for item in value)
    return False


class _ReprWriter:
    """The state of one saferepr call: output parts, open brackets, budget, recursion guard."""

    __slots__ = ("budget", "closers", "maxlevels", "parts", "seen")

    def __init__(self, maxlen: int, maxlevels: int) -> None:
        self.parts: list[str] = []
        self.closers: list[str] = []
        self.budget = maxlen
        self.maxlevels = maxlevels
        self.seen: set[int] = set()

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.budget -= len(text)
        if self.budget < 0:
            raise _ReprFull

    def walk(self, obj: object, level: int) -> None:
        brackets = _CONTAINERS.get(type(obj))
        if brackets is None or not isinstance(obj, Collection):
            self.write(_atom_repr(obj, self.budget + 1))
        elif not obj:
            self.write("set()" if type(obj) is set else repr(obj))
        elif level >= self.maxlevels:
            self.write(f"{brackets[0]}...{brackets[1]}")
        elif id(obj) in self.seen:
            self.write(f"<Recursion on {type(obj).__name__} with id={id(obj)}>")
        else:
            self.seen.add(id(obj))
            self.container(obj, level, brackets)
            self.seen.discard(id(obj))

    def container(self, obj: Collection[object], level: int, brackets: tuple[str, str]) -> None:
        opening, closing = brackets
        if type(obj) is tuple and len(obj) == 1:
            closing = ",)"
        self.write(opening)
        self.closers.append(closing)
        if isinstance(obj, Mapping):  # only a dict: _CONTAINERS lists the exact types
            for index, (key, item) in enumerate(obj.items()):
                if index:
                    self.write(", ")
                self.walk(key, level + 1)
                self.write(": ")
                self.walk(item, level + 1)
        else:
            for index, item in enumerate(obj):
                if index:
                    self.write(", ")
                self.walk(item, level + 1)
        self.closers.pop()
        self.write(closing)


def _atom_repr(obj: object, limit: int) -> str:
    """repr() of a non-container, rendering at most about ``limit`` characters of a str/bytes."""
    if isinstance(obj, str | bytes) and len(obj) > limit:
        obj = obj[:limit]
    try:
        return repr(obj)
    except Exception as exc:
        return f"<unrepresentable {type(obj).__qualname__} object: {exc!r}>"
