"""Workflow follow-ups: what a finished task sends next, and how chords complete.

The worker's outcome handling and eager mode both call this module: link callbacks
(with the result), errbacks (by their signature, as Celery calls them), the chain's
next step (or, on failure, the failure of the steps that will never run), and chord
parts (each header task reports its final state; the one that completes the chord
sends the body, or fails it with ``ChordError``). Reports of header tasks finishing
together go to the backend in one batch (:class:`ChordReporter`). Celery's built-in
workflow tasks (``celery.chord_unlock``, ``celery.group`` …) are in
:mod:`celeriac.canvas.workflow_tasks`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celeriac import states
from celeriac.backends.base import ChordBackend, ChordClaim
from celeriac.canvas.applike import CanvasApp
from celeriac.canvas.signature import Signature, group, maybe_signature
from celeriac.exceptions import BrokerError, ChordError, EncodeError
from celeriac.execution.follow_up import follow_up
from celeriac.execution.request import Context
from celeriac.protocol.results import decode_exception
from celeriac.protocol.task_message import SignatureDict
from celeriac.results.result import ResultTuple

__all__ = [
    "ChordPart",
    "ChordReporter",
    "RequestPartReporter",
    "acall_errbacks",
    "acontinue_chain",
    "afail_chain",
    "aon_chord_parts_return",
    "apply_callbacks",
    "apply_errbacks",
    "asend_callbacks",
    "chord_error",
    "chord_part",
    "on_chord_part_return",
    "on_chord_parts_return",
    "takes_request",
]

logger = logging.getLogger("celery.canvas.workflow")

#: ``(task_id, meta)``: a result to store, as the worker's settler takes it.
StoredMeta = tuple[str, dict[str, object]]


def _label(request: Context) -> str:
    return f"{request.shadow or request.task}[{request.id}]"


# -- link callbacks and errbacks ---------------------------------------------------------


def takes_request(app: CanvasApp, errback: Signature) -> bool:
    """Celery's test for a "new-style" errback: its function still takes more than one
    positional argument once the signature's stored arguments are bound (from the left,
    as ``functools.partial`` binds them), so it is called here as
    ``errback(request, exc, traceback)`` instead of being sent the failed task's id.

    A bound task (``bind=True``) is always old-style: it is sent as a task, so it can
    retry. So is a task this process does not know, or one not made from a function.
    """
    task = app.tasks.get(errback.task)
    function = getattr(task, "__wrapped__", None)
    if function is None or getattr(task, "bind", False):
        return False
    try:
        parameters = _remaining_parameters(function, errback)
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) > 1 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _remaining_parameters(
    function: Callable[..., object], errback: Signature
) -> list[inspect.Parameter]:
    """The parameters of ``function`` left once a mutable errback's stored arguments are
    bound (all of them when the binding does not fit: the call will tell)."""
    if not errback.immutable and (errback.args or errback.kwargs):
        try:
            bound = functools.partial(function, *errback.args, **errback.kwargs)
            return list(inspect.signature(bound).parameters.values())
        except (TypeError, ValueError):
            pass
    return list(inspect.signature(function).parameters.values())


async def _asend(
    app: CanvasApp,
    request: Context,
    signatures: Sequence[SignatureDict],
    args: tuple[object, ...],
    kind: str,
) -> list[ResultTuple]:
    """Send signatures (from a thread) with ``args`` first; return their result tuples.

    Raises:
        BrokerError: the broker stayed unreachable through the follow-up retry policy
            (the caller keeps the task's message: nothing is lost).
    """
    children: list[ResultTuple] = []
    for item in signatures:
        sig = Signature.from_dict(item, app=app)
        try:
            with follow_up():
                result = await asyncio.to_thread(
                    sig.apply_async,
                    args if not sig.immutable else (),
                    parent_id=request.id,
                    root_id=request.root_id or request.id,
                )
        except Exception as exc:
            logger.error("Task %s: sending %s %r failed: %r", _label(request), kind, sig, exc)
            if isinstance(exc, BrokerError):
                raise
            continue
        if result is not None:  # an empty chain sends nothing
            children.append(result.as_tuple())
    return children


async def asend_callbacks(app: CanvasApp, request: Context, retval: object) -> list[ResultTuple]:
    """Send the ``link`` callbacks with the result; return their result tuples (children)."""
    return await _asend(app, request, request.callbacks or (), (retval,), "callback")


async def acall_errbacks(
    app: CanvasApp, request: Context, exc: BaseException, traceback: str | None
) -> None:
    """Call the ``link_error`` errbacks of a failed task, by their signature (Celery's way).

    A new-style errback (``def on_error(request, exc, traceback)``) runs here, in this
    process; an old-style one (one argument) is sent with the failed task's id.
    """
    old_style: list[SignatureDict] = []
    for item in request.errbacks or ():
        sig = Signature.from_dict(item, app=app)
        if not takes_request(app, sig):
            old_style.append(item)
            continue
        try:
            value = await asyncio.to_thread(sig, request, exc, traceback)
            if inspect.isawaitable(value):
                await value
        except Exception as error:
            logger.error("Task %s: errback %r failed: %r", _label(request), sig, error)
    if old_style:
        await _asend(app, request, old_style, (request.id,), "errback")


def apply_callbacks(app: CanvasApp, request: Context, retval: object) -> None:
    """Eager mode: apply the ``link`` callbacks with the result, here and now."""
    for item in request.callbacks or ():
        Signature.from_dict(item, app=app).apply((retval,))


def apply_errbacks(
    app: CanvasApp, request: Context, exc: BaseException, traceback: str | None
) -> None:
    """Eager mode: call the ``link_error`` errbacks by their signature, here and now."""
    for item in request.errbacks or ():
        sig = Signature.from_dict(item, app=app)
        if takes_request(app, sig):
            sig(request, exc, traceback)
        else:
            sig.apply((request.id,) if not sig.immutable else ())


# -- chains ------------------------------------------------------------------------------


async def acontinue_chain(app: CanvasApp, request: Context, retval: object) -> list[ResultTuple]:
    """Send the chain's next step (the last element) with the rest; return its tuple.

    Raises:
        BrokerError: as :func:`_asend`.
    """
    chain = list(request.chain or ())
    step = Signature.from_dict(chain.pop(), app=app)
    try:
        with follow_up():
            result = await asyncio.to_thread(
                step.apply_async,
                (retval,),
                chain=chain,
                parent_id=request.id,
                root_id=request.root_id or request.id,
            )
    except Exception as exc:
        logger.error(
            "Task %s: sending the next chain step %r failed: %r", _label(request), step, exc
        )
        if isinstance(exc, BrokerError):
            raise
        return []
    return [result.as_tuple()] if result is not None else []


async def afail_chain(
    app: CanvasApp,
    request: Context,
    exc: BaseException | None,
    store: Callable[[str, dict[str, object]], None],
) -> None:
    """Store the failure for the chain's remaining steps (their results would never come),
    and report it to a chord the last step belongs to."""
    error = exc if exc is not None else Exception("chain step failed")
    for item in request.chain or ():
        step = Signature.from_dict(item, app=app)
        step_id = step.id
        if not step_id:
            continue
        options = step["options"]
        meta = app.result_meta(step_id, states.FAILURE, error, traceback=None)
        if not (options.get("chord") and options.get("group_id")):
            store(step_id, meta)
            continue
        # stored now, before the chord hears of it: its body's waiter then finds the cause
        await asyncio.to_thread(app.backend.store, step_id, meta)
        part = ChordPart(
            step_id,
            options.get("group_id"),
            options.get("group_index"),
            options.get("chord"),
            states.FAILURE,
            error,
            request.root_id,
        )
        try:
            await asyncio.to_thread(on_chord_parts_return, app, [part])
        except Exception as report_exc:
            logger.error("Task %s: reporting to a chord failed: %r", _label(request), report_exc)


# -- chords ------------------------------------------------------------------------------


@dataclass(slots=True)
class ChordPart:
    """One finished header task, as the worker reports it (``state`` is final)."""

    task_id: str
    group_id: str | None
    group_index: int | None
    chord_sig: SignatureDict | None
    state: str
    value: object
    root_id: str | None = None


def chord_part(request: Context, state: str, value: object) -> ChordPart:
    """The part a header task reports when it ends in ``state`` with ``value``."""
    return ChordPart(
        request.id or "",
        request.group,
        request.group_index,
        request.chord,
        state,
        value,
        request.root_id,
    )


def _listed(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


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


def chord_error(app: CanvasApp, body: Signature, exc: BaseException, parent_id: str | None) -> None:
    """Fail a chord: store FAILURE (the ChordError) for the body, then call its errbacks.

    A group body fails member by member, each with the header task's own exception (the
    ChordError's cause) where there is one, as Celery's ``_handle_group_chord_error``.
    """
    if isinstance(body, group):
        cause = exc.__cause__ if isinstance(exc, ChordError) else None
        original = cause if isinstance(cause, Exception) else exc
        for member in body.tasks:
            chord_error(app, member, original, parent_id)
        return
    inner = body["kwargs"].get("body") if body.subtask_type == "chord" else None
    if inner is not None:  # a chord body never runs: its own body (the result) fails
        chord_error(app, maybe_signature(inner, app) or body, exc, parent_id)
        return
    body_id = body.id
    if body_id and app.backend.stores_results:
        traceback = f"{type(exc).__name__}: {exc}\n"
        app.backend.store(
            body_id, app.result_meta(body_id, states.FAILURE, exc, traceback=traceback)
        )
    for errback in _body_errbacks(body):
        try:
            if takes_request(app, errback):
                # Celery's "new-style" errback, called here: errback(request, exc, traceback)
                request = Context(id=body_id, task=body.task, group=body["options"].get("group_id"))
                errback(request, exc, None)
                continue
            errback.apply_async(
                (body_id,) if not errback.immutable else (), parent_id=body_id or parent_id
            )
        except Exception as send_exc:
            logger.error("Chord body %s: errback %r failed: %r", body_id, errback, send_exc)


def _values(backend: ChordBackend, members: list[bytes]) -> list[object]:
    """Decode the parts in header order; the first failed one raises ChordError."""
    values = []
    for payload in members:
        task_id, state, value = backend.decode_chord_part(payload)
        if state in states.PROPAGATE_STATES:
            exc: object
            try:
                exc = decode_exception(value)
            except Exception:
                exc = value
            cause = exc if isinstance(exc, BaseException) else None
            raise ChordError(f"Dependency {task_id} raised {exc!r}") from cause
        values.append(value)
    return values


def _encoded(
    backend: ChordBackend, parts: Sequence[ChordPart]
) -> tuple[list[ChordPart], list[tuple[str, str, int | None, bytes]]]:
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
    return usable, encoded


def on_chord_part_return(
    app: CanvasApp,
    *,
    task_id: str,
    group_id: str | None,
    group_index: int | None,
    chord_sig: SignatureDict | None,
    state: str,
    value: object,
    root_id: str | None = None,
) -> None:
    """Report one finished header task; the one that completes the chord sends the body.

    ``state`` must be final (SUCCESS, FAILURE, REVOKED …): a retry is not a part.
    """
    part = ChordPart(task_id, group_id, group_index, chord_sig, state, value, root_id)
    on_chord_parts_return(app, [part])


class RequestPartReporter:
    """Celery's ``app.backend.on_chord_part_return(request, state, result)``: the part of a
    request-like object (``id``, ``group``, ``group_index``, ``chord``), for one app (held
    weakly: its backend keeps this)."""

    def __init__(self, app: CanvasApp) -> None:
        self._app = weakref.ref(app)

    def __call__(self, request: Any, state: str, result: object) -> None:
        app = self._app()
        if app is None or not request.group or not request.id:
            return
        part = ChordPart(
            str(request.id),
            str(request.group),
            getattr(request, "group_index", None),
            getattr(request, "chord", None),
            state,
            result,
            getattr(request, "root_id", None),
        )
        if part.chord_sig is not None:
            on_chord_parts_return(app, [part])
            return
        backend = app.backend  # no body: count the part (and its expiry) all the same
        if isinstance(backend, ChordBackend) and backend.supports_chord_counters:
            group_id = str(part.group_id)
            encoded = backend.encode_chord_part(part.task_id, state, result)
            claim = backend.chord_part_return(group_id, part.task_id, part.group_index, encoded)
            if claim is not None:
                logger.warning("Chord %s completed without a body to send", group_id)
                backend.chord_cleanup(group_id, claim.token)


def on_chord_parts_return(app: CanvasApp, parts: Sequence[ChordPart]) -> None:
    """Report several finished header tasks in one backend round trip where possible; for
    each part that completes its chord, send the body (or fail it with ``ChordError``)."""
    backend = app.backend
    if not isinstance(backend, ChordBackend) or not backend.supports_chord_counters:
        return
    usable, encoded = _encoded(backend, parts)
    if not usable:
        return
    claims = backend.chord_parts_return(encoded)
    for part, claim in zip(usable, claims, strict=True):
        if claim is not None:
            _complete(app, backend, part, claim)


async def aon_chord_parts_return(
    app: CanvasApp, parts: Sequence[ChordPart], metas: Sequence[StoredMeta] = ()
) -> None:
    """Async twin of :func:`on_chord_parts_return`: the count on the backend's async client;
    only a completed chord's body is sent from a thread. ``metas`` (the header tasks'
    results) are stored first, in the same round trip where the backend can."""
    backend = app.backend
    if not isinstance(backend, ChordBackend) or not backend.supports_chord_counters:
        if metas:
            await app.backend.astore_many(metas)
        return
    usable, encoded = _encoded(backend, parts)
    claims = await backend.achord_parts_return(encoded, metas)
    for part, claim in zip(usable, claims, strict=True):
        if claim is not None:
            await asyncio.to_thread(_complete, app, backend, part, claim)


def _complete(app: CanvasApp, backend: ChordBackend, part: ChordPart, claim: ChordClaim) -> None:
    """Send the body with the results in header order, or fail it; then clean up.

    The body is a follow-up: its publish outlasts a broker restart
    (:mod:`celeriac.execution.follow_up`) before the chord fails with ``ChordError``.
    """
    body = maybe_signature(part.chord_sig, app)
    assert body is not None
    with follow_up():
        _dispatch(app, backend, part, claim, body)


def _dispatch(
    app: CanvasApp, backend: ChordBackend, part: ChordPart, claim: ChordClaim, body: Signature
) -> None:
    group_id, task_id = str(part.group_id), part.task_id
    try:
        try:
            values = _values(backend, claim.members)
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


class ChordReporter:
    """Batches chord part reports of tasks that finish together into one backend call.

    Args:
        app: the app whose backend counts the parts.
        store_now: stores one result now (the fallback when a result cannot go in the
            batch, e.g. one the serializer refuses).
        stores_results: whether results are stored at all (``metas`` are dropped if not).
    """

    def __init__(
        self,
        app: CanvasApp,
        store_now: Callable[[str, dict[str, object]], Awaitable[None]],
        stores_results: bool,
    ) -> None:
        self.app = app
        self.store_now = store_now
        self.stores_results = stores_results
        self.pending: list[tuple[ChordPart, StoredMeta | None, asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    async def report(self, part: ChordPart, meta: StoredMeta | None = None) -> None:
        """Store ``meta`` (the task's result) if given, then count ``part``; batched."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self.pending.append((part, meta, future))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._flush(), name="chord-reports")
        await future

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:512], self.pending[512:]
            parts = [part for part, _, _ in batch]
            metas = [meta for _, meta, _ in batch if meta is not None]
            if not self.stores_results:
                metas = []
            try:
                try:
                    await aon_chord_parts_return(self.app, parts, metas)
                except EncodeError:  # a result the serializer refuses: the settler's path
                    for meta in metas:  # the results before their parts (Celery's order)
                        await self.store_now(*meta)
                    await aon_chord_parts_return(self.app, parts)
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                        )
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)
