"""Signature and group: a task call packed as a dict (Celery's shape) that travels in messages."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

from celeriac.app import context

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.results.result import AsyncResult, GroupResult

__all__ = ["Signature", "group", "maybe_signature", "register_type", "signature"]

logger = logging.getLogger("celeriac.canvas")

#: ``subtask_type`` → the Signature subclass that rebuilds it (filled by the canvas modules).
_TYPES: dict[str, type[Signature]] = {}


def register_type(name: str) -> Any:
    """Class decorator: rebuild dicts whose ``subtask_type`` is ``name`` with this class."""

    def decorate(cls: type[Signature]) -> type[Signature]:
        _TYPES[name] = cls
        return cls

    return decorate


class Signature(dict[str, Any]):
    """A task name with partial args, kwargs and options: ``add.s(2)``.

    It is a dict with Celery's keys (``task``, ``args``, ``kwargs``, ``options``,
    ``subtask_type``, ``immutable``), so it serializes as Celery's signatures do.
    """

    def __init__(
        self,
        task: str | dict[str, Any] | Any = None,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        subtask_type: str | None = None,
        immutable: bool = False,
        app: Celery | None = None,
        **extra_options: Any,
    ) -> None:
        self._app = app
        if isinstance(task, dict):
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
            args=list(args or ()),
            kwargs=dict(kwargs or {}),
            options={**(options or {}), **extra_options},
            subtask_type=subtask_type,
            immutable=immutable,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], app: Celery | None = None) -> Signature:
        """Rebuild a signature (or group, chain, chord …) from its dict form."""
        kind = _TYPES.get(str(data.get("subtask_type") or ""))
        if kind is not None and kind is not cls:
            return kind.from_dict(data, app=app)
        return cls(dict(data), app=app)

    # -- fields ------------------------------------------------------------------
    @property
    def app(self) -> Celery:
        """The app used to send it (the current app by default)."""
        return self._app if self._app is not None else context.get_current_app()

    @property
    def task(self) -> str:
        """The task name."""
        return str(self["task"])

    name = task

    @property
    def args(self) -> list[Any]:
        """Partial positional args."""
        return list(self["args"])

    @property
    def kwargs(self) -> dict[str, Any]:
        """Partial keyword args."""
        return dict(self["kwargs"])

    @property
    def options(self) -> dict[str, Any]:
        """``apply_async`` options."""
        return dict(self["options"])

    @property
    def immutable(self) -> bool:
        """Whether the parent's result is ignored when applied as a callback."""
        return bool(self["immutable"])

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
    def type(self) -> Any:
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
        args: Sequence[Any] | None,
        kwargs: dict[str, Any] | None,
        options: dict[str, Any] | None,
    ) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
        merged_options = {**self["options"], **(options or {})}
        if self.immutable:
            return list(self["args"]), dict(self["kwargs"]), merged_options
        merged_args = [*(args or ()), *self["args"]]
        return merged_args, {**self["kwargs"], **(kwargs or {})}, merged_options

    def clone(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Signature:
        """A copy with args prepended, kwargs and options merged (immutable: options only)."""
        new_args, new_kwargs, new_options = self._merge(args, kwargs, options)
        clone = type(self)(copy.deepcopy(dict(self)), app=self._app)
        clone["args"], clone["kwargs"], clone["options"] = new_args, new_kwargs, new_options
        return clone

    def __or__(self, other: Any) -> Signature:  # type: ignore[override]
        """``a | b``: a chain (a group followed by a task becomes a chord, as in Celery)."""
        from celeriac.canvas.primitives import chain

        if isinstance(other, chain):
            return chain(self, *other.tasks, app=self._app)
        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        """Set options (and immutability) in place; returns the signature."""
        if immutable is not None:
            self["immutable"] = immutable
        self["options"].update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        """Make the signature (im)mutable."""
        self["immutable"] = immutable

    def freeze(self, _id: str | None = None, **options: Any) -> Any:
        """Assign the task id now and return the AsyncResult it will have."""
        task_id = self["options"].get("task_id") or _id or str(uuid.uuid4())
        self["options"]["task_id"] = task_id
        self["options"].update({key: value for key, value in options.items() if value is not None})
        result: AsyncResult[Any] = self.app.AsyncResult(task_id, task_name=self.task)
        return result

    def clone_frozen(self) -> Signature:
        """A deep copy (ids included), to prepare for sending without changing this one."""
        return copy.deepcopy(self)

    def link(self, callback: Signature) -> Signature:
        """Apply ``callback`` with this task's result when it succeeds."""
        links = self["options"].get("link")
        if links is None or isinstance(links, dict):
            links = self["options"]["link"] = [links] if links else []
        links.append(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Apply ``errback`` when this task fails."""
        links = self["options"].get("link_error")
        if links is None or isinstance(links, dict):
            links = self["options"]["link_error"] = [links] if links else []
        links.append(errback)
        return errback

    def on_error(self, errback: Signature) -> Signature:
        """Like :meth:`link_error`, but returns this signature (for chaining calls)."""
        self.link_error(errback)
        return self

    # -- calling -------------------------------------------------------------------
    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Send the task with partial args merged (new args go first)."""
        new_args, new_kwargs, new_options = self._merge(args, kwargs, options)
        task = self.app.tasks.get(self.task)
        if task is not None:
            return task.apply_async(new_args, new_kwargs, **new_options)
        return self.app.send_task(self.task, new_args, new_kwargs, **new_options)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Send the task; shortcut for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Run the task eagerly with partial args merged."""
        new_args, new_kwargs, new_options = self._merge(args, kwargs, options)
        return self.type.apply(new_args, new_kwargs, **new_options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task body in this process with partial args merged."""
        new_args, new_kwargs, _ = self._merge(args, kwargs, None)
        return self.type(*new_args, **new_kwargs)

    def __invert__(self) -> Any:
        """``~sig``: send and wait for the result."""
        return self.apply_async().get()

    def __deepcopy__(self, memo: dict[int, Any]) -> Signature:
        return type(self)(copy.deepcopy(dict(self), memo), app=self._app)


def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature:
    """Create a signature from a task name, Task or dict (Celery's ``signature()``)."""
    if isinstance(varies, dict) and not args and not kwargs:
        return Signature.from_dict(varies)
    return Signature(varies, *args, **kwargs)


def maybe_signature(value: Any, app: Celery | None = None) -> Signature | None:
    """Turn a dict into a Signature; pass signatures and ``None`` through."""
    if value is None or isinstance(value, Signature):
        return value
    return Signature.from_dict(value, app=app)


class Composite(Signature):
    """A signature whose ``kwargs["tasks"]`` holds member signatures (group, chain).

    Built from signatures (or one iterable of them), or from its own dict form as it
    travels in messages (``subtask_type`` equal to :attr:`kind`).
    """

    #: ``subtask_type`` of the dict form; the task name is ``celery.<kind>``.
    kind: ClassVar[str] = ""

    def __init__(self, *tasks: Any, app: Celery | None = None, **options: Any) -> None:
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
    def from_dict(cls, data: dict[str, Any], app: Celery | None = None) -> Self:
        """Rebuild it from its dict form."""
        return cls(dict(data), app=app)

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

    def __or__(self, other: Any) -> Signature:  # type: ignore[override]
        """``group | task`` is a chord with the task as body (Celery's upgrade)."""
        from celeriac.canvas.chord import chord
        from celeriac.canvas.primitives import chain

        if isinstance(other, group):
            return chain(self, other, app=self._app)
        if isinstance(other, Signature) and not isinstance(other, chain):
            return chord(self, other, app=self._app)
        return super().__or__(other)

    @property
    def id(self) -> str | None:
        """The group id, once frozen."""
        value = self["options"].get("task_id")
        return str(value) if value else None

    def freeze(self, _id: str | None = None, **options: Any) -> GroupResult[Any]:
        """Assign the group id and every member's id; return the GroupResult it will have."""
        from celeriac.results.result import GroupResult

        group_id = self["options"].get("task_id") or _id or str(uuid.uuid4())
        self["options"]["task_id"] = group_id
        results = [member.freeze() for member in self.tasks]
        return GroupResult(group_id, results, app=self.app)

    def _prepare(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        options = {**self["options"], **options}
        options.pop("chain", None)  # a group is never followed by a step (chains upgrade it)
        group_id = options.pop("task_id", None) or str(uuid.uuid4())
        options.pop("group_id", None)
        options.pop("group_index", None)
        self["options"]["task_id"] = group_id
        return group_id, options

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> GroupResult[Any]:
        """Send every member with the group id and its index; return the GroupResult."""
        from celeriac.results.result import GroupResult

        if self.app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        group_id, options = self._prepare(options)
        results: list[Any] = [None] * len(self)
        batch: list[tuple[int, Signature, dict[str, Any]]] = []
        for index, member in enumerate(self.tasks):
            member_options = {**options, "group_id": group_id, "group_index": index}
            if _batchable(self.app, member):
                batch.append((index, member, member_options))
            else:
                results[index] = member.apply_async(args, kwargs, **member_options)
        for index, result in _publish_batch(self.app, batch, args, kwargs):
            results[index] = result
        return GroupResult(group_id, results, app=self.app)

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> GroupResult[Any]:
        """Run every member eagerly."""
        from celeriac.results.result import GroupResult

        group_id, options = self._prepare(options)
        options.pop("chord", None)
        return GroupResult(
            group_id,
            [
                member.apply(args, kwargs, group_id=group_id, group_index=index, **options)
                for index, member in enumerate(self.tasks)
            ],
            app=self.app,
        )

    def __call__(self, *args: Any, **options: Any) -> GroupResult[Any]:
        """``group(...)()`` sends the group."""
        return self.apply_async(args, **options)


def _batchable(app: Celery, member: Signature) -> bool:
    """A plain task call whose task does not override ``apply_async`` (it may be batched)."""
    if type(member) is not Signature:
        return False
    from celeriac.app.task import Task

    task = app.tasks.get(member.task)
    return task is None or type(task).apply_async is Task.apply_async


def _publish_batch(
    app: Celery,
    batch: list[tuple[int, Signature, dict[str, Any]]],
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
) -> list[tuple[int, Any]]:
    """Send plain members in a few broker round trips when the transport can
    (``publish_many``); one ``apply_async`` each otherwise. Returns ``(index, result)``."""
    publish_many = getattr(app.transport, "publish_many", None)
    if publish_many is None or len(batch) < 2 or app.conf.task_always_eager:
        return [(index, sig.apply_async(args, kwargs, **opts)) for index, sig, opts in batch]
    prepared = []
    for index, sig, opts in batch:
        new_args, new_kwargs, new_options = sig._merge(args, kwargs, opts)
        task = app.tasks.get(sig.task)
        if task is not None:
            task._check_arguments(new_args, new_kwargs)
        message, queue, eta = app.prepare_task_message(
            sig.task, new_args, new_kwargs, task_type=task, **new_options
        )
        app.middleware.before_publish(message, queue)
        prepared.append((index, sig.task, message, queue, eta))
    try:
        publish_many([(message, queue, eta) for _, _, message, queue, eta in prepared])
    except Exception as exc:  # BrokerError: send one by one, with the publish retry policy
        logger.warning(
            "Publishing %d group members at once failed (%s); one by one", len(prepared), exc
        )
        policy = {"max_retries": 3, **(app.conf.task_publish_retry_policy or {})}
        for _, _, message, queue, eta in prepared:
            app._publish_with_retry(message, queue, eta, retry=True, policy=policy)
    results = []
    for index, name, message, queue, _ in prepared:
        app.middleware.after_publish(message, queue)
        results.append((index, app._result_for(message, name)))
    return results
