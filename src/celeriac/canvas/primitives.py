"""chain, chunks, xmap and xstarmap: workflow signatures built from task signatures."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from celeriac.canvas.signature import (
    Composite,
    ResultHandle,
    Signature,
    as_result,
    attach_root,
    group,
    maybe_signature,
    register_type,
)
from celeriac.results.result import AsyncResult, GroupResult

if TYPE_CHECKING:
    from celeriac.canvas.applike import CanvasApp, CanvasTask

__all__ = ["chain", "chunks", "xmap", "xstarmap"]

#: Options that belong to the last step of a chain (its result is the chain's result).
_LAST_STEP_OPTIONS = ("group_id", "group_index", "chord", "link", "link_error")


def _flatten(tasks: Iterable[object], app: CanvasApp | None) -> list[Signature]:
    """Members of nested chains inline (a chain in a chain is one longer chain); empty
    groups are skipped (no-ops, as in Celery) unless nothing else is left."""
    steps = [_unroll(step) for step in _inline(tasks, app)]
    kept = [step for step in steps if not (isinstance(step, group) and not step.tasks)]
    return kept if kept else steps[-1:]


def _unroll(step: Signature) -> Signature:
    """A group of one member is that member (Celery's ``maybe_unroll_group``)."""
    if isinstance(step, group) and len(step) == 1:
        return step.tasks[0]
    return step


def _inline(tasks: Iterable[object], app: CanvasApp | None) -> list[Signature]:
    steps: list[Signature] = []
    for item in tasks:
        sig = maybe_signature(item, app)
        if sig is None:
            continue
        if isinstance(sig, chain):  # its own callbacks and errbacks stay on its steps
            steps.extend(_inline(sig.unchain_tasks(), app))
        else:
            steps.append(sig)
    return steps


def _upgrade(steps: list[Signature], app: CanvasApp | None) -> list[Signature]:
    """Celery's rewrite: a group followed by a step becomes a chord with that step as body;
    a chord followed by steps takes them into its body."""
    from celeriac.canvas.chord import chord

    out: list[Signature] = []
    index = 0
    while index < len(steps):
        step = steps[index]
        rest = steps[index + 1 :]
        if isinstance(step, group) and rest:
            body = rest[0] if len(rest) == 1 else chain(*rest, app=app)
            out.append(chord(step, body, app=app))
            return out
        if isinstance(step, chord) and rest:
            body = chain(step.body, *rest, app=app) if rest else step.body
            upgraded = chord(step.header, body, app=app)
            upgraded["options"].update(step.options)
            out.append(upgraded)
            return out
        out.append(step)
        index += 1
    return out


def _link(step: Signature, key: str, item: object) -> None:
    """Add a ``link``/``link_error`` given to a chain to its last step."""
    sig = maybe_signature(item)
    if sig is None:
        return
    if key == "link":
        step.link(sig)
    else:
        step.link_error(sig)


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@register_type("chain")
class chain(Composite):
    """Run signatures one after the other, each getting the previous result first.

    ``chain(add.s(2, 2), mul.s(4))()`` or ``add.s(2, 2) | mul.s(4)``; the result is the
    last step's, with ``.parent`` leading back through the earlier steps.
    """

    kind = "chain"

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks) or "chain()"

    def __or__(self, other: object) -> Signature:  # type: ignore[override]
        """``chain | sig`` appends (a chain is flattened in, keeping its callbacks on its
        last step and its errbacks on every step); an empty group adds nothing."""
        if isinstance(other, group) and not other.tasks:
            return self
        if isinstance(other, chain):
            return chain(*self.unchain_tasks(), *other.unchain_tasks(), app=self._app)
        if isinstance(other, Signature):
            return chain(*self.unchain_tasks(), other, app=self._app)
        return NotImplemented

    @property
    def id(self) -> str | None:
        """The chain's result id (its last step's) once frozen, else ``None``."""
        value = self["options"].get("task_id")
        return str(value) if value else None

    def unchain_tasks(self) -> list[Signature]:
        """Copies of the steps, the chain's ``link`` callbacks on the last one and its
        ``link_error`` errbacks on each (Celery's ``unchain_tasks``)."""
        tasks = [task.clone() for task in self.tasks]
        if not tasks:
            return tasks
        options = self["options"]
        for callback in _as_list(options.get("link")):
            if (sig := maybe_signature(callback, self._app)) is not None:
                tasks[-1].link(sig)
        for errback in _as_list(options.get("link_error")):
            if (err := maybe_signature(errback, self._app)) is not None:
                for task in tasks:
                    task.link_error(err)
        return tasks

    def _steps(self) -> list[Signature]:
        return _upgrade(_flatten(copy.deepcopy(self.tasks), self._app), self._app)

    @staticmethod
    def _freeze_steps(
        steps: list[Signature], last_options: Mapping[str, object]
    ) -> ResultHandle | None:
        """Give every step its id; return the last step's result, parents linked."""
        parent = None
        result = None
        for position, step in enumerate(steps):
            if position == len(steps) - 1:
                for key, value in last_options.items():
                    if key in ("link", "link_error"):
                        for item in value if isinstance(value, list | tuple) else [value]:
                            _link(step, key, item)
                    elif value is not None:  # None leaves the step's own (Celery's freeze)
                        step["options"][key] = value
            result = step.freeze()
            if parent is not None and isinstance(result, AsyncResult | GroupResult):
                attach_root(result, parent)
            parent = result
        return result

    def freeze(  # type: ignore[override]  # an empty chain has no result: None
        self, _id: str | None = None, **options: object
    ) -> ResultHandle | None:
        """Assign every step's id (the last gets ``_id``); return the chain's result."""
        steps = _flatten(self.tasks, self._app)
        if not steps:
            return None
        last = {key: value for key, value in options.items() if value is not None}
        if _id:
            last["task_id"] = _id
        self["kwargs"]["tasks"] = steps
        result = self._freeze_steps(_upgrade(steps, self._app), last)
        if result is not None and result.id:
            self["options"]["task_id"] = result.id
        return result

    def apply_async(  # type: ignore[override]  # an empty chain sends nothing: None
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> ResultHandle | None:
        """Send the first step; the rest travel with it (``embed.chain``, reversed)."""
        if self.app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        options = {**self["options"], **options}
        options.pop("chain", None)
        steps = self._steps()
        if not steps:
            return None
        last_options = {key: options.pop(key) for key in _LAST_STEP_OPTIONS if key in options}
        if options.get("task_id"):
            last_options["task_id"] = options.pop("task_id")
        for errback in _as_list(last_options.pop("link_error", None)):
            for step in steps:  # any step failing fails the chain (Celery's prepare_steps)
                _link(step, "link_error", errback)
        result = self._freeze_steps(steps, last_options)
        first, rest = steps[0], steps[1:]
        if rest:
            options["chain"] = [dict(step) for step in reversed(rest)]
        first.apply_async(args, kwargs, **options)
        return result

    def apply(  # type: ignore[override]  # an empty chain runs nothing: None
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> ResultHandle | None:
        """Run the steps eagerly, one after the other."""
        options = {**self["options"], **options}
        for key in ("chain", "task_id", "group_id", "group_index", "chord"):
            options.pop(key, None)
        result: ResultHandle | None = None
        for position, step in enumerate(self._steps()):
            if position == 0:
                result = step.apply(args, kwargs, **options)
            else:
                previous = result.get() if result is not None else None
                step_result = step.apply((previous,), None, **options)
                if isinstance(step_result, AsyncResult):
                    step_result.parent = None if result is None else as_result(result)
                result = step_result
        return result

    def __call__(self, *args: object, **kwargs: object) -> ResultHandle | None:
        """``chain(...)()`` sends the chain."""
        return self.apply_async(args, kwargs)


class _Mapper(Signature):
    """Shared shape of ``celery.map`` / ``celery.starmap``: ``kwargs = {task, it}``."""

    builtin = ""
    kind = ""

    def __init__(
        self,
        task: str | Mapping[str, object] | CanvasTask,
        it: Iterable[object] | None = None,
        app: CanvasApp | None = None,
        **options: object,
    ) -> None:
        if isinstance(task, dict) and task.get("subtask_type") == self.kind and it is None:
            super().__init__(dict(task), app=app)
            return
        inner = maybe_signature(task, app) if isinstance(task, dict) else None
        if inner is None:
            inner = task if isinstance(task, Signature) else Signature(task, app=app)
        super().__init__(
            self.builtin,
            (),
            {"task": dict(inner), "it": list(it or ())},
            options=options,
            subtask_type=self.kind,
            immutable=True,
            app=app,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, object], app: CanvasApp | None = None) -> Signature:
        """Rebuild from the dict form."""
        return cls(dict(d), app=app)

    def __repr__(self) -> str:
        task = self["kwargs"]["task"]
        return f"[{task['task']}(x) for x in {self['kwargs']['it']!r}]"


@register_type("xmap")
class xmap(_Mapper):
    """``task.map(items)``: one task message that calls ``task(x)`` for every item."""

    builtin = "celery.map"
    kind = "xmap"


@register_type("xstarmap")
class xstarmap(_Mapper):
    """``task.starmap(items)``: one task message that calls ``task(*x)`` for every item."""

    builtin = "celery.starmap"
    kind = "xstarmap"


@register_type("chunks")
class chunks(Signature):
    """``task.chunks(items, n)``: split the items into groups of ``n``, one message each."""

    def __init__(
        self,
        task: str | Mapping[str, object] | CanvasTask,
        it: Iterable[object] | None = None,
        n: int | None = None,
        app: CanvasApp | None = None,
        **options: object,
    ) -> None:
        if isinstance(task, dict) and task.get("subtask_type") == "chunks" and it is None:
            super().__init__(dict(task), app=app)
            return
        if n is None or int(n) < 1:
            raise ValueError(f"chunks() needs a chunk size n >= 1, got {n!r}")
        inner = task if isinstance(task, Signature) else maybe_signature(task, app)
        if inner is None:
            inner = Signature(task, app=app)
        super().__init__(
            "celery.chunks",
            (),
            {"task": dict(inner), "it": list(it or ()), "n": int(n)},
            options=options,
            subtask_type="chunks",
            immutable=True,
            app=app,
        )

    @classmethod
    def apply_chunks(
        cls,
        task: str | Mapping[str, object] | CanvasTask,
        it: Iterable[object],
        n: int,
        app: CanvasApp | None = None,
    ) -> ResultHandle:
        """Send ``task`` over ``it`` in chunks of ``n`` at once: ``chunks(task, it, n)()``."""
        return cls(task, it, n, app=app)()

    @classmethod
    def from_dict(cls, d: Mapping[str, object], app: CanvasApp | None = None) -> chunks:
        """Rebuild from the dict form."""
        return cls(dict(d), app=app)

    def group(self) -> group:
        """The group of ``xstarmap`` signatures this sends."""
        kwargs = self["kwargs"]
        items, size = list(kwargs["it"]), int(kwargs["n"])
        task = Signature.from_dict(kwargs["task"], app=self._app)
        parts = [items[start : start + size] for start in range(0, len(items), size)]
        return group([xstarmap(task, part, app=self._app) for part in parts], app=self._app)

    def apply_async(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> ResultHandle:
        """Send the chunks as a group; returns its GroupResult."""
        return self.group().apply_async(**{**self["options"], **options})

    def apply(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> ResultHandle:
        """Run the chunks eagerly."""
        return self.group().apply(**{**self["options"], **options})

    def __call__(self, *args: object, **kwargs: object) -> ResultHandle:
        """``chunks(...)()`` sends the chunks."""
        return self.apply_async()
