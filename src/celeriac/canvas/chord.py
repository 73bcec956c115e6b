"""chord: a header group whose results, in header order, go to one body task once all finished.

The producer registers the header size with the result backend and sends each header task
with the body in ``embed.chord``. Each header task reports its final state with
:func:`on_chord_part_return`; the backend counts parts atomically, and only the call that
completes the chord gets the claim to send the body (or to fail it with ``ChordError``).
Backends without counters use Celery's polling task ``celery.chord_unlock`` instead.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.app.request import Context
from celeriac.backends.base import ChordBackend, ChordClaim
from celeriac.canvas.signature import Signature, group, maybe_signature, register_type
from celeriac.exceptions import ChordError
from celeriac.protocol.results import decode_exception

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["ChordPart", "chord", "chord_error", "on_chord_part_return", "on_chord_parts_return"]

logger = logging.getLogger("celeriac.canvas.chord")

#: Options of a chord that belong to its body (the body's result is the chord's).
_BODY_OPTIONS = ("group_id", "group_index", "chord", "link", "link_error", "chain")


@register_type("chord")
class chord(Signature):
    """``chord(header, body)``: run the header group, then ``body(results)`` exactly once.

    ``chord(add.s(i, i) for i in range(10))(tsum.s()).get()``
    """

    def __init__(
        self,
        header: Any = None,
        body: Any = None,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        app: Celery | None = None,
        **options: Any,
    ) -> None:
        if isinstance(header, dict) and header.get("subtask_type") == "chord" and body is None:
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
            self["args"] = list(args)

    @classmethod
    def from_dict(cls, data: dict[str, Any], app: Celery | None = None) -> chord:
        """Rebuild a chord from its dict form (header as a list or a group)."""
        return cls(dict(data), app=app)

    @property
    def header(self) -> group:
        """The header group."""
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

    def __or__(self, other: Any) -> Signature:  # type: ignore[override]
        """``chord | sig`` runs ``sig`` after the body (it joins the body's chain)."""
        from celeriac.canvas.primitives import chain

        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented

    def freeze(self, _id: str | None = None, **options: Any) -> Any:
        """Assign the header's group id and every id; return the body's result."""
        header_result = self.header.freeze()
        group_id = str(header_result.id)
        body_options = {key: value for key, value in options.items() if value is not None}
        result = self.body.freeze(_id, **body_options)
        if not isinstance(self.body, group):
            self.body["options"].setdefault("group_id", group_id)
        if hasattr(result, "parent") and result.parent is None:
            result.parent = header_result
        return result

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        body: Signature | None = None,
        **options: Any,
    ) -> Any:
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
        options = {**self["options"], **options}
        args = [*(args or ()), *self["args"]]
        for member in self.header.tasks:
            if isinstance(member, group | chord):
                raise NotImplementedError(
                    "a group or chord inside a chord header is not supported yet; "
                    "list its tasks in the header directly"
                )
        body_options = {key: options.pop(key) for key in _BODY_OPTIONS if key in options}
        task_id = options.pop("task_id", None)
        for key, value in body_options.items():
            if key in ("link", "link_error"):
                for item in value if isinstance(value, list | tuple) else [value]:
                    getattr(self.body, key)(maybe_signature(item, app))
            else:
                self.body["options"][key] = value
        result = self.freeze(task_id)
        header = self.header
        group_id = str(header.id)
        if not header.tasks:  # Celery applies the body at once with no results
            self.body.apply_async(([],))
            return result
        backend = app.backend
        if isinstance(backend, ChordBackend) and backend.supports_chord_counters:
            backend.set_chord_size(group_id, len(header.tasks))
            header.apply_async(args, kwargs, chord=dict(self.body), **options)
            return result
        header_result = header.apply_async(args, kwargs, **options)
        app.tasks["celery.chord_unlock"].apply_async(
            (group_id, dict(self.body)),
            {"result": [member.as_tuple() for member in header_result.results]},
            countdown=1,
        )
        return result

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        body: Signature | None = None,
        **options: Any,
    ) -> Any:
        """Run the header eagerly, then the body with the list of results."""
        if body is not None:
            self["kwargs"]["body"] = maybe_signature(body, self._app)
        args = [*(args or ()), *self["args"]]
        header_result = self.header.apply(args, kwargs)
        values = header_result.get(disable_sync_subtasks=False)
        result = self.body.apply((values,))
        if hasattr(result, "parent"):
            result.parent = header_result
        return result

    def __call__(self, body: Signature | None = None, **options: Any) -> Any:
        """``chord(header)(body)`` sends the chord."""
        return self.apply_async((), body=body, **options)


def _as_group(value: Any, app: Celery | None) -> group:
    if isinstance(value, group):
        return value
    if isinstance(value, dict) and value.get("subtask_type") == "group":
        return group(value, app=app)
    if value is None:
        return group([], app=app)
    if isinstance(value, Signature):
        return group([value], app=app)
    return group(list(value), app=app)


# -- completion (run by the worker that finished a header task) ------------------------------


def _body_errbacks(body: Signature) -> list[Signature]:
    """Errbacks to call when a chord fails: the body's, or its last step's for a chain body."""
    found = [maybe_signature(e) for e in _listed(body["options"].get("link_error"))]
    if body.subtask_type == "chain":
        steps = body["kwargs"].get("tasks") or []
        if steps:
            last = maybe_signature(steps[-1])
            if last is not None:
                found += [maybe_signature(e) for e in _listed(last["options"].get("link_error"))]
    return [sig for sig in found if sig is not None]


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def chord_error(app: Celery, body: Signature, exc: BaseException, parent_id: str | None) -> None:
    """Fail a chord: store FAILURE (the ChordError) for the body, then call its errbacks.

    A group body fails member by member (as Celery's ``_handle_group_chord_error``).
    """
    if isinstance(body, group):
        for member in body.tasks:
            chord_error(app, member, exc, parent_id)
        return
    body_id = body.id
    if body_id and app.backend.stores_results:
        traceback = f"{type(exc).__name__}: {exc}\n"
        app.backend.store(
            body_id, app.result_meta(body_id, states.FAILURE, exc, traceback=traceback)
        )
    for errback in _body_errbacks(body):
        try:
            if _takes_request(app, errback):
                # Celery's "new-style" errback, called here: errback(request, exc, traceback)
                request = Context(id=body_id, task=body.task, group=body["options"].get("group_id"))
                errback(request, exc, None)
                continue
            errback.apply_async(
                (body_id,) if not errback.immutable else (), parent_id=body_id or parent_id
            )
        except Exception as send_exc:
            logger.error("Chord body %s: errback %r failed: %r", body_id, errback, send_exc)


def _takes_request(app: Celery, errback: Signature) -> bool:
    """Celery's test for a new-style errback: its task's function takes more than one arg."""
    task = app.tasks.get(errback.task)
    function = getattr(task, "_fun", None)
    if function is None:
        return False
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if getattr(task, "bind", False):
        positional = positional[1:]
    return len(positional) > 1 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _values(app: Celery, backend: Any, members: list[bytes]) -> list[Any]:
    """Decode the parts in header order; the first failed one raises ChordError."""
    values = []
    for payload in members:
        task_id, state, value = backend.decode_chord_part(payload)
        if state in states.PROPAGATE_STATES:
            try:
                exc: Any = decode_exception(value)
            except Exception:
                exc = value
            raise ChordError(f"Dependency {task_id} raised {exc!r}")
        values.append(value)
    return values


@dataclass(slots=True)
class ChordPart:
    """One finished header task, as the worker reports it (``state`` is final)."""

    task_id: str
    group_id: str | None
    group_index: int | None
    chord_sig: dict[str, Any] | None
    state: str
    value: Any
    root_id: str | None = None


def on_chord_part_return(
    app: Celery,
    *,
    task_id: str,
    group_id: str | None,
    group_index: int | None,
    chord_sig: dict[str, Any] | None,
    state: str,
    value: Any,
    root_id: str | None = None,
) -> None:
    """Report one finished header task; the one that completes the chord sends the body.

    ``state`` must be final (SUCCESS, FAILURE, REVOKED …): a retry is not a part.
    """
    part = ChordPart(task_id, group_id, group_index, chord_sig, state, value, root_id)
    on_chord_parts_return(app, [part])


def on_chord_parts_return(app: Celery, parts: Sequence[ChordPart]) -> None:
    """Report several finished header tasks in one backend round trip where possible; for
    each part that completes its chord, send the body (or fail it with ``ChordError``)."""
    backend = app.backend
    if not isinstance(backend, ChordBackend) or not backend.supports_chord_counters:
        return
    usable = [part for part in parts if part.group_id and part.chord_sig]
    if not usable:
        return
    encoded = [
        (
            str(part.group_id),
            part.task_id,
            part.group_index,
            backend.encode_chord_part(part.task_id, part.state, part.value),
        )
        for part in usable
    ]
    claims = backend.chord_parts_return(encoded)
    for part, claim in zip(usable, claims, strict=True):
        if claim is not None:
            _complete(app, backend, part, claim)


async def aon_chord_parts_return(
    app: Celery,
    parts: Sequence[ChordPart],
    metas: Sequence[tuple[str, dict[str, Any]]] = (),
) -> None:
    """Async twin of :func:`on_chord_parts_return`: the count on the backend's async client;
    only a completed chord's body is sent from a thread."""
    backend = app.backend
    if not isinstance(backend, ChordBackend) or not backend.supports_chord_counters:
        if metas:
            await app.backend.astore_many(metas)
        return
    usable = [part for part in parts if part.group_id and part.chord_sig]
    encoded = [
        (
            str(part.group_id),
            part.task_id,
            part.group_index,
            backend.encode_chord_part(part.task_id, part.state, part.value),
        )
        for part in usable
    ]
    claims = await backend.achord_parts_return(encoded, metas)
    for part, claim in zip(usable, claims, strict=True):
        if claim is not None:
            await asyncio.to_thread(_complete, app, backend, part, claim)


def _complete(app: Celery, backend: ChordBackend, part: ChordPart, claim: ChordClaim) -> None:
    """Send the body with the results in header order, or fail it; then clean up."""
    group_id, task_id = str(part.group_id), part.task_id
    body = maybe_signature(part.chord_sig, app)
    assert body is not None
    try:
        try:
            values = _values(app, backend, claim.members)
        except ChordError as exc:
            logger.error("Chord %s failed: %s", group_id, exc)
            chord_error(app, body, exc, task_id)
            return
        except Exception as exc:
            logger.error("Chord %s: reading the header results failed: %r", group_id, exc)
            chord_error(app, body, ChordError(f"Join error: {exc!r}"), task_id)
            return
        try:
            body.apply_async((values,), parent_id=task_id, root_id=part.root_id or task_id)
        except Exception as exc:
            logger.error("Chord %s: sending the body failed: %r", group_id, exc)
            chord_error(app, body, ChordError(f"Callback error: {exc!r}"), task_id)
    finally:
        backend.chord_cleanup(group_id, claim.token)
