"""OpenTelemetry traces for celeriac (extra ``celeriac[otel]``): a producer span per task sent
and a consumer span per task run, joined across processes, and across Celery and celeriac.

``instrument(app)`` adds a middleware that does what ``opentelemetry-instrumentation-celery``
does for Celery, the same way, so one trace crosses both:

* sending: a ``PRODUCER`` span ``apply_async/<task name>`` around the publish, whose
  context is injected into the task message's headers with the global propagator (W3C
  ``traceparent``/``tracestate`` by default) — the headers Celery's instrumentation reads;
* running: a ``CONSUMER`` span ``run/<task name>``, child of the context extracted from
  those headers, current while the body runs (spans the body makes, and tasks it sends,
  belong to it), ended with the task's state and, for a failure, the exception.

Attributes: Celery's instrumentation's (``celery.action``, ``celery.task_name``,
``celery.state``, ``messaging.message.id``) and the current messaging conventions'
(``messaging.system``, ``messaging.operation.type``/``.name``,
``messaging.destination.name``, ``messaging.message.conversation_id``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from celeriac import __version__
from celeriac.execution.outcome import Outcome, OutcomeKind
from celeriac.middleware.base import Middleware

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.execution.applike import TaskLike
    from celeriac.execution.request import Context
    from celeriac.protocol.message import Message

__all__ = ["OpenTelemetry", "instrument", "uninstrument"]

#: Outcomes recorded as errors on the consumer span.
_ERRORS = frozenset(
    {OutcomeKind.FAILURE, OutcomeKind.INTERNAL_ERROR, OutcomeKind.TIME_LIMIT, OutcomeKind.LOST}
)


class OpenTelemetry(Middleware):
    """The middleware :func:`instrument` adds (see the module)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("celeriac", __version__, tracer_provider)
        self._lock = threading.Lock()
        self._sending: dict[str, Span] = {}
        self._running: dict[str, tuple[Span, object]] = {}

    # -- sending ------------------------------------------------------------------------
    def before_publish(self, message: Message, queue: str) -> None:
        headers = message.headers
        task_id, name = headers.get("id"), headers.get("task")
        if not isinstance(task_id, str) or not isinstance(name, str):
            return
        span = self.tracer.start_span(
            f"apply_async/{name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "celery.action": "apply_async",
                "celery.task_name": name,
                "messaging.system": "celery",
                "messaging.operation.type": "send",
                "messaging.operation.name": "apply_async",
                "messaging.destination.name": queue,
                "messaging.message.id": task_id,
                "messaging.message.conversation_id": task_id,
            },
        )
        propagate.inject(headers, context=trace.set_span_in_context(span))
        with self._lock:
            self._sending[task_id] = span

    def after_publish(self, message: Message, queue: str) -> None:
        task_id = message.headers.get("id")
        with self._lock:
            span = self._sending.pop(str(task_id), None)
        if span is not None:
            span.end()

    # -- running ------------------------------------------------------------------------
    def before_call(self, task: TaskLike, request: Context) -> None:
        if request.id is None:
            return
        carrier = {k: v for k, v in request.headers.items() if isinstance(v, str)}
        parent = propagate.extract(carrier)
        info = request.delivery_info or {}
        span = self.tracer.start_span(
            f"run/{task.name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "celery.action": "run",
                "celery.task_name": task.name,
                "celery.hostname": str(request.hostname),
                "messaging.system": "celery",
                "messaging.operation.type": "process",
                "messaging.operation.name": "run",
                "messaging.destination.name": str(info.get("routing_key", "")),
                "messaging.message.id": request.id,
                "messaging.message.conversation_id": request.correlation_id or request.id,
            },
        )
        token = context_api.attach(trace.set_span_in_context(span, parent))
        with self._lock:
            self._running[request.id] = (span, token)

    def after_call(self, task: TaskLike, request: Context, outcome: Outcome) -> None:
        with self._lock:
            entry = self._running.pop(str(request.id), None)
        if entry is None:
            return
        span, token = entry
        self._end(span, outcome.state, outcome.exc if outcome.kind in _ERRORS else None)
        try:
            context_api.detach(token)  # type: ignore[arg-type]
        except Exception:  # a token from another context (cancelled async task): harmless
            pass

    def on_aborted(
        self, task: TaskLike, request: Context, exc: BaseException, traceback: str
    ) -> None:
        with self._lock:
            entry = self._running.pop(str(request.id), None)
        if entry is not None:
            self._end(entry[0], "FAILURE", exc)

    @staticmethod
    def _end(span: Span, state: str, exc: BaseException | None) -> None:
        span.set_attribute("celery.state", state)
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
        span.end()


def instrument(app: Celery, tracer_provider: Any = None) -> OpenTelemetry:
    """Trace ``app``'s task sends and runs (once; returns the middleware)."""
    for middleware in app.middleware:
        if isinstance(middleware, OpenTelemetry):
            return middleware
    otel = OpenTelemetry(tracer_provider)
    app.middleware.add(otel)
    return otel


def uninstrument(app: Celery) -> None:
    """Stop tracing ``app``."""
    app.middleware.remove(OpenTelemetry)
