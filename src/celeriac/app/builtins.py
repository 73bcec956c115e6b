"""Tasks every app has (Celery's ``celery.*`` names) and the shared_task registry hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac.app import context

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["register_builtins"]


def register_builtins(app: Celery) -> None:
    """Register the built-in tasks and every ``shared_task`` defined so far with ``app``."""

    def backend_cleanup() -> int:
        """Delete expired results (Celery's ``celery.backend_cleanup``)."""
        return app.backend.cleanup()

    app.task(name="celery.backend_cleanup", ignore_result=True, typing=False)(backend_cleanup)
    register_canvas_builtins(app)
    for task, _options in context.shared_task_factories:
        app.tasks.register(task)


def shared_task_register(task: Any, options: dict[str, Any]) -> None:
    """Remember a shared task for apps made later and register it with existing ones."""
    context.shared_task_factories.append((task, options))
    for app in context.registered_apps:
        app.tasks.register(task)


def register_canvas_builtins(app: Celery) -> None:
    """Celery's canvas tasks: ``celery.chord_unlock``, ``celery.group``, ``celery.chain``,
    ``celery.chord``, ``celery.map``, ``celery.starmap``, ``celery.chunks``,
    ``celery.accumulate`` (same names and arguments, so Celery's messages run here)."""
    from celeriac.canvas import maybe_signature
    from celeriac.canvas.chord import chord_error
    from celeriac.exceptions import ChordError
    from celeriac.results.result import GroupResult, result_from_tuple

    def accumulate(*args: Any, **kwargs: Any) -> Any:
        """Return the args (or the one at ``index``): the body ``Task.replace`` uses for groups."""
        index = kwargs.get("index")
        return args[index] if index is not None else args

    def unlock_chord(
        self: Any,
        group_id: str,
        callback: Any,
        interval: float | None = None,
        max_retries: int | None = None,
        result: Any = None,
        **kwargs: Any,
    ) -> None:
        """Poll a chord's header until it is ready, then send the body (Celery's fallback)."""
        if interval is None:
            interval = self.default_retry_delay
        kwargs.pop("_chord_unlock_exchange_type", None)
        deps = GroupResult(group_id, [result_from_tuple(r, app) for r in result or ()], app=app)
        body = maybe_signature(callback, app)
        assert body is not None
        if not deps.ready():
            raise self.retry(countdown=interval, max_retries=max_retries)
        try:
            values = deps.join(propagate=True, disable_sync_subtasks=False)
        except Exception as exc:
            culprit = next((r for r in deps.results if r.failed()), None)
            reason = f"Dependency {culprit.id} raised {exc!r}" if culprit else repr(exc)
            chord_error(app, body, ChordError(reason), None)
            return
        body.apply_async((values,), parent_id=self.request.id, root_id=self.request.root_id)

    app.task(name="celery.accumulate", typing=False)(accumulate)
    app.task(
        name="celery.chord_unlock",
        bind=True,
        max_retries=None,
        ignore_result=True,
        default_retry_delay=app.conf.get("result_chord_retry_interval", 1.0),
        typing=False,
    )(unlock_chord)
    _register_workflow_tasks(app)


def _register_workflow_tasks(app: Celery) -> None:
    """``celery.group/chain/chord/map/starmap/chunks``: canvas signatures sent as messages."""
    from celeriac.canvas import chord, chunks, group, signature

    def group_task(
        tasks: Any,
        result: Any = None,
        group_id: str | None = None,
        partial_args: Any = None,
        add_to_parent: bool = True,
    ) -> Any:
        """Send a group that arrived as a task message."""
        sig = group(list(tasks), app=app)
        if group_id:
            sig["options"]["task_id"] = group_id
        return sig.apply_async(partial_args or ()).as_tuple()

    def chain_task(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("chain is not a real task")

    def chord_task(
        header: Any,
        body: Any,
        partial_args: Any = (),
        interval: float | None = None,
        countdown: float = 1,
        max_retries: int | None = None,
        eager: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send a chord that arrived as a task message."""
        result = chord(header, body, app=app).apply_async(partial_args or ())
        return result.as_tuple() if hasattr(result, "as_tuple") else None

    def map_task(task: Any, it: Any) -> list[Any]:
        """Call ``task(item)`` for every item, here."""
        sig = signature(task, app=app)
        return [sig.type(item) for item in it]

    def starmap_task(task: Any, it: Any) -> list[Any]:
        """Call ``task(*item)`` for every item, here."""
        sig = signature(task, app=app)
        return [sig.type(*item) for item in it]

    def chunks_task(task: Any, it: Any, n: int) -> Any:
        """Send the chunks as a group."""
        return chunks(signature(task, app=app), it, n, app=app).apply_async().as_tuple()

    options: dict[str, Any] = {"typing": False}
    app.task(name="celery.group", **options)(group_task)
    app.task(name="celery.chain", **options)(chain_task)
    app.task(name="celery.chord", **options)(chord_task)
    app.task(name="celery.map", **options)(map_task)
    app.task(name="celery.starmap", **options)(starmap_task)
    app.task(name="celery.chunks", **options)(chunks_task)
