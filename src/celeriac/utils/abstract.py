"""Celery's ``celery.utils.abstract``: structural interfaces for tasks and signatures.

``isinstance(obj, CallableTask)`` is true for anything with ``delay``, ``apply_async`` and
``apply`` (a celeriac task); ``CallableSignature`` for anything with ``clone``, ``freeze``,
``set``, ``link``, ``link_error`` and ``|`` (a celeriac signature).
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

__all__ = ["CallableSignature", "CallableTask"]


def _hasattr(C: type, attr: str) -> bool:
    return any(attr in B.__dict__ for B in C.__mro__)


class _AbstractClass(metaclass=ABCMeta):  # noqa: B024 - the subclasses declare them
    __required_attributes__: frozenset[str] = frozenset()

    @classmethod
    def _subclasshook_using(cls, parent: type, C: type) -> bool:
        matches = cls is parent and all(_hasattr(C, a) for a in cls.__required_attributes__)
        return matches or NotImplemented

    @classmethod
    def register(cls, other: type) -> type:
        """Register ``other`` as a virtual subclass; returns it (usable as a decorator)."""
        type(cls).register(cls, other)
        return other


class CallableTask(_AbstractClass):
    """Task interface: ``delay``, ``apply_async``, ``apply``."""

    __required_attributes__ = frozenset({"delay", "apply_async", "apply"})

    @abstractmethod
    def delay(self, *args: object, **kwargs: object) -> object:
        """Send the task with these arguments."""

    @abstractmethod
    def apply_async(self, *args: object, **kwargs: object) -> object:
        """Send the task with options."""

    @abstractmethod
    def apply(self, *args: object, **kwargs: object) -> object:
        """Run the task here."""

    @classmethod
    def __subclasshook__(cls, C: type) -> bool:
        return cls._subclasshook_using(CallableTask, C)


class CallableSignature(CallableTask):
    """Signature interface: a :class:`CallableTask` with ``clone``, ``freeze``, ``set``,
    ``link``, ``link_error`` and ``|``."""

    __required_attributes__ = frozenset({"clone", "freeze", "set", "link", "link_error", "__or__"})

    @abstractmethod
    def clone(self, args: object = None, kwargs: object = None) -> object:
        """A copy with more arguments."""

    @abstractmethod
    def freeze(self, id: str | None = None, **options: object) -> object:
        """Fix the task id; return its result."""

    @abstractmethod
    def set(self, immutable: bool | None = None, **options: object) -> object:
        """Set options."""

    @abstractmethod
    def link(self, callback: object) -> object:
        """Add a callback."""

    @abstractmethod
    def link_error(self, errback: object) -> object:
        """Add an errback."""

    @abstractmethod
    def __or__(self, other: object) -> object:
        """Chain with ``other``."""

    @classmethod
    def __subclasshook__(cls, C: type) -> bool:
        return cls._subclasshook_using(CallableSignature, C)
