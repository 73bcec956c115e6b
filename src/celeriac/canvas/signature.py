"""Signature and group: a task call packed as a dict (Celery's shape) that travels in messages."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar, cast

from celeriac.canvas.applike import CanvasApp, CanvasTask, TaskCall, current_app
from celeriac.canvas.signature_api import SignatureCeleryAPI
from celeriac.results.result import AsyncResult, GroupResult

__all__ = [
    "ResultHandle",
    "as_result",
    "Signature",
    "group",
    "maybe_signature",
    "register_type",
    "signature",
]

S = TypeVar("S", bound="type[Signature]")

#: What sending or running a signature gives: a task's result, or a group's.
ResultHandle = AsyncResult[object] | GroupResult[object]

logger = logging.getLogger("celery.canvas")

#: ``subtask_type`` → the Signature subclass that rebuilds it (filled by the canvas modules).
_TYPES: dict[str, type[Signature]] = {}


def register_type(name: str) -> Callable[[S], S]:
    """Class decorator: rebuild dicts whose ``subtask_type`` is ``name`` with this class."""

    def decorate(cls: S) -> S:
        _TYPES[name] = cls
        return cls

    return decorate


class Signature(SignatureCeleryAPI):
    """A task name with partial args, kwargs and options: ``add.s(2)``.

    It is a dict with Celery's keys (``task``, ``args``, ``kwargs``, ``options``,
    ``subtask_type``, ``immutable``), so it serializes as Celery's signatures do.
    """

    #: ``subtask_type`` -> the class that rebuilds it (Celery's ``Signature.TYPES``)
    TYPES: ClassVar[dict[str, type[Signature]]] = _TYPES

    @classmethod
    def register_type(cls, name: str | None = None) -> Callable[[S], S]:
        """Class decorator: rebuild dicts whose ``subtask_type`` is ``name`` (the class's
        name by default) with the decorated class."""

        def decorate(subclass: S) -> S:
            _TYPES[name or subclass.__name__] = subclass
            return subclass

        return decorate

    def __init__(
        self,
        task: str | Mapping[str, object] | CanvasTask | None = None,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        options: Mapping[str, object] | None = None,
        subtask_type: str | None = None,
        immutable: bool = False,
        app: CanvasApp | None = None,
        **extra_options: object,
    ) -> None:
        self._app = app
        if isinstance(task, Mapping):
            super().__init__(task)
            self.setdefault("args", [])
            self.setdefault("kwargs", {})
            self.setdefault("options", {})
            self.setdefault("subtask_type", None)
            self.setdefault("immutable", False)
            return
        name = getattr(task, "name", task)
        super().__init__(
            task=name,
            args=tuple(args or ()),  # a tuple, as Celery's; a decoded one keeps its list
            kwargs=dict(kwargs or {}),
            options={**(options or {}), **extra_options},
            subtask_type=subtask_type,
            immutable=immutable,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, object], app: CanvasApp | None = None) -> Signature:
        """Rebuild a signature (or group, chain, chord …) from its dict form."""
        kind = _TYPES.get(str(d.get("subtask_type") or ""))
        if kind is not None and kind is not cls:
            return kind.from_dict(d, app=app)
        return cls(dict(d), app=app)

    # -- fields ------------------------------------------------------------------
    @property
    def app(self) -> CanvasApp:
        """The app used to send it (the current app by default)."""
        return self._app if self._app is not None else current_app()

    @property
    def task(self) -> str:
        """The task name."""
        return str(self["task"])

    name = task

    @property
    def args(self) -> tuple[object, ...] | list[object]:
        """Partial positional args, as stored (assignable, as in Celery: ``sig.args = (1,)``).

        A tuple for a signature built in this process (``add.s(1, 2).args == (1, 2)``), a
        list for one decoded from a message, as in Celery.
        """
        stored = self["args"]
        return stored if isinstance(stored, tuple | list) else list(stored)

    @args.setter
    def args(self, value: Sequence[object]) -> None:
        self["args"] = value if isinstance(value, tuple | list) else list(value)

    @property
    def kwargs(self) -> dict[str, object]:
        """Partial keyword args (assignable)."""
        return dict(self["kwargs"])

    @kwargs.setter
    def kwargs(self, value: Mapping[str, object]) -> None:
        self["kwargs"] = dict(value)

    @property
    def options(self) -> dict[str, object]:
        """``apply_async`` options (assignable)."""
        return dict(self["options"])

    @options.setter
    def options(self, value: Mapping[str, object]) -> None:
        self["options"] = dict(value)

    @property
    def immutable(self) -> bool:
        """Whether the parent's result is ignored when applied as a callback (assignable)."""
        return bool(self["immutable"])

    @immutable.setter
    def immutable(self, value: bool) -> None:
        self["immutable"] = bool(value)

    @property
    def subtask_type(self) -> str | None:
        """``None`` for a task, ``group`` for a group."""
        value = self.get("subtask_type")
        return str(value) if value else None

    @property
    def id(self) -> str | None:
        """The pre-assigned task id, if frozen."""
        value = self["options"].get("task_id")
        return str(value) if value else None

    @property
    def type(self) -> CanvasTask:
        """The registered Task object."""
        return self.app.tasks[self.task]

    def __repr__(self) -> str:
        args = ", ".join(
            [*(repr(a) for a in self["args"]), *(f"{k}={v!r}" for k, v in self["kwargs"].items())]
        )
        return f"{self.task}({args}){'!' if self.immutable else ''}"

    # -- building ------------------------------------------------------------------
    def _merge(
        self,
        args: Sequence[object] | None,
        kwargs: Mapping[str, object] | None,
        options: Mapping[str, object] | None,
    ) -> tuple[tuple[object, ...], dict[str, object], dict[str, object]]:
        merged_options = {**self["options"], **(options or {})}
        if self.immutable:
            return tuple(self["args"]), dict(self["kwargs"]), merged_options
        merged_args = (*(args or ()), *self["args"])
        return merged_args, {**self["kwargs"], **(kwargs or {})}, merged_options

    def clone(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> Signature:
        """A copy with args prepended, kwargs and options merged (immutable: options only)."""
        new_args, new_kwargs, new_options = self._merge(args, kwargs, options)
        clone = type(self)(copy.deepcopy(dict(self)), app=self._app)
        clone["args"], clone["kwargs"], clone["options"] = new_args, new_kwargs, new_options
        return clone

    def __or__(self, other: object) -> Signature:  # type: ignore[override]
        """``a | b``: a chain (a group followed by a task becomes a chord, as in Celery)."""
        from celeriac.canvas.primitives import chain

        if isinstance(other, chain):
            return chain(self, *other.tasks, app=self._app)
        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented

    def stamp(self, visitor: Any = None, append_stamps: bool = False, **headers: Any) -> Signature:
        """Stamp this signature and every task inside it (:mod:`celeriac.canvas.stamping`)."""
        from celeriac.canvas.stamping import stamp

        return stamp(self, visitor, append_stamps, **headers)

    def set(self, immutable: bool | None = None, **options: object) -> Signature:
        """Set options (and immutability) in place; returns the signature."""
        if immutable is not None:
            self["immutable"] = immutable
        self["options"].update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        """Make the signature (im)mutable."""
        self["immutable"] = immutable

    def freeze(self, _id: str | None = None, **options: object) -> ResultHandle:
        """Assign the task id now and return the AsyncResult it will have."""
        task_id = self["options"].get("task_id") or _id or str(uuid.uuid4())
        self["options"]["task_id"] = task_id
        self["options"].update({key: value for key, value in options.items() if value is not None})
        if "reply_to" not in self["options"]:
            # Celery's freeze: a step a worker sends later still replies to this caller
            # (rpc:// reads results from the caller's reply queue)
            self["options"]["reply_to"] = self.app.reply_to
        return AsyncResult(task_id, app=self.app, task_name=self.task)

    def clone_frozen(self) -> Signature:
        """A deep copy (ids included), to prepare for sending without changing this one."""
        return copy.deepcopy(self)

    def link(self, callback: Signature) -> Signature:
        """Apply ``callback`` with this task's result when it succeeds."""
        links = self["options"].get("link")
        if links is None or isinstance(links, dict):
            links = self["options"]["link"] = [links] if links else []
        if callback not in links:  # listed once, as Celery's append_to_list_option
            links.append(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Apply ``errback`` when this task fails."""
        links = self["options"].get("link_error")
        if links is None or isinstance(links, dict):
            links = self["options"]["link_error"] = [links] if links else []
        if errback not in links:  # listed once, as Celery's append_to_list_option
            links.append(errback)
        return errback

    def on_error(self, errback: Signature) -> Signature:
        """Like :meth:`link_error`, but returns this signature (for chaining calls)."""
        self.link_error(errback)
        return self

    # -- calling -------------------------------------------------------------------
    def apply_async(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> ResultHandle:
        """Send the task with partial args merged (new args go first)."""
        new_args, new_kwargs, new_options = self._merge(args, kwargs, options)
        task = self.app.tasks.get(self.task)
        if task is not None:
            return task.apply_async(new_args, new_kwargs, **new_options)
        return self.app.send_task(self.task, new_args, new_kwargs, **new_options)

    def call(
        self, args: Sequence[object] | None = None, kwargs: Mapping[str, object] | None = None
    ) -> TaskCall:
        """``(name, args, kwargs, options)`` of a call with partial args merged."""
        return (self.task, *self._merge(args, kwargs, None))

    def delay(self, *args: object, **kwargs: object) -> ResultHandle:
        """Send the task; shortcut for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> ResultHandle:
        """Run the task eagerly with partial args merged."""
        new_args, new_kwargs, new_options = self._merge(args, kwargs, options)
        return self.type.apply(new_args, new_kwargs, **new_options)

    def __call__(self, *args: object, **kwargs: object) -> object:
        """Call the task body in this process with partial args merged."""
        new_args, new_kwargs, _ = self._merge(args, kwargs, None)
        return self.type(*new_args, **new_kwargs)

    def __invert__(self) -> object:
        """``~sig``: send and wait for the result."""
        return self.apply_async().get()

    def __deepcopy__(self, memo: dict[int, object]) -> Signature:
        return type(self)(copy.deepcopy(dict(self), memo), app=self._app)


def signature(
    varies: str | Mapping[str, object] | CanvasTask,
    args: Sequence[object] | None = None,
    kwargs: Mapping[str, object] | None = None,
    **options: Any,
) -> Signature:
    """Create a signature from a task name, Task or dict (Celery's ``signature()``); a dict
    is rebuilt as its kind (chain, group, chord …), with ``app`` if given."""
    app = options.pop("app", None)
    if isinstance(varies, Mapping) and args is None and kwargs is None and not options:
        return Signature.from_dict(varies, app=app)
    return Signature(varies, args, kwargs, app=app, **options)


def maybe_signature(value: object, app: CanvasApp | None = None) -> Signature | None:
    """Turn a dict into a Signature; pass signatures and ``None`` through.

    Raises:
        TypeError: ``value`` is neither a signature, a dict nor ``None``.
    """
    if value is None or isinstance(value, Signature):
        return value
    if isinstance(value, Mapping):
        return Signature.from_dict(value, app=app)
    make = getattr(value, "s", None)
    if callable(make) and isinstance(getattr(value, "name", None), str):
        made = make()  # a task object stands for its signature without arguments, as in Celery
        if isinstance(made, Signature):
            return made
    raise TypeError(f"not a signature: {value!r}")


class Composite(Signature):
    """A signature whose ``kwargs["tasks"]`` holds member signatures (group, chain).

    Built from signatures (or one iterable of them), or from its own dict form as it
    travels in messages (``subtask_type`` equal to :attr:`kind`).
    """

    #: ``subtask_type`` of the dict form; the task name is ``celery.<kind>``.
    kind: ClassVar[str] = ""

    def __init__(self, *tasks: object, app: CanvasApp | None = None, **options: object) -> None:
        if (
            len(tasks) == 1
            and isinstance(tasks[0], dict)
            and tasks[0].get("subtask_type") == self.kind
        ):
            super().__init__(dict(tasks[0]), app=app)
            self["kwargs"]["tasks"] = [
                maybe_signature(t, app) for t in self["kwargs"].get("tasks", ())
            ]
            return
        if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
            tasks = tuple(tasks[0])
        members = [maybe_signature(t, app) for t in tasks]
        super().__init__(
            f"celery.{self.kind}",
            (),
            {"tasks": members},
            options=options,
            subtask_type=self.kind,
            app=app,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, object], app: CanvasApp | None = None) -> Self:
        """Rebuild it from its dict form."""
        return cls(dict(d), app=app)

    @property
    def tasks(self) -> list[Signature]:
        """The member signatures, in order."""
        return list(self["kwargs"]["tasks"])


@register_type("group")
class group(Composite):
    """Run several signatures in parallel; returns a :class:`GroupResult`.

    ``group(add.s(i, i) for i in range(10))().get()``
    """

    kind = "group"

    def __len__(self) -> int:  # a group's length is its member count, as in Celery
        return len(self["kwargs"]["tasks"])

    def __repr__(self) -> str:
        return f"group([{', '.join(repr(t) for t in self.tasks)}])"

    def __or__(self, other: object) -> Signature:  # type: ignore[override]
        """``group | task`` is a chord with the task as body (Celery's upgrade)."""
        from celeriac.canvas.chord import chord
        from celeriac.canvas.primitives import chain

        if isinstance(other, group):
            return chain(self, other, app=self._app)
        if isinstance(other, Signature) and not isinstance(other, chain):
            return chord(self, other, app=self._app)
        return super().__or__(other)

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> Self:
        """Spread the members out: ``countdown`` ``start``, ``start + step`` … (held at
        ``stop`` when given), as Celery's ``group.skew``."""
        countdown = start
        for member in self.tasks:
            member.set(countdown=countdown)
            if stop is None or countdown + step <= stop:
                countdown += step
        return self

    def link(self, sig: Signature) -> Signature:
        """Link ``sig`` (an immutable copy) to the first member, as Celery does: it runs
        once, when that member succeeds, not with the group's results (use a chord)."""
        members = self.tasks
        if not members:
            return super().link(sig)
        return members[0].link(sig.clone().set(immutable=True))

    def link_error(self, sig: Signature) -> Signature:
        """Link ``sig`` (copies) to every member: any of them may fail."""
        members = self.tasks
        if not members:
            return super().link_error(sig)
        for member in members:
            member.link_error(sig.clone())
        return sig

    @property
    def id(self) -> str | None:
        """The group id, once frozen."""
        value = self["options"].get("task_id")
        return str(value) if value else None

    def unrolled(self) -> list[Signature]:
        """The members with nested groups flattened in, in order (Celery runs a group in a
        group as its tasks: one flat GroupResult, one chord part per task)."""
        members: list[Signature] = []
        for member in self.tasks:
            if member.subtask_type == "chain" and not member["kwargs"].get("tasks"):
                continue  # an empty chain is a no-op (Celery's chord header rule)
            if isinstance(member, group):
                members.extend(member.unrolled())
            else:  # a copy: one signature listed twice (``(sig,) * 3``) is two tasks
                members.append(member.clone() if any(m is member for m in members) else member)
        return members

    def freeze(self, _id: str | None = None, **options: object) -> GroupResult[object]:
        """Assign the group id and every member's id; return the GroupResult it will have."""
        group_id = self["options"].get("task_id") or _id or str(uuid.uuid4())
        self["options"]["task_id"] = group_id
        members = self.unrolled()
        self["kwargs"]["tasks"] = members
        results = [member.freeze() for member in members]
        return GroupResult(group_id, _members(results), app=self.app)

    def _prepare(
        self, options: Mapping[str, object]
    ) -> tuple[str, dict[str, object], dict[str, object] | None]:
        """The group id, the members' options, and the options of a part of the chord this
        group reports to as one part (it ends a chain in a chord header), else None."""
        options = {**self["options"], **options}
        options.pop("chain", None)  # a group is never followed by a step (chains upgrade it)
        group_id = str(options.pop("task_id", None) or uuid.uuid4())
        outer = options.pop("group_id", None)
        index = options.pop("group_index", None)
        self["options"]["task_id"] = group_id
        if not outer or not options.get("chord"):
            return group_id, options, None
        part = {"chord": options.pop("chord"), "group_id": outer, "group_index": index}
        return group_id, options, part

    def _as_one_part(
        self,
        members: list[Signature],
        group_id: str,
        part: dict[str, object],
        args: Sequence[object] | None,
        kwargs: Mapping[str, object] | None,
        options: dict[str, object],
    ) -> GroupResult[object]:
        """Send the members as a chord whose body hands their list of results to the outer
        chord as one part (Celery: a group ending a chain in a header is one result)."""
        from celeriac.canvas.chord import chord

        collect = Signature("celery.accumulate", kwargs={"index": 0}, options=part, app=self._app)
        header = group(members, app=self._app, task_id=group_id)
        chord(header, collect, app=self._app).apply_async(args, kwargs, **options)
        return GroupResult(group_id, _members(m.freeze() for m in header.tasks), app=self.app)

    def apply_async(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> GroupResult[object]:
        """Send every member with the group id and its index; return the GroupResult.

        Plain task signatures go to :meth:`CanvasApp.send_many`, which publishes them in
        a few broker round trips where the transport can.
        """
        if self.app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        group_id, options, part = self._prepare(options)
        members = self.unrolled()
        if part is not None:
            return self._as_one_part(members, group_id, part, args, kwargs, options)
        results: list[ResultHandle | None] = [None] * len(members)
        plain: list[tuple[int, TaskCall]] = []
        for index, member in enumerate(members):
            member_options = {**options, "group_id": group_id, "group_index": index}
            if type(member) is Signature:
                name, call_args, call_kwargs, call_options = member.call(args, kwargs)
                plain.append(
                    (index, (name, call_args, call_kwargs, {**call_options, **member_options}))
                )
            else:
                results[index] = member.apply_async(args, kwargs, **member_options)
        if plain:
            sent = self.app.send_many([call for _, call in plain])
            for (index, _), result in zip(plain, sent, strict=True):
                results[index] = result
        if len(results) == 1 and isinstance(results[0], GroupResult):
            # Celery's special case: group(a | group(b, c)) is the inner group's result
            return results[0]
        return GroupResult(group_id, _members(results), app=self.app)

    def apply(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> GroupResult[object]:
        """Run every member eagerly."""
        group_id, options, _ = self._prepare(options)
        options.pop("chord", None)
        return GroupResult(
            group_id,
            _members(
                member.apply(args, kwargs, group_id=group_id, group_index=index, **options)
                for index, member in enumerate(self.unrolled())
            ),
            app=self.app,
        )

    def __call__(self, *args: object, **options: object) -> GroupResult[object]:
        """``group(...)()`` sends the group."""
        return self.apply_async(args, None, **options)


def as_result(handle: ResultHandle) -> AsyncResult[object]:
    """A result handle where a task's result is expected (a group member, a parent): a
    group's GroupResult stands in that place, as in Celery (it answers ``id``,
    ``ready()``, ``get()``, ``as_tuple()`` like a result)."""
    return cast(AsyncResult[object], handle)


def attach_root(result: ResultHandle | None, parent: ResultHandle) -> None:
    """Give the first result without a parent in ``result``'s parent line ``parent`` (a
    chain or chord body's first step follows what ran before it), as Celery does."""
    node = cast("AsyncResult[object] | None", result)
    seen: set[str] = set()
    while node is not None and node is not parent:
        if str(node.id) in seen:
            return
        seen.add(str(node.id))
        if node.parent is None:
            node.parent = as_result(parent)
            return
        node = node.parent


def _members(results: Iterable[ResultHandle | None]) -> list[AsyncResult[object]]:
    return [as_result(result) for result in results if result is not None]
