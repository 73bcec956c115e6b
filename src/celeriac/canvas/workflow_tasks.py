"""Celery's built-in workflow tasks: ``celery.chord_unlock``, ``celery.group``, ``celery.chain``,
``celery.chord``, ``celery.map``, ``celery.starmap``, ``celery.chunks``, ``celery.accumulate``.

Same names and arguments as Celery's, so Celery's messages run here. The app registers
them (:func:`workflow_tasks` gives the functions and their task options).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from celeriac.canvas.applike import CanvasApp
from celeriac.canvas.chord import chord
from celeriac.canvas.primitives import chunks
from celeriac.canvas.signature import as_result, group, maybe_signature, signature
from celeriac.canvas.workflow import chord_error
from celeriac.exceptions import ChordError
from celeriac.execution.follow_up import follow_up
from celeriac.execution.request import Context
from celeriac.results.result import GroupResult, ResultTuple, result_from_tuple

__all__ = ["WorkflowTask", "workflow_tasks"]


@dataclass(frozen=True, slots=True)
class WorkflowTask:
    """A built-in task: its name, its function and its task options."""

    name: str
    function: Callable[..., object]
    options: Mapping[str, object] = field(default_factory=dict)


class _Polling(Protocol):
    """What ``celery.chord_unlock`` needs of itself (it is a bound task)."""

    @property
    def request(self) -> Context:
        """The running request."""
        ...

    @property
    def default_retry_delay(self) -> float:
        """Seconds between polls, unless ``interval`` is given."""
        ...

    def retry(self, *, countdown: float | None = ..., max_retries: int | None = ...) -> Exception:
        """Run again later."""
        ...


def workflow_tasks(app: CanvasApp) -> list[WorkflowTask]:
    """The built-in workflow tasks of ``app``."""
    return [*_chord_tasks(app), *_message_tasks(app)]


def _chord_tasks(app: CanvasApp) -> list[WorkflowTask]:
    """``celery.accumulate`` (``Task.replace`` by a group) and ``celery.chord_unlock``."""

    def accumulate(*args: object, **kwargs: object) -> object:
        """Return the args (or the one at ``index``): the body ``Task.replace`` uses for groups."""
        index = kwargs.get("index")
        return args[index] if isinstance(index, int) else args

    def unlock_chord(
        self: _Polling,
        group_id: str,
        callback: Mapping[str, object],
        interval: float | None = None,
        max_retries: int | None = None,
        result: Sequence[object] | None = None,
        **kwargs: object,
    ) -> None:
        """Poll a chord's header until it is ready, then send the body (Celery's fallback)."""
        if interval is None:
            interval = self.default_retry_delay
        members = [as_result(result_from_tuple(r, app)) for r in result or ()]
        deps = GroupResult(group_id, members, app=app)
        body = maybe_signature(callback, app)
        assert body is not None
        if not deps.ready():
            raise self.retry(countdown=interval, max_retries=max_retries)
        try:
            values = deps.join(propagate=True, disable_sync_subtasks=False)
        except Exception as exc:
            culprit = next((r for r in deps.results if r.failed()), None)
            reason = f"Dependency {culprit.id} raised {exc!r}" if culprit else repr(exc)
            error = ChordError(reason)
            error.__cause__ = exc  # a group body's members fail with the header's own error
            chord_error(app, body, error, None)
            return
        with follow_up():  # as a worker's own chord completion: outlast a broker restart
            body.apply_async((values,), parent_id=self.request.id, root_id=self.request.root_id)

    return [
        WorkflowTask("celery.accumulate", accumulate, {"typing": False}),
        WorkflowTask(
            "celery.chord_unlock",
            unlock_chord,
            {
                "bind": True,
                "max_retries": None,
                "ignore_result": True,
                "default_retry_delay": app.conf.get("result_chord_retry_interval", 1.0),
                "typing": False,
            },
        ),
    ]


def _message_tasks(app: CanvasApp) -> list[WorkflowTask]:
    """``celery.group/chain/chord/map/starmap/chunks``: canvas signatures sent as messages."""

    def group_task(
        tasks: Iterable[object],
        result: object = None,
        group_id: str | None = None,
        partial_args: Sequence[object] | None = None,
        add_to_parent: bool = True,
    ) -> ResultTuple:
        """Send a group that arrived as a task message."""
        sig = group(list(tasks), app=app)
        if group_id:
            sig["options"]["task_id"] = group_id
        return sig.apply_async(partial_args or ()).as_tuple()

    def chain_task(*args: object, **kwargs: object) -> object:
        raise NotImplementedError("chain is not a real task")

    def chord_task(
        header: object,
        body: object,
        partial_args: Sequence[object] = (),
        interval: float | None = None,
        countdown: float = 1,
        max_retries: int | None = None,
        eager: bool = False,
        **kwargs: object,
    ) -> ResultTuple:
        """Send a chord that arrived as a task message."""
        return chord(header, body, app=app).apply_async(partial_args or ()).as_tuple()

    def map_task(task: Mapping[str, object], it: Iterable[object]) -> list[object]:
        """Call ``task(item)`` for every item, here."""
        sig = signature(task, app=app)
        return [sig.type(item) for item in it]

    def starmap_task(task: Mapping[str, object], it: Iterable[Iterable[object]]) -> list[object]:
        """Call ``task(*item)`` for every item, here."""
        sig = signature(task, app=app)
        return [sig.type(*item) for item in it]

    def chunks_task(task: Mapping[str, object], it: Iterable[object], n: int) -> ResultTuple:
        """Send the chunks as a group."""
        return chunks(signature(task, app=app), it, n, app=app).apply_async().as_tuple()

    plain = {"typing": False}
    return [
        WorkflowTask("celery.group", group_task, plain),
        WorkflowTask("celery.chain", chain_task, plain),
        WorkflowTask("celery.chord", chord_task, plain),
        WorkflowTask("celery.map", map_task, plain),
        WorkflowTask("celery.starmap", starmap_task, plain),
        WorkflowTask("celery.chunks", chunks_task, plain),
    ]
