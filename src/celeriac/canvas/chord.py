"""chord: a header group whose results, in header order, go to one body task once all finished.

The producer registers the header size with the result backend and sends each header task
with the body in ``embed.chord``. Each header task reports its final state
(:mod:`celeriac.canvas.workflow`); the backend counts parts atomically, and only the call
that completes the chord gets the claim to send the body (or to fail it with
``ChordError``). Backends without counters use Celery's polling task
``celery.chord_unlock`` instead.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from celeriac.backends.base import ChordBackend
from celeriac.canvas.signature import (
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
    from celeriac.canvas.applike import CanvasApp

__all__ = ["chord", "chord_size"]

#: Options of a chord that belong to its body (the body's result is the chord's).
_BODY_OPTIONS = ("group_id", "group_index", "chord", "link", "link_error", "chain")


@register_type("chord")
class chord(Signature):
    """``chord(header, body)``: run the header group, then ``body(results)`` exactly once.

    ``chord(add.s(i, i) for i in range(10))(tsum.s()).get()``
    """

    def __init__(
        self,
        header: object = None,
        body: object = None,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        app: CanvasApp | None = None,
        **options: object,
    ) -> None:
        #: a generator header, sent as it is produced (see :func:`_stream`)
        self._lazy: Iterator[object] | None = None
        if isinstance(header, Iterator):
            self._lazy, header = header, None
        if isinstance(header, Mapping) and header.get("subtask_type") == "chord" and body is None:
            super().__init__(dict(header), app=app)
            inner = self["kwargs"]
            inner["header"] = _as_group(inner.get("header"), app)
            inner["body"] = maybe_signature(inner.get("body"), app)
            return
        super().__init__(
            "celery.chord",
            (),
            {
                "header": _as_group(header, app),
                "body": maybe_signature(body, app),
                "kwargs": dict(kwargs or {}),
            },
            options=options,
            subtask_type="chord",
            app=app,
        )
        if args:
            self["args"] = tuple(args)

    @classmethod
    def from_dict(cls, d: Mapping[str, object], app: CanvasApp | None = None) -> chord:
        """Rebuild a chord from its dict form (header as a list or a group)."""
        return cls(dict(d), app=app)

    def _materialize(self) -> None:
        """Read a generator header to its end (anything but sending it needs the list)."""
        if self._lazy is not None:
            lazy, self._lazy = self._lazy, None
            self["kwargs"]["header"] = _as_group(list(lazy), self._app)

    def __deepcopy__(self, memo: dict[int, object]) -> chord:
        self._materialize()
        return type(self)(copy.deepcopy(dict(self), memo), app=self._app)

    def clone(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        **options: object,
    ) -> Signature:
        """A copy (a generator header is read first)."""
        self._materialize()
        return super().clone(args, kwargs, **options)

    @property
    def header(self) -> group:
        """The header group."""
        self._materialize()
        value: group = self["kwargs"]["header"]
        return value

    @property
    def body(self) -> Signature:
        """The body signature (``None`` until given, as in ``chord(header)(body)``)."""
        value: Signature = self["kwargs"]["body"]
        return value

    @property
    def tasks(self) -> list[Signature]:
        """The header's signatures."""
        return self.header.tasks

    @property
    def id(self) -> str | None:
        """The body's id (the chord's result), once frozen."""
        return self.body.id if self.body is not None else None

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    def link(self, callback: Signature) -> Signature:
        """Link ``callback`` to the body (its result is the chord's)."""
        if self.body is None:
            return super().link(callback)
        return self.body.link(callback)

    def link_error(self, errback: Signature) -> Signature:
        """Link ``errback`` to the body; to each header task too when
        ``task_allow_error_cb_on_chord_header`` is set; a chord in the header links it
        itself (Celery's rules)."""
        if self.body is None:
            return super().link_error(errback)
        on_header = bool(self.app.conf.task_allow_error_cb_on_chord_header)
        for task in self.header.tasks:
            if on_header:
                task.link_error(errback.clone().set(immutable=True))
            elif isinstance(task, chord):
                task.link_error(errback)
        self.body.link_error(errback)
        return errback

    def __or__(self, other: object) -> Signature:  # type: ignore[override]
        """``chord | sig`` runs ``sig`` after the body (it joins the body's chain)."""
        from celeriac.canvas.primitives import chain

        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented

    def freeze(self, _id: str | None = None, **options: object) -> ResultHandle:
        """Assign the header's group id and every id; return the body's result."""
        header_result = self.header.freeze()
        group_id = str(header_result.id)
        body_options = {key: value for key, value in options.items() if value is not None}
        task_id = _id or self["options"].get("task_id")  # a chain's id given to its last step
        result = self.body.freeze(None if task_id is None else str(task_id), **body_options)
        if not isinstance(self.body, group):
            self.body["options"].setdefault("group_id", group_id)
        if isinstance(result, AsyncResult | GroupResult):
            attach_root(result, header_result)
        return result

    def apply_async(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        body: object = None,
        **options: object,
    ) -> ResultHandle:
        """Register the header size, send the header; return the body's AsyncResult."""
        if body is not None:
            self["kwargs"]["body"] = maybe_signature(body, self._app)
        if self.body is None:
            raise ValueError(
                "chord has no body: pass it as chord(header, body) or chord(header)(body)"
            )
        app = self.app
        if app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        if not app.backend.supports_chords:
            app.backend.ensure_chords_allowed()  # rpc://: Celery's NotImplementedError
        options = {**self["options"], **options}
        args = [*(args or ()), *self["args"]]
        # a copy of the body runs (ids given before are kept): a body signature used by
        # several chords gets an id per run, as Celery's chord clones it
        self["kwargs"]["body"] = self.body.clone()
        self._give_body(options)
        task_id = options.pop("task_id", None)
        backend = app.backend
        lazy, self._lazy = self._lazy, None
        counts = isinstance(backend, ChordBackend) and backend.supports_chord_counters
        if lazy is not None and counts:
            assert isinstance(backend, ChordBackend)
            return _stream(self, lazy, backend, args, kwargs, options, task_id)
        if lazy is not None:
            self["kwargs"]["header"] = _as_group(list(lazy), self._app)
        result = self.freeze(None if task_id is None else str(task_id))
        header = self.header
        group_id = str(header.id)
        if not header.unrolled():  # Celery applies the body at once with no results
            self.body.apply_async(([],))
            return result
        if isinstance(backend, ChordBackend) and backend.supports_chord_counters:
            backend.set_chord_size(group_id, chord_size(header))
            header.apply_async(args, kwargs, **{**options, "chord": dict(self.body)})
            return result
        header_result = header.apply_async(args, kwargs, **options)
        app.tasks["celery.chord_unlock"].apply_async(
            (group_id, dict(self.body)),
            {"result": [member.as_tuple() for member in header_result.results]},
            countdown=1,
        )
        return result

    def _give_body(self, options: dict[str, object]) -> None:
        """Move the options that belong to the body (its result is the chord's) onto it."""
        for key in _BODY_OPTIONS:
            if key not in options:
                continue
            value = options.pop(key)
            if key not in ("link", "link_error"):
                self.body["options"][key] = value
                continue
            for item in value if isinstance(value, list | tuple) else [value]:
                linked = maybe_signature(item, self._app)
                if linked is not None and key == "link":
                    self.body.link(linked)
                elif linked is not None:
                    _link_error_to_body(self.body, linked)

    def apply(
        self,
        args: Sequence[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        body: object = None,
        **options: object,
    ) -> ResultHandle:
        """Run the header eagerly, then the body with the list of results."""
        if body is not None:
            self["kwargs"]["body"] = maybe_signature(body, self._app)
        args = [*(args or ()), *self["args"]]
        header_result = self.header.apply(args, kwargs)
        values = header_result.get(disable_sync_subtasks=False)
        result = self.body.apply((values,))
        if isinstance(result, AsyncResult):
            result.parent = as_result(header_result)
        return result

    def __call__(  # type: ignore[override]  # Celery's chord(header)(body)
        self, body: object = None, **options: object
    ) -> ResultHandle:
        """``chord(header)(body)`` sends the chord."""
        return self.apply_async((), None, body, **options)


def _stream(
    sig: chord,
    lazy: Iterator[object],
    backend: ChordBackend,
    args: Sequence[object],
    kwargs: Mapping[str, object] | None,
    options: dict[str, object],
    task_id: object,
) -> ResultHandle:
    """Send a generator header task by task as it is produced (Celery sends it while
    iterating), registering the chord size just before the last one goes out."""
    app = sig.app
    body = sig.body
    result = body.freeze(None if task_id is None else str(task_id))
    group_id = str(uuid.uuid4())
    if not isinstance(body, group):
        body["options"].setdefault("group_id", group_id)
    sent: list[Signature] = []
    results: list[AsyncResult[object]] = []
    size = 0
    end = object()
    items = iter(lazy)
    pending = next(items, end)
    while pending is not end:
        following = next(items, end)
        item = maybe_signature(pending, sig._app)
        members = [] if item is None else item.unrolled() if isinstance(item, group) else [item]
        for position, member in enumerate(members):
            size += chord_size(member)
            if following is end and position == len(members) - 1:
                backend.set_chord_size(group_id, size)
            member_options = {"group_id": group_id, "group_index": len(sent), "chord": dict(body)}
            handle = member.apply_async(args, kwargs, **{**options, **member_options})
            sent.append(member)
            results.append(as_result(handle))
        pending = following
    sig["kwargs"]["header"] = group(sent, app=sig._app, task_id=group_id)
    if not sent:  # Celery applies the body at once with no results
        body.apply_async(([],))
    header_result = GroupResult(group_id, results, app=app)
    if isinstance(result, AsyncResult | GroupResult):
        attach_root(result, header_result)
    return result


def chord_size(sig: object) -> int:
    """How many parts report to a chord with ``sig`` in its header (Celery's
    ``chord._descend``): a task counts one, a group the sum of its members, a chain its
    last non-empty step (one for a group: the chain's result is the group's list), a
    chord its body."""
    if isinstance(sig, Mapping) and not isinstance(sig, Signature):
        sig = Signature.from_dict(sig)
    if isinstance(sig, group):
        return sum(chord_size(member) for member in sig.tasks)
    if isinstance(sig, chord):
        return chord_size(sig.body)
    if isinstance(sig, Signature) and sig.subtask_type == "chain":
        for step in reversed(sig["kwargs"].get("tasks") or []):
            step = maybe_signature(step)
            if isinstance(step, group):  # a group ending a chain is one part: its list
                return 1 if step.tasks else 0
            size = chord_size(step)
            if size:
                return size
        return 0
    return 1


def _as_group(value: object, app: CanvasApp | None) -> group:
    if isinstance(value, group):
        return value
    if isinstance(value, Mapping) and value.get("subtask_type") == "group":
        return group(value, app=app)
    if value is None:
        return group([], app=app)
    if isinstance(value, Signature):
        return group([value], app=app)
    if isinstance(value, Iterable):  # copies, as Celery's signature(): the caller's stay as given
        return group([_copy(item, app) for item in value], app=app)
    raise TypeError(f"a chord header is a group or signatures, not {value!r}")


def _copy(item: object, app: CanvasApp | None) -> object:
    return item.clone() if isinstance(item, Signature) else item


def _link_error_to_body(body: Signature, errback: Signature, *, runs_as_group: bool = True) -> None:
    """Link a chord's ``link_error`` to its body, as Celery's ``_add_body_callbacks`` does.

    A plain body gets it in its own ``link_error``. A group body passes it to each of its
    tasks, unless the group has a ``link_error`` of its own (even an empty one): that
    option replaces its tasks' errbacks when the group runs, so the errback joins it
    there. A group inside the group is flattened (its options dropped), and a chord in
    it passes the errback on to its body, not to its header.
    """
    if isinstance(body, group):
        if runs_as_group and body["options"].get("link_error") is not None:
            Signature.link_error(body, errback.clone())
            return
        for task in body.tasks:
            _link_error_to_body(task, errback, runs_as_group=False)
    elif isinstance(body, chord) and not runs_as_group:
        _link_error_to_body(body.body, errback)
    else:
        body.link_error(errback.clone())
