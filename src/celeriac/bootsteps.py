"""Bootsteps a project adds to Celery's worker, run at the matching points of celeriac's.

celeriac has no bootsteps graph of its own; this module gives Celery's step classes
(``Step``, ``StartStopStep``, ``ConsumerStep``) so a project's steps keep working::

    class Audit(bootsteps.StartStopStep):
        def start(self, worker): ...
        def stop(self, worker): ...

    app.steps["worker"].add(Audit)       # started after the worker set up, stopped at shutdown
    app.steps["consumer"].add(MyStep)    # started once a consumer consumes, stopped before it ends

Steps are made as ``Step(parent, **options)`` (the worker or the consumer), ``start`` runs
in that order, ``stop``/``shutdown`` in the reverse order; ``requires``, ``include_if`` and
``conditional`` are honoured as far as they concern the step itself. ``ConsumerStep``'s
``get_consumers()`` (kombu consumers) are not run: celeriac's consumer is not kombu's.
Consumer steps run in the process that consumes: the worker under threads/solo, each
child under prefork.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["Blueprint", "ConsumerStep", "StartStopStep", "Step", "StepRunner"]

logger = logging.getLogger("celery.bootsteps")


class Step:
    """A step of a blueprint: made with its parent, ``include_if`` decides whether it runs."""

    name: str | None = None
    requires: tuple[Any, ...] = ()
    enabled = True
    conditional = False
    last = False
    label: str | None = None

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        pass

    def include_if(self, parent: Any) -> bool:
        """Whether the step runs for ``parent`` (``enabled`` by default)."""
        return self.enabled

    def create(self, parent: Any) -> Any:
        """Celery's hook returning the object to start; celeriac calls ``start``."""
        return None

    @property
    def alias(self) -> str:
        """The step's short name."""
        return self.label or type(self).__name__


class StartStopStep(Step):
    """A step with ``start``, ``stop`` and ``terminate``."""

    obj: Any = None

    def start(self, parent: Any) -> None:
        """Called once the parent runs."""
        if self.obj is not None and hasattr(self.obj, "start"):
            self.obj.start()

    def stop(self, parent: Any) -> None:
        """Called when the parent stops."""
        if self.obj is not None and hasattr(self.obj, "stop"):
            self.obj.stop()

    def close(self, parent: Any) -> None:
        """Called after ``stop``."""

    def terminate(self, parent: Any) -> None:
        """Called on a cold shutdown instead of ``stop``."""
        self.stop(parent)

    def shutdown(self, parent: Any) -> None:
        """Called last."""


class ConsumerStep(StartStopStep):
    """A consumer step; ``get_consumers`` is Celery's kombu hook (not run here)."""

    consumers: list[Any] | None = None

    def get_consumers(self, channel: Any) -> list[Any]:
        """Kombu consumers to run (Celery); celeriac's consumer is not kombu's."""
        raise NotImplementedError("ConsumerStep.get_consumers(): celeriac has no kombu channel")


class Blueprint:
    """A named set of steps (Celery's ``Blueprint``), started and stopped in order."""

    def __init__(self, steps: Iterable[type[Step]] | None = None, name: str | None = None) -> None:
        self.name = name
        self.types = list(steps or ())


class StepRunner:
    """The steps of one kind (``worker`` or ``consumer``) for one parent."""

    def __init__(self, step_types: Iterable[Any], parent: Any) -> None:
        self.parent = parent
        self.steps: list[Any] = []
        for cls in _ordered(list(step_types)):
            step = cls(parent)
            if not step.include_if(parent):
                continue
            if hasattr(step, "create"):
                made = step.create(parent)
                if made is not None and getattr(step, "obj", None) is None:
                    step.obj = made
            self.steps.append(step)

    def start(self) -> None:
        """``start(parent)`` of each step, in order."""
        for step in self.steps:
            if hasattr(step, "start"):
                step.start(self.parent)

    def stop(self, cold: bool = False) -> None:
        """``stop`` (``terminate`` when cold), ``close``, ``shutdown``, in reverse order."""
        for step in reversed(self.steps):
            for method in ("terminate" if cold else "stop", "close", "shutdown"):
                hook = getattr(step, method, None)
                if hook is None:
                    continue
                try:
                    hook(self.parent)
                except Exception:
                    logger.exception("Error in %s.%s()", type(step).__name__, method)


def _ordered(types: list[Any]) -> list[Any]:
    """Steps after the steps they require (``requires`` naming classes in the set)."""
    done: list[Any] = []

    def visit(cls: Any, seen: tuple[Any, ...] = ()) -> None:
        if cls in done or cls in seen:
            return
        for req in getattr(cls, "requires", ()):
            if req in types:
                visit(req, (*seen, cls))
        done.append(cls)

    for cls in sorted(types, key=lambda c: bool(getattr(c, "last", False))):
        visit(cls)
    return done
